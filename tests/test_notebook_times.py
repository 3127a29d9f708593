"""The run times a student reads: README's table and each notebook's first cell agree with benchmarks/notebook_times.py."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import notebook_times  # noqa: E402

from genlearn.measured import measured  # noqa: E402

RESULTS = measured("notebooks")
RECORDS = {record["notebook"]: record for record in RESULTS["notebooks"]}
LONG_LESSON = "longer than 10 minutes"


def first_cell(name: str) -> str:
    return "".join(json.loads((ROOT / "notebooks" / name).read_text())["cells"][0]["source"])


def test_every_notebook_is_timed():
    assert sorted(RECORDS) == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))


def test_readme_table_shows_the_measured_times():
    assert (ROOT / "README.md").read_text() == notebook_times.render_readme(RESULTS), (
        "README's times differ from benchmarks/results/notebooks.json: run `python benchmarks/notebook_times.py --readme`")


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_a_long_lesson_says_so_first_and_ships_weights(name):
    record, intro = RECORDS[name], first_cell(name)
    if record["cpu_preset_seconds"] > notebook_times.CPU_TARGET_SECONDS:
        assert record["offers_pretrained"], f"{name} takes over 10 minutes at the cpu preset and ships no weights"
        assert LONG_LESSON in intro and "USE_PRETRAINED = True" in intro, (
            f"{name} takes over 10 minutes at the cpu preset; its first cell must say so and name USE_PRETRAINED")
    else:
        assert LONG_LESSON not in intro, f"{name}'s first cell says it is long, but it took {record['cpu_preset_seconds']} s"


def test_minutes_reads_like_a_person():
    assert [notebook_times.minutes(s) for s in (None, 12.4, 89.0, 95.0, 612.0)] == ["—", "12 s", "89 s", "1.6 min",
                                                                                   "10.2 min"]


def test_the_readme_row_keeps_the_summary_and_replaces_old_times(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("| notebook | what you learn |\n|---|---|\n"
                      "| [`notebooks/00_setup.ipynb`](notebooks/00_setup.ipynb) | Tour. |\n")
    results = {"notebooks": [{"notebook": "00_setup.ipynb", "cpu_preset_seconds": 30.0, "pretrained_seconds": None}]}
    once = notebook_times.render_readme(results, readme)
    assert once.splitlines() == [notebook_times.TABLE_HEADER, "|---|---|---|---|",
                                 "| [`notebooks/00_setup.ipynb`](notebooks/00_setup.ipynb) | Tour. | 30 s | — |"]
    readme.write_text(once)
    results["notebooks"][0]["cpu_preset_seconds"] = 100.0
    assert notebook_times.render_readme(results, readme).splitlines()[2].endswith("| Tour. | 1.7 min | — |")


def test_a_timed_run_resumes_nothing_and_keeps_the_students_runs(tmp_path):
    runs = tmp_path / "runs"
    (runs / "02_dcgan_cpu_60000").mkdir(parents=True)
    (runs / "02_dcgan_cpu_60000" / "checkpoint.pt").write_text("a student's run")
    with notebook_times.without_saved_runs(runs):
        assert not runs.exists()  # nothing for resume="auto" to find
        (runs / "02_dcgan_cpu_60000").mkdir(parents=True)
        (runs / "02_dcgan_cpu_60000" / "checkpoint.pt").write_text("the timed run")
    assert (runs / "02_dcgan_cpu_60000" / "checkpoint.pt").read_text() == "a student's run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
