"""Build the course as a static HTML site: every notebook executed, with its figures and samples embedded.

    python website/build.py [--out build/site] [--budget cpu] [--source notebooks] [NOTEBOOK ...]

Notebooks that offer shipped weights (``USE_PRETRAINED = False``) are built with them; the others
train at the ``cpu`` preset (``--budget smoke`` for a quick build). The pages are nbconvert's own
HTML; the index lists the notebooks in the order of the README's table, and links between
notebooks point at their pages. ``--source solutions`` builds the instructor edition's site (``make solutions`` first). Widgets are saved with their state, so the page shows each one as
it was left (drawn by the widgets' own embed script), never as a raw ``IntSlider(...)`` repr.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BUDGETS = ("smoke", "cpu", "gpu")
PRETRAINED_SWITCH = re.compile(r"^USE_PRETRAINED = False\b", re.MULTILINE)
# No cell of the course takes this long at the cpu preset; a kernel that stops answering fails instead of hanging.
CELL_TIMEOUT_SECONDS = 1800
NOTEBOOK_LINK = re.compile(r"\]\((?:\.?/?notebooks/)?([0-9]{2}_[A-Za-z0-9_]+)\.ipynb(#[^)]*)?\)")


# A row of the README's table of notebooks: (the link and summary columns, file name, summary), then any more columns.
README_ROW = re.compile(r"^(\| \[`notebooks/([^`]+\.ipynb)`\]\([^)]*\) \| (.+?) \|)(?: .*)?$", re.MULTILINE)


def course_order(readme: Path = ROOT / "README.md") -> list[tuple[str, str]]:
    """(notebook file name, what you learn) from the README's table, in its order."""
    rows = [(match.group(2), match.group(3)) for match in README_ROW.finditer(readme.read_text())]
    if not rows:
        raise SystemExit(f"error: found no notebook table in {readme}")
    return rows


def link_pages(markdown: str) -> str:
    """``[text](02_dcgan_mnist.ipynb#part)`` -> ``[text](02_dcgan_mnist.html#part)``."""
    return NOTEBOOK_LINK.sub(lambda m: f"]({m.group(1)}.html{m.group(2) or ''})", markdown)


def offers_pretrained(notebook: nbformat.NotebookNode) -> bool:
    """Whether the notebook has a ``USE_PRETRAINED = False`` switch to its shipped weights."""
    return any(cell.cell_type == "code" and PRETRAINED_SWITCH.search(cell.source) for cell in notebook.cells)


def prepare(notebook: nbformat.NotebookNode) -> bool:
    """Switch the notebook to its shipped weights where it offers them; True if it does."""
    offers = offers_pretrained(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.source = PRETRAINED_SWITCH.sub("USE_PRETRAINED = True", cell.source)
    return offers


def link_notebooks(notebook: nbformat.NotebookNode) -> None:
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = link_pages(cell.source)


def execute(path: Path, budget: str, shipped_weights: bool = True) -> tuple[nbformat.NotebookNode, dict]:
    """Run the notebook in a fresh kernel, as Run All does; with ``shipped_weights``, on them where it offers them."""
    notebook = nbformat.read(path, as_version=4)
    pretrained = prepare(notebook) if shipped_weights else False
    os.environ["GENLEARN_BUDGET"] = budget
    start = time.perf_counter()
    # Run from notebooks/ whatever the source, so that relative paths (runs/...) mean the same.
    NotebookClient(notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    seconds = time.perf_counter() - start
    link_notebooks(notebook)
    return notebook, {"notebook": path.name, "seconds": round(seconds, 1), "pretrained": pretrained, "budget": budget}


def index_notebook(order: list[tuple[str, str]], runs: dict[str, dict]) -> nbformat.NotebookNode:
    lines = ["# genlearn: the course", "",
             "Generative models with PyTorch: the GAN minimax game, the VAE evidence lower bound, and "
             "autoregressive language models from bigram counts to a GPT. Each page below is a notebook "
             "of the course, executed when this site was built.", "",
             "| notebook | what you learn | built with |", "|---|---|---|"]
    for name, summary in order:
        run = runs.get(name)
        built = "" if run is None else ("shipped weights" if run["pretrained"] else f"`{run['budget']}` preset")
        lines.append(f"| [{name.removesuffix('.ipynb')}]({name.removesuffix('.ipynb')}.html) | {summary} | {built} |")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("\n".join(lines))]
    return notebook


def write_page(exporter: HTMLExporter, notebook: nbformat.NotebookNode, name: str, out: Path) -> Path:
    """An executed notebook, its links already pointing at pages, as ``out/<name>.html``."""
    html, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": name.removesuffix(".ipynb")}})
    page = out / name.replace(".ipynb", ".html")
    page.write_text(html, encoding="utf-8")
    return page


def write_index(exporter: HTMLExporter, order: list[tuple[str, str]], runs: dict[str, dict], out: Path) -> None:
    html, _ = exporter.from_notebook_node(index_notebook(order, runs), resources={"metadata": {"name": "genlearn"}})
    (out / "index.html").write_text(html, encoding="utf-8")
    (out / "build.json").write_text(json.dumps(list(runs.values()), indent=1) + "\n")


def build(out: Path, budget: str, names: list[str], source: Path = NOTEBOOKS) -> list[dict]:
    order = course_order()
    known = [name for name, _ in order]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise SystemExit(f"error: not in the course: {', '.join(unknown)}; choose from {', '.join(known)}")
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab")
    runs = {}
    for name in names or known:
        print(f"building {name} ...", flush=True)
        notebook, run = execute(source / name, budget)
        write_page(exporter, notebook, name, out)
        runs[name] = run
        print(f"  {run['seconds']:.0f} s", flush=True)
    write_index(exporter, order, runs, out)
    return list(runs.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the course as a static HTML site.")
    parser.add_argument("notebooks", nargs="*", help="notebook file names (default: every notebook in the README)")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site", help="output folder (default: build/site)")
    parser.add_argument("--budget", choices=BUDGETS, default="cpu", help="training preset where no weights ship")
    parser.add_argument("--source", type=Path, default=NOTEBOOKS,
                        help="folder of the notebooks (default: notebooks/; solutions/ for the instructor edition)")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"error: --source {args.source} is not a folder; run `make solutions` first for the instructor edition",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    runs = build(args.out, args.budget, args.notebooks, args.source)
    print(f"wrote {len(runs)} pages and index.html into {args.out}/ in {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
