"""GPU acceptance run: the CUDA, bf16, fused-optimizer, SDPA, torch.compile and torchrun paths, checked in minutes.

On the GPU machine, from the repository root (sized for at most 8 minutes on one GPU; not yet run on one):

    pip install -e . && python benchmarks/gpu_acceptance.py

(Offline, with torch already installed: ``pip install --no-deps --no-build-isolation -e .``.)

One entry per check in ``benchmarks/results/gpu_acceptance.json`` (``--output`` to choose), each with a
pass or fail; the exit status is 1 when any check fails, and a short table ends the output.
- ``train/<model>``: each registered model's ``gpu`` preset trains in bf16 with finite losses; its
  throughput (images/s, tokens/s) over timed steps after the compared ones, and its MFU.
- ``train/gpt+compile``: the same for the GPT under ``torch.compile``.
- ``loss/<model>``: the mean loss of the first steps matches the same preset and seed at fp32 on the CPU.
- ``generation/<precision>``: the KV-cached logits match the uncached ones (shipped GPT weights).
- ``torchrun/gpt``: ``torchrun --nproc_per_node=<every GPU> -m genlearn train gpt`` trains, and its loss
  matches the one-process run (with one GPU, one process: the launcher's path, without NCCL).

``--cpu-smoke`` runs every part on the CPU at the smoke presets, fp32, two steps, no compile: it shows
that the script starts (``tests/test_gpu_acceptance.py``) and measures nothing. It writes to
``benchmarks/results/raw/smoke/`` unless ``--output`` says otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from genlearn.checkpoint import load_checkpoint  # noqa: E402
from genlearn.device import configure_threads, describe_device  # noqa: E402
from genlearn.loop import Callback, LossHistory  # noqa: E402
from genlearn.models import MODELS, ModelEntry  # noqa: E402
from genlearn.precision import Precision  # noqa: E402
from genlearn.pretrained import load_pretrained  # noqa: E402
from genlearn.run import CHECKPOINT_NAME, Run  # noqa: E402
from genlearn.text.training import GPTTrainer  # noqa: E402
from genlearn.training import Trainer  # noqa: E402

from timing import ChunkTimer  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
DEFAULT_OUTPUT = RESULTS / "gpu_acceptance.json"
SMOKE_OUTPUT = RESULTS / "raw" / "smoke" / "gpu_acceptance.json"

# CUDA and CPU generators draw different batches, latents and dropout masks from the same seed, so the runs
# cannot agree step by step. Over the first 10 steps from the same initial weights, 6-8 such streams moved the
# mean loss by at most 1.7% for the GAN and 0.5% for the others (measured on the CPU); bf16 rounds by 0.4%.
# The limits leave room for both, and a run that does not learn misses them (names GPT by 4.6%, the rest by 15%+).
LOSS_TOLERANCE = 0.02
LOSS_TOLERANCE_BY_MODEL = {"gan": 0.05}  # a GAN's players' losses swing against each other
# Largest |cached - uncached| logit over the largest |logit|. Measured on the CPU: fp32 agrees to 4e-7, and bf16
# logits are 1-2 ulps apart (0.5% each at the top logit). A cache that loses one token of context is off by 37%.
GENERATION_TOLERANCE = {"fp32": 1e-3, "bf16": 3e-2}
GENERATION_BATCH = 4
TIMED_CHUNKS = 5  # the throughput is the median chunk of the timed steps
TORCHRUN_TIMEOUT_SECONDS = 300

# Dense bf16 tensor-core peaks from NVIDIA's datasheets (their "with sparsity" figures halved), matched in
# this order against torch.cuda.get_device_name. A device not listed gets no MFU (null, with the reason).
PEAK_BF16_FLOPS = (
    ("H200 NVL", 835e12),
    ("H200", 989e12),
    ("H100 NVL", 835e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("B200", 2250e12),
    ("A100", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
)


@dataclasses.dataclass(frozen=True)
class Plan:
    """What one acceptance run does: where, at which preset and precision, and how many steps."""

    mode: str
    device: torch.device
    preset: str
    precision: str
    steps: int  # steps compared with the CPU at fp32
    timed_steps: int  # further steps whose time gives the throughput
    compile_gpt: bool
    processes: int  # torchrun's processes: one per GPU
    generation_precisions: tuple[str, ...]


def gpu_plan() -> Plan:
    return Plan("gpu", torch.device("cuda"), "gpu", "bf16", 10, 100, True, torch.cuda.device_count(), ("fp32", "bf16"))


CPU_SMOKE_PLAN = Plan("cpu-smoke", torch.device("cpu"), "smoke", "fp32", 2, 2, False, 1, ("fp32",))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cpu-smoke", action="store_true", help="every part at the smoke presets on the CPU: checks that it starts"
    )
    parser.add_argument(
        "--output", type=Path, help=f"results JSON (default: {DEFAULT_OUTPUT.relative_to(ROOT)}, or the smoke folder)"
    )
    args = parser.parse_args(argv)
    if not args.cpu_smoke and not torch.cuda.is_available():
        parser.error("no CUDA device here; run it on the GPU machine, or add --cpu-smoke to check that it starts")
    output = args.output or (SMOKE_OUTPUT if args.cpu_smoke else DEFAULT_OUTPUT)
    if output.is_dir():
        parser.error(f"--output {output} is a folder; give the path of a JSON file")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"cannot create the folder for --output {output} ({error.strerror}); choose another path")
    if not os.access(output.parent, os.W_OK) or (output.exists() and not os.access(output, os.W_OK)):
        parser.error(f"--output {output} cannot be written; choose another path")

    plan = CPU_SMOKE_PLAN if args.cpu_smoke else gpu_plan()
    configure_threads()  # the CPU reference runs use the free cores
    report = {
        "machine": machine(plan.device),
        "plan": {key: str(value) if isinstance(value, torch.device) else value for key, value in vars(plan).items()},
        "tolerances": {
            "loss_relative": LOSS_TOLERANCE,
            "loss_relative_by_model": LOSS_TOLERANCE_BY_MODEL,
            "generation_relative": GENERATION_TOLERANCE,
        },
        "checks": [],
    }
    started = time.perf_counter()

    def record(check: dict) -> None:
        report["checks"].append(check)
        report["passed"] = all(entry["passed"] for entry in report["checks"])
        report["seconds"] = round(time.perf_counter() - started, 1)
        # After every check, so that a run cut short still leaves what it measured.
        output.write_text(json.dumps(report, indent=2) + "\n")
        print(f"{'pass' if check['passed'] else 'FAIL'}  {check['name']}: {check['summary']}", flush=True)

    single_process_gpt_losses = None
    for entry in MODELS.values():
        losses = check_model(entry, plan, record)
        if entry.name == "gpt":
            single_process_gpt_losses = losses
    for precision in plan.generation_precisions:
        record(attempt(f"generation/{precision}", lambda: generation_check(plan, precision)))
    record(attempt("torchrun/gpt", lambda: torchrun_check(plan, single_process_gpt_losses)))

    print_table(report["checks"])
    print(f"{'passed' if report['passed'] else 'FAILED'} in {report['seconds']:.0f} s; wrote {output}")
    return 0 if report["passed"] else 1


def check_model(entry: ModelEntry, plan: Plan, record: Callable[[dict], None]) -> list[float] | None:
    """Record the training and loss checks of ``entry`` (the GPT's also compiled); return its uncompiled losses."""
    reference = attempt(f"loss/{entry.name}", lambda: {"losses": train_losses(entry, plan, on_cpu=True)})
    tolerance = LOSS_TOLERANCE_BY_MODEL.get(entry.name, LOSS_TOLERANCE)
    uncompiled_losses = None
    for compiled in (False, True) if plan.compile_gpt and entry.name == "gpt" else (False,):
        label = entry.name + ("+compile" if compiled else "")
        training = attempt(f"train/{label}", lambda: train_check(entry, plan, compiled))
        losses = training.pop("losses", None)
        record(training)
        if not compiled:
            uncompiled_losses = losses
        if "error" in reference:
            record({**reference, "name": f"loss/{label}"})
        elif losses is None:
            record({"name": f"loss/{label}", "passed": False, "summary": "the training failed: nothing to compare"})
        else:
            record(loss_check(f"loss/{label}", losses, reference["losses"], "on the CPU at fp32", tolerance))
    return uncompiled_losses


def attempt(name: str, check: Callable[[], dict]) -> dict:
    """``check()`` named ``name``; an exception fails the check (traceback on stderr) and the run goes on."""
    try:
        return {"name": name, **check()}
    except Exception as error:  # a broken path is what this run looks for: report it, then check the rest
        traceback.print_exc()
        message = f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"
        return {"name": name, "passed": False, "summary": message, "error": message}


def machine(device: torch.device) -> dict:
    return {
        "device": describe_device(device),
        "gpus": torch.cuda.device_count(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "logical_cpus": os.cpu_count(),
        "cpu_threads": torch.get_num_threads(),
    }


# --- training ----------------------------------------------------------------------------------------------------


def build_trainer(entry: ModelEntry, plan: Plan, on_cpu: bool = False) -> Trainer:
    """The plan's preset of ``entry``: on the plan's device and precision, or on the CPU at fp32."""
    # Periodic evaluation is not what this run measures, and would land inside the timed steps.
    config = dataclasses.replace(entry.load_presets()[plan.preset], eval_every=0)
    if on_cpu:
        return entry.trainer_class()(config, "cpu", "fp32")
    return entry.trainer_class()(config, plan.device, plan.precision)


def train_losses(entry: ModelEntry, plan: Plan, on_cpu: bool) -> list[float]:
    trainer = build_trainer(entry, plan, on_cpu)
    Run(trainer, num_steps=plan.steps, progress=False).fit()
    return compared_loss(trainer.history)


def compared_loss(history: LossHistory) -> list[float]:
    """Per step: the ``loss`` term; for a GAN, which has none, the sum of its players' (``d_loss + g_loss``).

    Either player's loss swings against the other's from step to step; their sum is steadier.
    """
    if "loss" in history.names:
        return history["loss"]
    players = [name for name in history.names if name.endswith("_loss")]
    return [sum(values) for values in zip(*(history[name] for name in players))]


def train_check(entry: ModelEntry, plan: Plan, compiled: bool) -> dict:
    """Train the compared steps, then the timed ones; throughput, MFU, and the compared losses (under ``losses``)."""
    trainer = build_trainer(entry, plan)
    if compiled:
        trainer.wrap_modules(torch.compile)
    first = Run(trainer, num_steps=plan.steps, progress=False).fit()  # compiles, when compiled
    timer = ChunkTimer(trainer.step)
    chunk = max(1, plan.timed_steps // TIMED_CHUNKS)
    Run(trainer, num_steps=plan.steps + plan.timed_steps, progress=False, callbacks=[Callback(chunk, timer)]).fit()
    seconds_per_step = statistics.median(timer.seconds_per_step)
    finite = all(math.isfinite(value) for name in trainer.history.names for value in trainer.history[name])
    flops, flops_source = flops_per_step(trainer)
    peak = peak_bf16_flops(plan.device)
    unit = f"{trainer.unit}/s"
    per_second = trainer.items_per_step() / seconds_per_step
    mfu = flops / seconds_per_step / peak if peak else None
    return {
        "passed": finite,
        "summary": f"{per_second:,.0f} {unit}, {1000 * seconds_per_step:.1f} ms/step"
        + (f", MFU {100 * mfu:.1f}%" if mfu is not None else "")
        + ("" if finite else "; a loss was not finite"),
        "precision": trainer.precision.mode,
        "compiled": compiled,
        "batch_size": trainer.config.batch_size,
        "parameters": sum(p.numel() for module in trainer.modules.values() for p in module.parameters()),
        "first_steps_seconds": round(first.seconds, 2),
        "ms_per_step": round(1000 * seconds_per_step, 3),
        "per_second": round(per_second, 1),
        "unit": unit,
        "flops_per_step": flops,
        "flops_source": flops_source,
        "peak_bf16_flops": peak,
        "mfu": None if mfu is None else round(mfu, 4),
        "mfu_note": None if peak else f"no bf16 peak known for {describe_device(plan.device)} (see PEAK_BF16_FLOPS)",
        "losses": compared_loss(trainer.history)[: plan.steps],
    }


def flops_per_step(trainer: Trainer) -> tuple[float, str]:
    """Model FLOPs of one step (forward and backward; the optimizer's are not counted), and how they were found."""
    if isinstance(trainer, GPTTrainer):
        config, model = trainer.config, trainer.model
        # The position table is looked up, never multiplied; the token table is, as the tied output layer.
        weights = model.num_parameters() - config.context_length * config.embedding_dim
        per_token = 6 * weights + 12 * config.num_layers * config.embedding_dim * config.context_length
        return float(per_token * config.batch_size * config.context_length), "6N + 12 L d T per token (PaLM, nanoGPT)"
    with FlopCounterMode(display=False) as counter, trainer.own_rng():
        trainer.training_step(trainer.step)
    return float(counter.get_total_flops()), "torch.utils.flop_counter over one training step"


def peak_bf16_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_FLOPS if key in name), None)


def loss_check(
    name: str, losses: list[float], reference: list[float], reference_label: str, tolerance: float = LOSS_TOLERANCE
) -> dict:
    """The mean of ``losses`` within ``tolerance`` of the mean of ``reference``, relatively; NaN fails."""
    mean, reference_mean = statistics.fmean(losses), statistics.fmean(reference)
    relative = abs(mean - reference_mean) / abs(reference_mean)
    passed = relative <= tolerance
    return {
        "name": name,
        "passed": passed,
        "summary": f"mean loss {mean:.4f} vs {reference_mean:.4f} {reference_label}: {100 * relative:.2f}% "
        f"(limit {100 * tolerance:.0f}%)",
        "steps": len(losses),
        "mean_loss": mean,
        "reference_mean_loss": reference_mean,
        "reference": reference_label,
        "relative_difference": relative,
        "tolerance": tolerance,
    }


# --- generation --------------------------------------------------------------------------------------------------


def generation_check(plan: Plan, precision: str) -> dict:
    """Logits from the KV cache (a prompt, then one token at a time) against the uncached forward.

    Uncached generation runs the model on the whole prefix and keeps its last position, which by causality
    is the full forward's logit at that position. The shipped weights attend sharply, so a cache error shows.
    """
    trainer = load_pretrained(GPTTrainer, plan.device, "gpt")
    model = trainer.model.eval()
    inputs, _ = trainer.split("val")
    idx = inputs[:GENERATION_BATCH].to(plan.device)
    prompt_length = idx.size(1) // 4
    with torch.no_grad(), Precision(plan.device, precision).autocast():
        uncached, _ = model(idx)
        cache = model.new_kv_cache(idx.size(0))
        prompt_logits, _ = model(idx[:, :prompt_length], kv_cache=cache)
        steps = [model(idx[:, t : t + 1], kv_cache=cache)[0] for t in range(prompt_length, idx.size(1))]
    cached = torch.cat([prompt_logits, *steps], dim=1).float()
    uncached = uncached.float()
    gap = ((cached - uncached).abs().max() / uncached.abs().max()).item()
    tolerance = GENERATION_TOLERANCE[precision]
    return {
        "passed": gap <= tolerance,
        "summary": f"largest logit gap {gap:.2e} of the largest logit (limit {tolerance:g})",
        "precision": precision,
        "positions": idx.size(1),
        "prompt_length": prompt_length,
        "relative_gap": gap,
        "tolerance": tolerance,
    }


# --- torchrun ----------------------------------------------------------------------------------------------------


def torchrun_check(plan: Plan, single_process_losses: list[float] | None) -> dict:
    """``torchrun -m genlearn train gpt`` over ``plan.processes`` processes, against the one-process run's loss."""
    if single_process_losses is None:
        raise RuntimeError("the one-process GPT run failed, so there is nothing to compare torchrun with")
    with tempfile.TemporaryDirectory() as folder:
        command = [
            sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={plan.processes}",
            "-m", "genlearn", "train", "gpt", "--preset", plan.preset, "--device", plan.device.type,
            "--precision", plan.precision, "--max-steps", str(plan.steps), "--out", folder,
        ]  # fmt: skip
        started = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_SECONDS)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            print(result.stdout[-3000:], result.stderr[-5000:], sep="\n", file=sys.stderr)
            raise RuntimeError(f"torchrun exited with status {result.returncode}; its output is above")
        history = LossHistory()
        history.load_state_dict(load_checkpoint(Path(folder) / CHECKPOINT_NAME, expected_model="gpt").state["history"])
    check = loss_check("torchrun/gpt", compared_loss(history), single_process_losses, "in one process")
    check["summary"] = f"{plan.processes} process(es) in {seconds:.0f} s; {check['summary']}"
    return {**check, "processes": plan.processes, "ddp": plan.processes > 1, "seconds": round(seconds, 1)}


def print_table(checks: list[dict]) -> None:
    width = max(len(check["name"]) for check in checks)
    print(f"\n{'check':<{width}}  result  measured")
    for check in checks:
        print(f"{check['name']:<{width}}  {'pass' if check['passed'] else 'FAIL':<6}  {check['summary']}")


if __name__ == "__main__":
    sys.exit(main())
