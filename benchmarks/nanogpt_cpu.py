"""nanoGPT's CPU recipe as one whole training process: the baseline that ``benchmarks/text.py`` times against
``genlearn train gpt --preset cpu``, start-up included on both sides.

    python benchmarks/nanogpt_cpu.py --data FILE --seed 0 --out DIR

The recipe is nanoGPT's README command for a CPU ("I only have a MacBook"): 4 layers, 4 heads, 128 wide, context
64, batch 12, 2,000 iterations, learning rate 1e-3 decayed to 1e-4 after 100 warm-up steps, no dropout, trained
with genlearn's GPT on the same character tokenizer and split as ours (``NANOGPT_CPU_BASELINE``). It runs
without periodic evaluations (nanoGPT estimates the loss on 20 batches every 250 steps: leaving them out only
makes the baseline faster), and saves ``DIR/checkpoint.pt``, which ``genlearn eval gpt --out DIR`` scores.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from genlearn.device import configure_threads
from genlearn.run import Run
from genlearn.text import GPTTrainer, GPTTrainingConfig

NANOGPT_CPU_BASELINE = GPTTrainingConfig(
    dataset="text", context_length=64, num_layers=4, num_heads=4, embedding_dim=128, dropout=0.0, bias=False,
    num_steps=2000, batch_size=12, learning_rate=1e-3, min_learning_rate=1e-4, warmup_steps=100,
    weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0, eval_every=0,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a UTF-8 text file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="run folder for checkpoint.pt")
    args = parser.parse_args()
    configure_threads()  # as `genlearn train` does: the same thread policy on both sides
    config = dataclasses.replace(NANOGPT_CPU_BASELINE, seed=args.seed)
    trainer = GPTTrainer.on_data(config, "cpu", path=args.data)
    Run(trainer, args.out, data_label=str(args.data.resolve()), progress=False, log_every=0).fit()


if __name__ == "__main__":
    main()
