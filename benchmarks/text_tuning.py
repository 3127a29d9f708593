"""How the GPT's cpu preset was chosen: candidate recipes against nanoGPT's CPU recipe's val losses.

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/text_tuning.py --outside-corpus botchan.txt

Each candidate trains in this process (no start-up, no periodic evaluation) on the bundled corpus and on each
``--outside-corpus``, over both seeds of ``benchmarks/text.py``'s race; its whole val split is then scored and
compared with the recipe's val NLL on the same corpus and seed, read from that race (``results/text.json``,
part ``shakespeare``: run it first). A positive margin means the candidate reached a lower loss. Training seconds
are the steps alone; the race itself times whole processes. Results go to ``benchmarks/results/text_tuning.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from genlearn.text import GPT_PRESETS, GPTTrainer

from text import BUNDLED_CORPUS, RESULTS, SEEDS, cpu, timed_fit

TUNING_RESULTS = RESULTS.parent / "text_tuning.json"
PREVIOUS_PRESET = {"num_layers": 2, "learning_rate": 3e-3}  # the cpu preset until this tuning
CANDIDATES = {
    "two layers, 3e-3, 1200 steps (the previous preset)": PREVIOUS_PRESET,
    "two layers, 3e-3, 1000 steps": {**PREVIOUS_PRESET, "num_steps": 1000},
    "one layer, 4e-3, 1200 steps": {"num_layers": 1, "learning_rate": 4e-3},
    "one layer, 5e-3, 1200 steps (the preset)": {"num_layers": 1, "learning_rate": 5e-3},
    "one layer, 6e-3, 1200 steps": {"num_layers": 1, "learning_rate": 6e-3},
    "one layer, 5e-3, batch 24, 800 steps": {
        "num_layers": 1, "learning_rate": 5e-3, "batch_size": 24, "num_steps": 800,
    },
}


def recipe_losses(corpora: dict[str, Path]) -> dict[tuple[str, int], float]:
    """The recipe's val NLL per (corpus, seed), from the race in text.json."""
    race = json.loads(RESULTS.read_text())["shakespeare_cpu"]["corpora"]
    missing = [name for name in corpora if name not in race]
    if missing:
        raise SystemExit(
            f"no race on {', '.join(missing)} in {RESULTS}: run benchmarks/text.py shakespeare with it first"
        )
    return {(name, run["seed"]): run["baseline"]["val_nll"] for name in corpora for run in race[name]["runs"]}


def main(corpora: dict[str, Path]) -> None:
    device = cpu()
    recipe = recipe_losses(corpora)
    rows = {}
    for label, changes in CANDIDATES.items():
        config = dataclasses.replace(GPT_PRESETS["cpu"], eval_every=0, **changes)
        runs = []
        for name, path in corpora.items():
            for seed in SEEDS:
                trainer = GPTTrainer.on_data(dataclasses.replace(config, seed=seed), device, path=path)
                seconds = timed_fit(trainer)
                val = trainer.evaluate_split("val")["nll"]
                runs.append({"corpus": name, "seed": seed, "train_seconds": round(seconds, 2), "val_nll": val,
                             "margin": recipe[(name, seed)] - val})
        rows[label] = {"changes": changes, "runs": runs, "min_margin": min(run["margin"] for run in runs),
                       "mean_train_seconds": sum(run["train_seconds"] for run in runs) / len(runs)}
        print(f"| {label} | {rows[label]['mean_train_seconds']:.1f} s | margins "
              + " ".join(f"{run['margin']:+.4f}" for run in runs) + " |", flush=True)
    TUNING_RESULTS.write_text(json.dumps({
        "measures": "val NLL margin over nanoGPT's CPU recipe (its race losses in text.json), same corpus and seed; "
        "training seconds of the steps alone, in one process",
        "base": dataclasses.asdict(GPT_PRESETS["cpu"]),
        "command": " ".join(["benchmarks/text_tuning.py", *sys.argv[1:]]),
        "candidates": rows,
    }, indent=2) + "\n")
    print(f"wrote {TUNING_RESULTS}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outside-corpus", type=Path, action="append", default=[], metavar="FILE",
                        help="another UTF-8 English text, as in benchmarks/text.py")
    args = parser.parse_args()
    main({"bundled Shakespeare": BUNDLED_CORPUS, **{path.stem: path.resolve() for path in args.outside_corpus}})
