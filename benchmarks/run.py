"""Every benchmark of the course in one command, and one results table that names the machine.

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/run.py      # everything, CPU presets (over an hour here)
    .venv/bin/python benchmarks/run.py --smoke                           # a few seconds per part: checks the pipeline
    .venv/bin/python benchmarks/run.py --only speed --device cuda --preset gpu
    .venv/bin/python benchmarks/run.py --reuse      # the table from the tracks' latest results, plus a new speed part

Parts:
- ``gan``, ``vae``, ``text``: the model tracks' scripts ``benchmarks/<track>.py`` (quality against the
  course's targets; they also export the shipped weights), each in its own process. They write
  ``benchmarks/results/<track>.json``, which is folded into the table.
- ``speed``: training throughput of every model in the registry, ``genlearn.models.MODELS`` (images/s or tokens/s),
  the median of three timed chunks after a warm-up, on the chosen device and preset.

Writes ``benchmarks/results/README.md`` and ``benchmarks/results/all.json``; ``--smoke`` writes to
``benchmarks/results/raw/smoke/`` instead, so a pipeline check never replaces measured results.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from genlearn.device import describe_device, pick_device  # noqa: E402
from genlearn.models import MODELS, ModelEntry  # noqa: E402

import reference_cpu  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TRACKS = ("gan", "vae", "text")
PARTS = (*TRACKS, "speed")
SMOKE_OUT = RESULTS / "raw" / "smoke"
# How each track's script runs for seconds without touching measured results or shipped weights; None: it can't.
SMOKE_OPTIONS = {
    "gan": ["--preset", "smoke", "--eval-samples", "500", "--no-export", "--results", str(SMOKE_OUT / "gan.json")],
    "vae": ["--smoke"],  # writes benchmarks/results/vae_smoke.json and exports nothing
    "text": None,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="seconds per part: check the pipeline, not the numbers")
    parser.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run (default: all)")
    parser.add_argument("--device", help="device for the speed part (default: the best one present)")
    parser.add_argument(
        "--preset", choices=("smoke", "cpu", "gpu"), help="preset for the speed part (default: cpu, or smoke)"
    )
    parser.add_argument("--steps", type=int, help="timed steps per model in the speed part (default: 60, or 6)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="fold in the tracks' latest benchmarks/results/<track>.json instead of rerunning their scripts",
    )
    args = parser.parse_args(argv)
    if args.reuse and args.smoke:
        parser.error("--reuse collects measured results; a smoke run measures nothing worth keeping")

    device = pick_device(args.device)
    if device.type == "cpu":
        reference_cpu.use_threads()
    out = SMOKE_OUT if args.smoke else RESULTS
    results = {
        "machine": machine(device),
        "smoke": args.smoke,
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
        "parts": {},
    }
    started = time.perf_counter()
    for part in args.only:
        print(f"\n=== {part} ===", flush=True)
        if part == "speed":
            preset = args.preset or ("smoke" if args.smoke else "cpu")
            steps = args.steps or (6 if args.smoke else 60)
            results["parts"][part] = speed_part(device, preset, steps)
        elif args.reuse:
            results["parts"][part] = reused_track_part(part)
        else:
            results["parts"][part] = track_part(part, args.smoke)
        write(out, results, time.perf_counter() - started)  # after each part, so a long run leaves partial results
    print(f"\nwrote {(out / 'README.md').relative_to(ROOT)} and {(out / 'all.json').relative_to(ROOT)}")
    failed = [name for name, part in results["parts"].items() if part.get("status") == "failed"]
    if failed:
        print(f"failed parts: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def machine(device: torch.device) -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "logical_cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": describe_device(device),
        "cpu_threads": reference_cpu.REFERENCE_THREADS,
    }


# --- the tracks' scripts -----------------------------------------------------------------------------------------


def track_part(track: str, smoke: bool) -> dict:
    script = ROOT / "benchmarks" / f"{track}.py"
    command = [sys.executable, str(script)]
    if smoke:
        if SMOKE_OPTIONS.get(track) is None:
            return {"status": "skipped", "note": f"{script.name} has no smoke mode, and a full run is not a smoke test"}
        command += SMOKE_OPTIONS[track]
    started_at = time.time()
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT)
    part = {
        "command": " ".join([".venv/bin/python", *command[1:]]).replace(str(ROOT) + "/", ""),
        "seconds": round(time.perf_counter() - started, 1),
    }
    if completed.returncode != 0:
        return {**part, "status": "failed", "note": f"exit status {completed.returncode}; its output is above"}
    # A track's script writes results/<track>.json, or a smoke file; only a file it has just written counts.
    candidates = [RESULTS / f"{track}.json"]
    if smoke:
        candidates = [SMOKE_OUT / f"{track}.json", RESULTS / f"{track}_smoke.json"]
    fresh = [path for path in candidates if path.is_file() and path.stat().st_mtime >= started_at]
    if not fresh:
        return {**part, "status": "ok", "note": "the script wrote no results JSON"}
    results = json.loads(fresh[0].read_text())
    return {**part, "status": "ok", "results_file": str(fresh[0].relative_to(ROOT)), "results": results}


def reused_track_part(track: str) -> dict:
    path = RESULTS / f"{track}.json"
    if not path.is_file():
        return {"status": "missing", "note": f"no {path.relative_to(ROOT)}; run benchmarks/{track}.py"}
    written = datetime.datetime.fromtimestamp(path.stat().st_mtime).isoformat(timespec="minutes")
    return {
        "status": "ok",
        "note": f"reused from an earlier run of benchmarks/{track}.py, written {written}",
        "results_file": str(path.relative_to(ROOT)),
        "results": json.loads(path.read_text()),
    }


# --- training throughput -----------------------------------------------------------------------------------------


def speed_part(device: torch.device, preset: str, steps: int) -> dict:
    rows = {}
    for entry in MODELS.values():
        row = rows[entry.name] = measure_speed(entry, device, preset, steps)
        print(f"| {entry.name} | {row['ms_per_step']:.1f} ms/step | {row['per_second']:,.0f} {row['unit']} |", flush=True)
    return {"status": "ok", "preset": preset, "timed_steps": steps, "device": describe_device(device), "models": rows}


def measure_speed(entry: ModelEntry, device: torch.device, preset: str, steps: int) -> dict:
    """Median time of a training step (forward, backward, optimizer) over three chunks, after warm-up steps."""
    config = entry.load_presets()[preset]
    trainer = entry.trainer_class()(config, device)
    chunk = max(1, steps // 3)
    times = []
    with trainer.own_rng():  # dropout draws from the trainer's random state, as in a run
        for step in range(max(2, chunk // 2)):
            trainer.training_step(step)
        for _ in range(3):
            synchronize(device)
            started = time.perf_counter()
            for step in range(chunk):
                trainer.training_step(step)
            synchronize(device)
            times.append((time.perf_counter() - started) / chunk)
    seconds_per_step = statistics.median(times)
    items = trainer.items_per_step()  # images in the batch, or predicted tokens (names: real targets, not padding)
    return {
        "preset": preset,
        "batch_size": config.batch_size,
        f"{trainer.unit}_per_step": round(items, 1),
        "parameters": sum(p.numel() for m in trainer.modules.values() for p in m.parameters()),
        "ms_per_step": round(1000 * seconds_per_step, 2),
        "per_second": round(items / seconds_per_step, 1),
        "unit": f"{trainer.unit}/s",
    }


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


# --- the table ---------------------------------------------------------------------------------------------------


def write(out: Path, results: dict, seconds: float) -> None:
    results["total_seconds"] = round(seconds, 1)
    out.mkdir(parents=True, exist_ok=True)
    (out / "all.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "README.md").write_text(markdown(results))


def markdown(results: dict) -> str:
    m = results["machine"]
    lines = [
        "# genlearn benchmark results"
        + (" (smoke run: checks the pipeline, the numbers mean nothing)" if results["smoke"] else ""),
        "",
        f"- Machine: {m['processor']}, {m['logical_cpus']} logical CPUs, {m['platform']}",
        f"- Device: {m['device']}; CPU figures use {m['cpu_threads']} torch threads",
        f"- Python {m['python']}, torch {m['torch']}",
        f"- Started {results['started']}, {results['total_seconds']:.0f} s in all",
        "- Regenerate with `flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/run.py` (see its docstring).",
        "",
    ]
    for name, part in results["parts"].items():
        if name == "speed":
            lines += [
                f"## Training speed (preset `{part['preset']}`, {part['device']})",
                "",
                "| model | batch | per step | ms/step | throughput | parameters |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for model, row in part["models"].items():
                unit = row["unit"].split("/")[0]
                lines.append(
                    f"| {model} | {row['batch_size']} | {row[f'{unit}_per_step']:,.0f} {unit} | {row['ms_per_step']:.1f} "
                    f"| {row['per_second']:,.0f} {row['unit']} | {row['parameters']:,} |"
                )
            lines.append("")
            continue
        lines += [f"## {name} (`benchmarks/{name}.py`): {part['status']}", ""]
        if "command" in part:
            lines.append(f"`{part['command']}`, {part['seconds']:.0f} s.")
        if "note" in part:
            lines.append(part["note"] + ".")
        if "results" in part:
            lines += ["", f"From `{part['results_file']}`:", "", "| measurement | value |", "|---|---|"]
            lines += [f"| {key} | {value} |" for key, value in flatten(part["results"])]
        lines.append("")
    return "\n".join(lines)


def flatten(value, prefix: str = ""):
    """(dotted key, printable value) for every number, string and short list; configs and long series are left out."""
    if isinstance(value, dict):
        for key, item in value.items():
            if "config" in str(key) or key in ("machine",):
                continue
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if len(value) <= 4 and all(not isinstance(v, (dict, list)) for v in value):
            yield prefix, ", ".join(map(format_value, value))
        elif value and all(isinstance(v, dict) for v in value):
            for index, item in enumerate(value):
                yield from flatten(item, f"{prefix}[{index}]")
    else:
        yield prefix, format_value(value)


def format_value(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    return str(value)


if __name__ == "__main__":
    sys.exit(main())
