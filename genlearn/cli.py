"""The ``genlearn`` command line: train, sample and evaluate every model of the course, on CPU or GPU.

    genlearn train gpt --preset gpu --out runs/gpt          # Ctrl-C saves; add --resume to continue
    torchrun --nproc_per_node=4 -m genlearn train gan       # one process per GPU (DDP)
    genlearn sample gan --out runs/gan                      # writes runs/gan/samples.png
    genlearn eval vae --pretrained                          # one JSON line of metrics

It reads the registry (``genlearn.models``), asks each model's trainer what it needs, and hands the
training to ``genlearn.run.Run``; it decides nothing per model family.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from genlearn import distributed
from genlearn.budget import PRESET_NAMES, active_preset
from genlearn.checkpoint import CheckpointError
from genlearn.data import DataFileError
from genlearn.device import DeviceUnavailableError, configure_threads, describe_device, pick_device
from genlearn.distributed import DistributedSetupError
from genlearn.models import MODELS, ModelEntry, get_model
from genlearn.precision import PRECISION_MODES, Precision
from genlearn.pretrained import load_pretrained
from genlearn.run import CHECKPOINT_NAME, Run, RunError
from genlearn.training import DataError


# Bounds on numbers: past them a command would run out of memory or run for hours with nothing to show.
MAX_SEED = 2**32 - 1  # the widest range every generator behind --seed takes (NumPy's)
MAX_NUM_SAMPLES = 1_000
MAX_LENGTH = 10_000


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 1, nothing written."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (
        UsageError, RunError, CheckpointError, DataError, DataFileError, DeviceUnavailableError, DistributedSetupError
    ) as error:
        print(f"genlearn {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"genlearn {args.command}: interrupted; checkpoints written before (if any) are intact.", file=sys.stderr
        )
        return 130
    except BrokenPipeError:
        # The reader closed early (`genlearn sample ... | head -1`): stop quietly, as a tool killed by SIGPIPE does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush fails silently too
        return 141


def build_parser() -> argparse.ArgumentParser:
    models = ", ".join(f"{entry.name} ({entry.summary})" for entry in MODELS.values())
    parser = argparse.ArgumentParser(
        prog="genlearn",
        description=f"Train, sample and evaluate the models of the genlearn course: {models}.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,sample,eval}")

    def add_common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("model", choices=list(MODELS), help="which model")
        sub.add_argument("--out", type=Path, help="run folder holding checkpoint.pt (default: runs/MODEL)")
        sub.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the best one present)")

    train = commands.add_parser("train", help="train a model, with checkpoints and exact resume")
    add_common(train)
    kinds = sorted({entry.data for entry in MODELS.values()})
    train.add_argument("--data", type=Path, help="training data (default: the bundled data): " + "; or ".join(kinds))
    train.add_argument("--preset", choices=PRESET_NAMES, help="run size (default: gpu on CUDA, else cpu)")
    train.add_argument(
        "--max-steps", type=int, help="stop after this many steps (the schedule keeps the preset's length)"
    )
    train.add_argument("--seed", type=int, help="override the preset's seed")
    train.add_argument("--resume", action="store_true", help="continue exactly from OUT/checkpoint.pt")
    train.add_argument(
        "--precision", choices=PRECISION_MODES, default="auto", help="default: bf16/fp16 on CUDA, fp32 elsewhere"
    )
    train.add_argument("--compile", action="store_true", help="torch.compile the networks (pays off on GPUs)")
    train.add_argument("--log-every", type=int, help="steps between loss logs (default: 1/20 of the run)")
    train.add_argument("--save-every", type=int, help="steps between checkpoints (default: 1/10 of the run)")
    train.set_defaults(run=train_command)

    for name, text in (
        ("sample", "write samples: an image grid (PNG) or text"),
        ("eval", "print metrics as one JSON line"),
    ):
        sub = commands.add_parser(name, help=text)
        add_common(sub)
        source = sub.add_mutually_exclusive_group()
        source.add_argument("--checkpoint", type=Path, help="checkpoint file (default: OUT/checkpoint.pt)")
        source.add_argument("--pretrained", action="store_true", help="use the weights shipped in data/pretrained/")
        if name == "sample":
            sub.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
            sub.add_argument("--num-samples", type=int, help="images or texts to draw (default: the model's)")
            sub.add_argument("--length", type=int, help="models that write sequences: tokens to generate per sample")
            sub.add_argument("--prompt", help="models that write text: the text every sample starts with")
            sub.add_argument("--output", type=Path, help="file to write (default: OUT/samples.png or OUT/samples.txt)")
            sub.set_defaults(run=sample_command)
        else:
            sub.set_defaults(run=eval_command)
    return parser


def require_between(args: argparse.Namespace, option: str, low: int, high: int | None = None) -> None:
    value = getattr(args, option)
    if value is not None and not (low <= value and (high is None or value <= high)):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise UsageError(f"--{option.replace('_', '-')} must be {bounds}, got {value}.")


def run_folder(args: argparse.Namespace, entry: ModelEntry) -> Path:
    return args.out if args.out is not None else Path("runs") / entry.name


# --- train -------------------------------------------------------------------------------------------------------


def train_command(args: argparse.Namespace) -> int:
    for option in ("max_steps", "log_every", "save_every"):
        require_between(args, option, 1)
    require_between(args, "seed", 0, MAX_SEED)
    entry = get_model(args.model)
    device = pick_device(args.device)
    try:
        preset = args.preset or active_preset(device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    config = entry.load_presets()[preset]
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    try:
        Precision(device, args.precision)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if args.data is not None and not args.data.exists():
        raise UsageError(f"--data {args.data} does not exist; give {entry.data}, or leave out --data for the bundled data.")

    context, device = distributed.setup(device)
    if device.type == "cpu":
        configure_threads()  # the cores that are free now: beside a busy process, more threads would spin-wait
    trainer = None
    try:
        trainer = entry.trainer_class().on_data(config, device, args.precision, args.data)
        log_every = args.log_every or max(1, config.num_steps // 20)
        run = Run(
            trainer,
            run_folder(args, entry),
            num_steps=min(args.max_steps or config.num_steps, config.num_steps),
            resume=args.resume,
            data_label=str(args.data.resolve()) if args.data is not None else "bundled",
            preset=preset,
            log_every=log_every,
            save_every=args.save_every or 2 * log_every,
            description=entry.name,
            context=context,
        )
        if args.compile:
            trainer.wrap_modules(torch.compile)
        if trainer.step >= run.num_steps:
            run.close()
            run.say(f"{entry.name} is already trained to step {trainer.step} of {run.num_steps}; nothing to do.")
            return 0
        run.say(
            f"{entry.name}: preset {preset}, {describe_device(device)}, precision {trainer.precision.mode}"
            + (f", {context.world_size} processes (DDP)" if context.enabled else "")
            + f"; steps {trainer.step} -> {run.num_steps} of {config.num_steps}; run folder {run.out}"
        )
        result = run.fit()
        if result.signal_number:
            run.say(
                f"stopped by {result.stopped_by} after step {trainer.step}; saved {run.checkpoint_path}. "
                "Continue with the same command plus --resume.",
                file=sys.stderr,
            )
            return 128 + result.signal_number
        run.say(
            f"trained {result.steps} steps in {result.seconds:.1f} s ({result.steps / result.seconds:.2f} steps/s); "
            f"saved {run.checkpoint_path}"
        )
        return 0
    finally:
        distributed.teardown(context, trainer)


# --- sample and eval ---------------------------------------------------------------------------------------------


def load_trained(args: argparse.Namespace):
    """The trainer behind ``--pretrained``, ``--checkpoint`` or OUT/checkpoint.pt, and where it came from."""
    entry = get_model(args.model)
    device = pick_device(args.device)
    trainer_class = entry.trainer_class()
    if args.pretrained:
        return load_pretrained(trainer_class, device, entry.name), "pretrained"
    path = args.checkpoint or run_folder(args, entry) / CHECKPOINT_NAME
    return trainer_class.from_checkpoint(path, device), str(path)


def sample_command(args: argparse.Namespace) -> int:
    require_between(args, "seed", 0, MAX_SEED)
    require_between(args, "num_samples", 1, MAX_NUM_SAMPLES)
    require_between(args, "length", 1, MAX_LENGTH)
    entry = get_model(args.model)
    trainer, source = load_trained(args)
    output = sample_output(args, entry, trainer.samples_file)
    num_samples = args.num_samples or trainer.default_num_samples
    try:
        samples = trainer.sample(num_samples, seed=args.seed, length=args.length, prompt=args.prompt)
    except ValueError as error:
        raise UsageError(f"{entry.name}: {error}") from None
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        text = trainer.save_samples(samples, output)
    except OSError as error:
        where = f": {error.filename}" if error.filename else ""
        raise UsageError(f"cannot write {output} ({error.strerror or error}{where}); choose another --output.") from None
    if text is not None:
        print(text, flush=True)  # flushed here, so a closed pipe is noticed while main() can still end quietly
    print(f"wrote {num_samples} samples from {source} (step {trainer.step}) to {output}", file=sys.stderr)
    return 0


def sample_output(args: argparse.Namespace, entry: ModelEntry, samples_file: str) -> Path:
    """Where samples go: a new file, or a previous samples file (never a checkpoint or another file), in the
    family's format (the suffix of ``samples_file``)."""
    output = args.output or run_folder(args, entry) / samples_file
    suffix = Path(samples_file).suffix
    if output.is_dir():
        raise UsageError(f"--output {output} is a folder; name a file in it, such as {output / samples_file}.")
    if output.suffix != suffix:
        raise UsageError(f"--output {output} must end in {suffix}: {entry.name} writes its samples as {suffix}.")
    if output.is_symlink() or (output.exists() and output.name != samples_file):
        raise UsageError(
            f"--output {output} already exists and is not a samples file ({samples_file}); "
            "name a new file, or delete it first (nothing was overwritten)."
        )
    return output


def eval_command(args: argparse.Namespace) -> int:
    # Only the JSON line goes to stdout; dataset and progress messages go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        trainer, source = load_trained(args)
        started = time.perf_counter()
        metrics = trainer.evaluate()
        elapsed = time.perf_counter() - started
    record = {"model": args.model, "step": trainer.step, "source": source}
    record.update({name: _plain(value) for name, value in metrics.items()})
    record["eval_seconds"] = round(elapsed, 2)
    print(json.dumps(record, allow_nan=False), flush=True)
    return 0


def _plain(value):
    """JSON-safe numbers and lists from tensors and numpy values; NaN and inf, which JSON lacks, become null.

    (Weights are checked finite when loaded; an infinite metric means a ratio over an empty count, say.)
    """
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


if __name__ == "__main__":
    sys.exit(main())
