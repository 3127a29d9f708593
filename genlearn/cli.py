"""The ``genlearn`` command line: train, sample and evaluate every model of the course, on CPU or GPU.

    genlearn train gpt --preset gpu --out runs/gpt          # Ctrl-C saves; add --resume to continue
    torchrun --nproc_per_node=4 -m genlearn train gan       # one process per GPU (DDP)
    genlearn sample gan --out runs/gan                      # writes runs/gan/samples.png
    genlearn eval vae --pretrained                          # one JSON line of metrics

It wraps the model families' ``Trainer`` classes (``genlearn.models``); it has no model code of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import math
import signal
import sys
import time
from pathlib import Path

from genlearn.budget import PRESET_NAMES
from genlearn.models import DATA_KINDS, MODELS, ModelSpec, get_model
from genlearn.precision import PRECISION_MODES

CHECKPOINT_NAME = "checkpoint.pt"
# Under torchrun, ranks agree every this many steps on whether one of them was asked to stop.
STOP_CHECK_EVERY = 10


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 1, nothing written."""


class _StopTraining(Exception):
    """Raised between two steps after SIGINT/SIGTERM, so the checkpoint holds a whole step."""


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from genlearn.checkpoint import CheckpointError
    from genlearn.data import DataFileError
    from genlearn.device import DeviceUnavailableError
    from genlearn.distributed import DistributedSetupError

    try:
        return args.run(args)
    except (UsageError, CheckpointError, DataFileError, DeviceUnavailableError, DistributedSetupError) as error:
        print(f"genlearn {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            f"genlearn {args.command}: interrupted; checkpoints written before (if any) are intact.", file=sys.stderr
        )
        return 130


def build_parser() -> argparse.ArgumentParser:
    models = ", ".join(f"{spec.name} ({spec.summary})" for spec in MODELS.values())
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
    train.add_argument(
        "--data",
        type=Path,
        help="training data (default: the bundled data): "
        + "; ".join(f"{kind}: {text}" for kind, text in DATA_KINDS.items()),
    )
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
        sub.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
        if name == "sample":
            sub.add_argument(
                "--num-samples", type=int, help="images or texts to draw (default: 64 images, 10 names, 2 passages)"
            )
            sub.add_argument("--length", type=int, help="text models: characters to generate per sample")
            sub.add_argument("--output", type=Path, help="file to write (default: OUT/samples.png or OUT/samples.txt)")
            sub.set_defaults(run=sample_command)
        else:
            sub.set_defaults(run=eval_command)
    return parser


# --- train -------------------------------------------------------------------------------------------------------


