"""Train every model the notebooks can load pretrained, at full length, and export the shipped weights.

    .venv/bin/python benchmarks/pretrain.py                         # every model, its cpu preset (minutes on a GPU)
    .venv/bin/python benchmarks/pretrain.py --models gan vae        # some of them
    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/pretrain.py   # on a CPU: hours; hold the lock

Each model trains through ``genlearn train`` (checkpoints in ``runs/pretrain/<name>``, so an interrupted
run continues where it stopped when the command is run again), then its weights go to
``data/pretrained/<name>.pt`` through ``genlearn.pretrained.export_pretrained``. The shipped files come
from the ``cpu`` preset, which keeps them a few MB each (20 MB at most together); the ``gpu`` preset
gives bigger, better models for a course's own use. The track benchmarks (``benchmarks/gan.py``,
``vae.py``, ``text.py``) export the same files at the end of their measured runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genlearn import cli  # noqa: E402
from genlearn.models import MODELS, ModelSpec  # noqa: E402

SHIPPED_LIMIT_MB = 20
# The notebooks' pretrained models are the command's five; benchmarks/text.py also ships a GPT trained on names.
EXTRA = {
    "gpt_names": ModelSpec(
        "gpt_names",
        "genlearn.text.training:GPTTrainer",
        "genlearn.text.training:PRESETS",
        "gpt_names",
        "names",
        "tokens",
        "GPT on names",
    ),
}
NAMES = (*MODELS, *EXTRA)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=NAMES, default=list(NAMES), help="default: all")
    parser.add_argument("--preset", choices=("smoke", "cpu", "gpu"), default="cpu", help="default: cpu, the shipped size")
    parser.add_argument("--device", help="default: the best one present")
    parser.add_argument(
        "--runs", type=Path, default=ROOT / "runs" / "pretrain", help="checkpoint folders (default: runs/pretrain)"
    )
    args = parser.parse_args(argv)
    MODELS.update(EXTRA)  # so that ``genlearn train`` in this process knows them too

    from genlearn.pretrained import export_pretrained

    exported = {}
    for name in args.models:
        out = args.runs / f"{name}-{args.preset}"
        command = ["train", name, "--preset", args.preset, "--out", str(out)]
        if args.device:
            command += ["--device", args.device]
        if (out / cli.CHECKPOINT_NAME).is_file():
            command.append("--resume")  # finish an earlier, interrupted run
        print(f"\n=== {name}: genlearn {' '.join(command)}", flush=True)
        started = time.perf_counter()
        status = cli.main(command)
        if status != 0:
            print(f"{name}: training stopped with status {status}; run this script again to continue.", file=sys.stderr)
            return status
        source = argparse.Namespace(
            model=name, device=args.device, pretrained=False, checkpoint=out / cli.CHECKPOINT_NAME, out=None
        )
        trainer, _ = cli.load_trained(source)
        path = export_pretrained(trainer, name)
        exported[name] = path
        print(f"{name}: step {trainer.step}, {time.perf_counter() - started:.0f} s; exported {path}", flush=True)

    print("\n| weights | size |\n|---|---:|")
    total = 0.0
    for name, path in exported.items():
        size = path.stat().st_size / 2**20
        total += size
        print(f"| {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} | {size:.2f} MB |")
    print(f"| total | {total:.2f} MB |")
    if total > SHIPPED_LIMIT_MB:
        print(
            f"warning: {total:.1f} MB is over the {SHIPPED_LIMIT_MB} MB the repository ships; use the cpu preset.",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
