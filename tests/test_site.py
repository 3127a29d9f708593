"""The course site: `make site`'s builder, on the smoke budget, gives an index of every notebook and pages with figures.

Here the builder's own executor runs one notebook (the setup notebook, from the instructor edition, which
is checked too: executed, every exercise says "correct"), and writes its page and the index. Executing every
notebook again would not fit the five-minute budget beside nbval; tests/test_browser.py writes every
notebook's page with this builder's exporter from the runs it makes in JupyterLab, and checks those.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILT = "00_setup.ipynb"
sys.path.insert(0, str(ROOT / "website"))

import build  # noqa: E402

from genlearn.exercises.solutions import main as solutions_main  # noqa: E402


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    edition, out = tmp_path_factory.mktemp("solutions"), tmp_path_factory.mktemp("site")
    assert solutions_main([str(edition), str(ROOT / "notebooks" / BUILT)]) == 0
    assert build.main(["--budget", "smoke", "--out", str(out), "--source", str(edition), BUILT]) == 0
    return out


def test_the_instructor_editions_exercises_run_and_pass(site):
    page = (site / BUILT.replace(".ipynb", ".html")).read_text()
    cells = json.loads((ROOT / "notebooks" / BUILT).read_text())["cells"]
    checks = sum(line.startswith("check(") for cell in cells if cell["cell_type"] == "code" for line in cell["source"])
    assert checks >= 1 and page.count(": correct.") == checks
    assert "not attempted" not in page


def test_index_lists_every_notebook_in_the_readme_order(site):
    order = [name for name, _ in build.course_order()]
    assert order == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    index = (site / "index.html").read_text()
    links = re.findall(r'href="(\d\d_[a-z0-9_]+)\.html"', index)
    assert links == [name.removesuffix(".ipynb") for name in order]


def test_the_page_exists_with_its_figures_and_no_raw_widget(site):
    assert sorted(p.name for p in site.glob("*.html")) == ["00_setup.html", "index.html"]
    for name in [BUILT]:
        notebook = json.loads((ROOT / "notebooks" / name).read_text())
        plots = sum("plt." in "".join(c["source"]) or "show_images" in "".join(c["source"])
                    for c in notebook["cells"] if c["cell_type"] == "code")
        page = (site / name.replace(".ipynb", ".html")).read_text()
        assert page.count("data:image/png;base64") >= min(plots, 1), f"{name}: no figure on its page"
        assert "Traceback (most recent call last)" not in page, name
        assert not re.search(r"(Int|Float)Slider\(", page), f"{name}: a widget rendered as its repr"
        assert not re.search(r'href="[^"]*\.ipynb', page), f"{name}: a link still points at a notebook file"


def test_links_between_notebooks_point_at_pages():
    assert build.link_pages("see [02](02_dcgan_mnist.ipynb#top) and [x](notebooks/05_vae_mnist.ipynb)") == (
        "see [02](02_dcgan_mnist.html#top) and [x](05_vae_mnist.html)")