def train_command(args: argparse.Namespace) -> int:
    import torch

    from genlearn import distributed
    from genlearn.budget import active_preset
    from genlearn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from genlearn.device import describe_device, pick_device
    from genlearn.precision import Precision
    from genlearn.seeding import seed_everything
    from genlearn.training import train_loop

    spec = get_model(args.model)
    for option in ("max_steps", "log_every", "save_every"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise UsageError(f"--{option.replace('_', '-')} must be at least 1, got {value}.")
    device = pick_device(args.device)
    preset = args.preset or active_preset(device)
    config = spec.presets()[preset]
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    try:
        Precision(device, args.precision)
    except ValueError as error:
        raise UsageError(str(error)) from None
    out = args.out if args.out is not None else Path("runs") / spec.name
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the run's checkpoint and logs.")
    checkpoint_path = out / CHECKPOINT_NAME
    data_label = str(args.data.resolve()) if args.data is not None else "bundled"

    # Everything the user could have got wrong is checked before anything is written.
    checkpoint = None
    if args.resume:
        if not checkpoint_path.is_file():
            raise UsageError(f"--resume: there is no checkpoint at {checkpoint_path}; train without --resume first.")
        checkpoint = load_checkpoint(checkpoint_path, expected_model=spec.name, expected_config=config, map_location="cpu")
        trained_on = checkpoint.extra.get("data", "bundled")
        if trained_on != data_label:
            raise CheckpointError(
                f"{checkpoint_path} was trained on data {trained_on!r}, not {data_label!r}; "
                "resume with the same --data, or start a new run in another --out."
            )
    elif checkpoint_path.exists():
        raise UsageError(
            f"{checkpoint_path} already exists; pass --resume to continue that run, "
            "or choose another --out (nothing was overwritten)."
        )
    data = load_data(spec, args.data)

    context, device = distributed.setup(device)
    trainer = None
    try:
        seed_everything(config.seed)
        trainer = build_trainer(spec, config, device, args.precision, data, args.data)
        if device.type == "cuda":
            use_channels_last(trainer)
        if checkpoint is not None:
            trainer.load_state_dict(checkpoint.state)
        if context.enabled:
            distributed.wrap_trainer(trainer, context)
        if args.compile:
            trainer.wrap_modules(torch.compile)

        target = config.num_steps if args.max_steps is None else min(args.max_steps, config.num_steps)
        say = print if context.is_main else (lambda *a, **k: None)
        if trainer.step >= target:
            say(f"{spec.name} is already trained to step {trainer.step} of {target}; nothing to do.")
            return 0
        say(
            f"{spec.name}: preset {preset}, {describe_device(device)}, precision {trainer.precision.mode}"
            + (f", {context.world_size} processes (DDP)" if context.enabled else "")
            + f"; steps {trainer.step} -> {target} of {config.num_steps}; run folder {out}"
        )
        log_every = args.log_every or max(1, config.num_steps // 20)
        save_every = args.save_every or log_every * 2
        # Models that score a held-out split during training say how often in their config.
        eval_every = getattr(config, "eval_every", 0)
        logger = LossLogger(out, target, trainer.history, enabled=context.is_main)

        def save() -> None:
            if context.is_main:
                save_checkpoint(
                    checkpoint_path,
                    model=spec.name,
                    config=config,
                    state=trainer.state_dict(),
                    step=trainer.step,
                    extra={"preset": preset, "data": data_label},
                )

        stop = StopRequest()

        def step_fn(step: int):
            if context.enabled:
                if step % STOP_CHECK_EVERY == 0 and distributed.any_rank(stop.requested, context, device):
                    raise _StopTraining
            elif stop.requested:
                raise _StopTraining
            terms = distributed.average_terms(trainer.training_step(step), context, device)
            trainer.step = step + 1
            return terms

        def callback(done: int, history) -> None:
            if done % log_every == 0 or done == target:
                logger.log(done, history)
            if eval_every and done % eval_every == 0 and context.is_main:
                logger.log_metrics(done, trainer.metrics_recorded_at(done) or trainer.evaluate())
            if done % save_every == 0 and done < target:
                save()

        started, first_step = time.perf_counter(), trainer.step
        with stop:
            try:
                train_loop(
                    step_fn,
                    target,
                    start_step=trainer.step,
                    history=trainer.history,
                    progress=context.is_main,
                    description=spec.name,
                    # The trainer's own callbacks (a val curve) first, so a checkpoint includes their records.
                    callbacks=[*trainer.periodic_callbacks(), (math.gcd(log_every, save_every, eval_every), callback)],
                )
            except _StopTraining:
                save()
                logger.close()
                say(
                    f"stopped by {stop.signal_name} after step {trainer.step}; saved {checkpoint_path}. "
                    "Continue with the same command plus --resume.",
                    file=sys.stderr,
                )
                return 128 + stop.signal_number
        save()
        logger.close()
        elapsed = time.perf_counter() - started
        steps_done = trainer.step - first_step
        say(
            f"trained {steps_done} steps in {elapsed:.1f} s ({steps_done / elapsed:.2f} steps/s); "
            f"saved {checkpoint_path}"
        )
        return 0
    finally:
        distributed.teardown(context, trainer)


def load_data(spec: ModelSpec, path: Path | None):
    """The ``data`` argument of the model's trainer: None for the bundled data, else what ``path`` holds.

    MNIST models get the split(s) they train and score on from the MNIST under ``path``; text models the file's text.
    """
    if path is None:
        return None
    if not path.exists():
        raise UsageError(
            f"--data {path} does not exist; give {DATA_KINDS[spec.data]}, or leave out --data for the bundled data."
        )
    if spec.data == "mnist":
        from genlearn.data.mnist import RAW_FILES, has_full_mnist, load_mnist

        if not has_full_mnist(path):
            raise UsageError(
                f"--data {path} holds no MNIST: expected {path / 'MNIST' / 'raw'} with {', '.join(RAW_FILES)}."
            )
        splits = tuple(load_mnist(split, root=path, verbose=False) for split in spec.mnist_splits)
        return splits[0] if len(splits) == 1 else splits
    from genlearn.data import load_text_file

    return load_text_file(path)


def build_trainer(spec: ModelSpec, config, device, precision: str, data, data_path: Path | None):
    try:
        return spec.trainer_class()(config, device, precision=precision, data=data)
    except ValueError as error:
        if data_path is None:
            raise
        # The trainers reject data they cannot learn from (too few names, characters they reserve...).
        raise UsageError(f"--data {data_path} cannot train {spec.name}: {error}") from None


def use_channels_last(trainer) -> None:
    """NHWC weights for convolutional networks: faster convolutions on tensor cores."""
    import torch

    convolutions = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    for module in trainer.modules.values():
        if any(isinstance(layer, convolutions) for layer in module.modules()):
            module.to(memory_format=torch.channels_last)


class StopRequest:
    """Within ``with``: the first SIGINT (Ctrl-C) or SIGTERM asks the loop to stop after the current step.

    A second Ctrl-C stops at once, without saving (the last periodic checkpoint stays valid).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.signal_number = 0
        self._previous = {}

    @property
    def requested(self) -> bool:
        return self.signal_number != 0

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signal_number).name if self.signal_number else ""

    def _handle(self, number, frame) -> None:
        if self.requested and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_number = self.signal_number or number
        name = signal.Signals(number).name
        print(f"\n{name}: saving after this step (Ctrl-C again to quit without saving)", file=sys.stderr)

    def __enter__(self) -> StopRequest:
        for number in self.SIGNALS:
            with contextlib.suppress(ValueError):  # not the main thread: leave signals alone
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)


class LossLogger:
    """Periodic loss lines (above the progress bar) and TensorBoard scalars when tensorboard is installed."""

    def __init__(self, out: Path, target: int, history, enabled: bool):
        self.target = target
        self.enabled = enabled
        self.logged = len(history.steps)
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            print(
                "TensorBoard logging is off: the optional `tensorboard` package is not installed "
                "(pip install tensorboard)."
            )
        else:
            self.writer = SummaryWriter(log_dir=str(out / "tensorboard"))

    def log(self, done: int, history) -> None:
        if not self.enabled or len(history.steps) <= self.logged:
            return
        from tqdm.auto import tqdm

        new = slice(self.logged, len(history.steps))
        means = {name: sum(values[new]) / len(values[new]) for name, values in history.values.items()}
        tqdm.write(f"step {done}/{self.target}  " + "  ".join(f"{name} {value:.4f}" for name, value in means.items()))
        if self.writer is not None:
            for name, values in history.values.items():
                for step, value in zip(history.steps[new], values[new]):
                    self.writer.add_scalar(f"train/{name}", value, step + 1)
            self.writer.flush()
        self.logged = len(history.steps)

    def log_metrics(self, done: int, metrics: dict) -> None:
        from tqdm.auto import tqdm

        numbers = {name: float(value) for name, value in metrics.items() if isinstance(value, (int, float))}
        tqdm.write(f"eval at step {done}  " + "  ".join(f"{name} {value:.4f}" for name, value in numbers.items()))
        if self.writer is not None:
            for name, value in numbers.items():
                self.writer.add_scalar(f"eval/{name}", value, done)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --- sample and eval ---------------------------------------------------------------------------------------------


def load_trained(args: argparse.Namespace):
    """The trainer behind ``--pretrained``, ``--checkpoint`` or OUT/checkpoint.pt, weights loaded, on its device."""
    from genlearn.checkpoint import CheckpointError, load_checkpoint
    from genlearn.device import pick_device
    from genlearn.pretrained import load_pretrained

    spec = get_model(args.model)
    device = pick_device(args.device)
    trainer_class = spec.trainer_class()
    if args.pretrained:
        try:
            return load_pretrained(trainer_class, device, spec.name), "pretrained"
        except TypeError as error:  # a config field that this version of the code does not have
            raise CheckpointError(f"the pretrained {spec.name} does not fit this version of genlearn ({error}).") from None
    path = args.checkpoint or (args.out if args.out is not None else Path("runs") / spec.name) / CHECKPOINT_NAME
    checkpoint = load_checkpoint(path, expected_model=spec.name, map_location=device)
    try:
        config = trainer_class.config_class(**checkpoint.config)
    except TypeError as error:
        raise CheckpointError(f"{path} holds a config this version of {spec.name} does not know ({error}).") from None
    trained_on = checkpoint.extra.get("data", "bundled")
    data_path = None if trained_on == "bundled" else Path(trained_on)
    trainer = build_trainer(spec, config, device, "auto", load_data(spec, data_path), data_path)
    trainer.load_state_dict(checkpoint.state, weights_only=True)
    trainer.step = checkpoint.step
    return trainer, str(path)


def sample_command(args: argparse.Namespace) -> int:
    from genlearn.seeding import seed_everything

    spec = get_model(args.model)
    for option in ("num_samples", "length"):
        value = getattr(args, option)
        if value is not None and value < 1:
            raise UsageError(f"--{option.replace('_', '-')} must be at least 1, got {value}.")
    if args.length is not None and spec.data == "mnist":
        raise UsageError(f"--length is for the text models; {spec.name} draws images.")
    trainer, source = load_trained(args)
    seed_everything(args.seed)
    # Trainers whose sample() takes a seed get it; the others draw from the generator seeded just above.
    options = {"seed": args.seed} if "seed" in inspect.signature(trainer.sample).parameters else {}
    out = args.out if args.out is not None else Path("runs") / spec.name
    if spec.data == "mnist":
        from torchvision.utils import save_image

        num_samples = args.num_samples or 64
        images = trainer.sample(num_samples, **options).detach().float().cpu()
        output = args.output or out / "samples.png"
        output.parent.mkdir(parents=True, exist_ok=True)
        save_image(images, output, nrow=math.ceil(math.sqrt(num_samples)), padding=2, pad_value=0.5)
        print(f"wrote {num_samples} samples from {source} (step {trainer.step}) to {output}")
        return 0
    if args.length is not None:
        options["max_new_tokens"] = args.length
    samples = trainer.sample(args.num_samples or (10 if spec.data == "names" else 2), **options)
    # Names one per line; passages (which hold newlines themselves) separated by a rule.
    text = ("\n" if spec.data == "names" else "\n" + "-" * 40 + "\n").join(samples)
    output = args.output or out / "samples.txt"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"wrote samples from {source} (step {trainer.step}) to {output}", file=sys.stderr)
    return 0


def eval_command(args: argparse.Namespace) -> int:
    from genlearn.seeding import seed_everything

    # Only the JSON line goes to stdout; dataset and progress messages go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        trainer, source = load_trained(args)
        seed_everything(args.seed)
        started = time.perf_counter()
        metrics = trainer.evaluate()
        elapsed = time.perf_counter() - started
    record = {"model": args.model, "step": trainer.step, "source": source}
    record.update({name: _plain(value) for name, value in metrics.items()})
    record["eval_seconds"] = round(elapsed, 2)
    print(json.dumps(record))
    return 0


def _plain(value):
    """JSON-safe numbers and lists from tensors and numpy values."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


if __name__ == "__main__":
    sys.exit(main())
