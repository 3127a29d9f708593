"""Train every model the notebooks can load pretrained, at full length, and export the shipped weights.

    .venv/bin/python benchmarks/pretrain.py                         # every model, its cpu preset (minutes on a GPU)
    .venv/bin/python benchmarks/pretrain.py --models gan vae        # some of them
    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/pretrain.py   # on a CPU: hours; hold the lock

Each model of the registry (``genlearn.models.MODELS``) trains through ``genlearn.run.Run``, with its
checkpoints in ``runs/pretrain/<name>-<preset>``, so an interrupted run (Ctrl-C saves) continues where it
stopped when the command is run again; then its weights go to ``data/pretrained/<name>.pt`` through
``genlearn.pretrained.export_pretrained``, which records the file's sha256 in ``data/pretrained/manifest.json``
(``load_pretrained`` refuses weights that differ from it): commit the two together. ``--models vae_sweep``
trains notebook 05's short runs (``genlearn.vae.sweep``) into ``data/pretrained/vae_sweep/``. The shipped
files come from the ``cpu`` preset, which keeps them a few MB each (30 MB at most together; the small VAEs
are stored in float16); the ``gpu`` preset gives bigger, better models for a course's own use. The track
benchmarks (``benchmarks/gan.py``, ``vae.py``, ``text.py``) export the same files at the end of their measured runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from genlearn.data.files import data_dir  # noqa: E402
from genlearn.device import describe_device, pick_device  # noqa: E402
from genlearn.models import MODELS  # noqa: E402
from genlearn.pretrained import export_pretrained  # noqa: E402
from genlearn.run import Run  # noqa: E402
from genlearn.vae import SWEEP_PRESETS, VAETrainer  # noqa: E402
from genlearn.vae.sweep import SWEEP_NAME, SWEEP_RUNS, shipped_name, sweep_config  # noqa: E402

SHIPPED_LIMIT_MB = 30


def trainings(names: list[str], preset: str, device) -> Iterator[tuple[str, object, str]]:
    """(shipped name, fresh trainer, storage dtype) for each requested model, built as needed; ``vae_sweep`` is its runs."""
    for name in names:
        if name == SWEEP_NAME:
            for run in SWEEP_RUNS:
                yield shipped_name(run), VAETrainer(sweep_config(run, SWEEP_PRESETS[preset]), device), "float16"
        else:
            entry = MODELS[name]
            yield name, entry.trainer_class()(entry.load_presets()[preset], device), entry.shipped_dtype


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    choices = [*MODELS, SWEEP_NAME]
    parser.add_argument("--models", nargs="+", choices=choices, default=choices, help="default: all")
    parser.add_argument("--preset", choices=("smoke", "cpu", "gpu"), default="cpu", help="default: cpu, the shipped size")
    parser.add_argument("--device", help="default: the best one present")
    parser.add_argument(
        "--runs", type=Path, default=ROOT / "runs" / "pretrain", help="checkpoint folders (default: runs/pretrain)"
    )
    args = parser.parse_args(argv)
    device = pick_device(args.device)

    exported = {}
    for name, trainer, dtype in trainings(args.models, args.preset, device):
        out = args.runs / f"{name.replace('/', '-')}-{args.preset}"
        log_every = max(1, trainer.config.num_steps // 20)
        run = Run(trainer, out, resume="auto", preset=args.preset, log_every=log_every, description=name)
        print(f"\n=== {name}: preset {args.preset}, {describe_device(device)}, from step {trainer.step}; run folder {out}",
              flush=True)
        result = run.fit()
        if result.signal_number:
            print(f"{name}: stopped by {result.stopped_by} at step {trainer.step}; run this script again to continue.",
                  file=sys.stderr)
            return 128 + result.signal_number
        path = export_pretrained(trainer, name, dtype=getattr(torch, dtype))
        exported[name] = path
        print(f"{name}: step {trainer.step}, {result.seconds:.0f} s; exported {path} ({dtype}) and its sha256", flush=True)

    print("\n| weights | size |\n|---|---:|")
    for name, path in exported.items():
        print(f"| {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} | {path.stat().st_size / 2**20:.2f} MB |")
    total = sum(path.stat().st_size for path in (data_dir() / "pretrained").rglob("*.pt")) / 2**20
    print(f"every shipped file together: {total:.2f} MB")
    if total > SHIPPED_LIMIT_MB:
        print(
            f"warning: {total:.1f} MB is over the {SHIPPED_LIMIT_MB} MB the repository ships; use the cpu preset.",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
