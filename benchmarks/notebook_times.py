"""How long each notebook takes a student on this CPU: at the cpu preset, and with the shipped weights where offered.

    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/notebook_times.py            # every notebook (about an hour)
    flock /tmp/genlearn-cpu.lock .venv/bin/python benchmarks/notebook_times.py 02_dcgan_mnist.ipynb
    .venv/bin/python benchmarks/notebook_times.py --readme    # only rewrite the README table's times from the results

Each notebook runs from a fresh kernel, top to bottom, as Run All does (kernel start-up included), with no saved
run to resume (``notebooks/runs`` is set aside meanwhile),
through the course site's executor (``website/build.py``), with ``GENLEARN_BUDGET=cpu``:
- as committed (``USE_PRETRAINED = False``): the ``cpu`` preset, every model trained;
- where the notebook offers it, again with ``USE_PRETRAINED = True``: the shipped weights.

The second pass runs what ``make site`` runs, so ``site_execution_seconds`` (the shipped weights where offered,
the cpu preset elsewhere) is the site's build time on this CPU, less the seconds nbconvert takes to write HTML.
Targets: at most 10 minutes at the cpu preset, at most 1 minute with the shipped weights; a notebook
over 10 minutes must offer the weights and say so in its first cell (``tests/test_notebook_times.py``).
Writes ``benchmarks/results/notebooks.json`` (merging, so one notebook can be rerun alone) and the
times in README.md's table of notebooks.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "website"))

import build  # noqa: E402
from nbclient.exceptions import CellExecutionError, CellTimeoutError  # noqa: E402

from genlearn.data.mnist import has_full_mnist  # noqa: E402
from genlearn.device import describe_device  # noqa: E402

import torch  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "notebooks.json"
README = ROOT / "README.md"
CPU_TARGET_SECONDS = 600
PRETRAINED_TARGET_SECONDS = 60
TABLE_HEADER = "| notebook | what you learn | cpu preset | shipped weights |"


def minutes(seconds: float | None) -> str:
    """A run time as a student reads it: "45 s", "4.2 min"; "—" when there is nothing to time."""
    if seconds is None:
        return "—"
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


@contextlib.contextmanager
def without_saved_runs(folder: Path = build.NOTEBOOKS / "runs"):
    """A student's first Run All finds no saved run to resume: set ``notebooks/runs`` aside while a notebook is
    timed, delete what the timed run saved, and put the folder back."""
    aside = folder.with_name(f".runs-set-aside-{os.getpid()}")
    if folder.exists():
        folder.rename(aside)
    try:
        yield
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if aside.exists():
            aside.rename(folder)


def timed_run(path: Path, pretrained: bool) -> tuple[float | None, str | None]:
    """Seconds for one Run All, or None and the error that stopped it (a student would meet it too)."""
    try:
        with without_saved_runs():
            _, run = build.execute(path, "cpu", shipped_weights=pretrained)
    except (CellExecutionError, CellTimeoutError) as error:
        return None, str(error).strip().splitlines()[-1]
    return run["seconds"], None


def measure(name: str) -> dict:
    path = build.NOTEBOOKS / name
    offers = build.offers_pretrained(build.nbformat.read(path, as_version=4))
    record = {"notebook": name, "offers_pretrained": offers, "cpu_preset_seconds": None, "pretrained_seconds": None,
              "errors": {}}
    for pretrained, key in [(False, "cpu_preset"), (True, "pretrained")][: 1 + offers]:
        print(f"{name}: {'shipped weights' if pretrained else 'cpu preset'} ...", flush=True)
        seconds, error = timed_run(path, pretrained)
        record[f"{key}_seconds"] = seconds
        if error:
            record["errors"][key] = error
        print(f"  {minutes(seconds) if error is None else 'FAILED: ' + error}", flush=True)
    record["within_targets"] = within_targets(record)
    return record


def within_targets(record: dict) -> bool:
    if record["errors"]:
        return False
    if record["offers_pretrained"] and record["pretrained_seconds"] > PRETRAINED_TARGET_SECONDS:
        return False
    # Past 10 minutes a lesson must offer the weights (its first cell then says so: a test checks that).
    return record["cpu_preset_seconds"] <= CPU_TARGET_SECONDS or record["offers_pretrained"]


def site_seconds(records: list[dict]) -> float:
    """``make site``'s executions: the shipped weights where offered, the cpu preset elsewhere."""
    return sum(r["pretrained_seconds"] if r["offers_pretrained"] else r["cpu_preset_seconds"] for r in records)


def readme_row(line: str, records: dict[str, dict]) -> str:
    match = build.README_ROW.match(line)
    if not match or match.group(2) not in records:
        return line
    record = records[match.group(2)]
    return f"{match.group(1)} {minutes(record['cpu_preset_seconds'])} | {minutes(record['pretrained_seconds'])} |"


def render_readme(results: dict, readme: Path = README) -> str:
    """README.md with the table of notebooks showing the measured times."""
    records = {r["notebook"]: r for r in results["notebooks"]}
    lines = []
    for line in readme.read_text().splitlines():
        if line.startswith("| notebook | what you learn |"):
            line = TABLE_HEADER
        elif line.startswith("|---|---|"):
            line = "|---|---|---|---|" if lines and lines[-1] == TABLE_HEADER else line
        lines.append(readme_row(line, records))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook file names (default: every notebook in the README)")
    parser.add_argument("--readme", action="store_true", help="only rewrite README.md's times from the results")
    args = parser.parse_args(argv)
    known = [name for name, _ in build.course_order()]
    unknown = [name for name in args.notebooks if name not in known]
    if unknown:
        print(f"error: not in the course: {', '.join(unknown)}; choose from {', '.join(known)}", file=sys.stderr)
        return 2
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"notebooks": []}
    if not args.readme:
        records = {r["notebook"]: r for r in results["notebooks"]}
        for name in args.notebooks or known:
            records[name] = measure(name)
            results.update(
                notebooks=[records[n] for n in known if n in records],
                device=describe_device(torch.device("cpu")),
                mnist="full MNIST" if has_full_mnist() else "the bundled subset",
                written=datetime.datetime.now().isoformat(timespec="seconds"),
            )
            results["site_execution_seconds"] = round(site_seconds(results["notebooks"]), 1)
            results["all_within_targets"] = all(r["within_targets"] for r in results["notebooks"])
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")  # after each notebook: a long run keeps its part
    if not results["notebooks"]:
        print(f"error: no measured times in {RESULTS}; run this script without --readme first", file=sys.stderr)
        return 2
    failed = [r["notebook"] for r in results["notebooks"] if r.get("errors")]
    if failed:
        print(f"error: failed under Run All: {', '.join(failed)}; see 'errors' in {RESULTS.relative_to(ROOT)}",
              file=sys.stderr)
        return 1
    README.write_text(render_readme(results))
    for record in results["notebooks"]:
        print(f"{record['notebook']:34s} cpu preset {minutes(record['cpu_preset_seconds']):>8s}   "
              f"shipped weights {minutes(record['pretrained_seconds']):>8s}")
    wrote = "README.md" if args.readme else f"{RESULTS.relative_to(ROOT)} and README.md"
    print(f"make site executes notebooks for {minutes(results['site_execution_seconds'])}; wrote {wrote}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
