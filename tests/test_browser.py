"""Every notebook as a student meets it: JupyterLab in headless Chromium, Run All, then every slider moved.

Per notebook, on the smoke budget:
- opening it and starting its kernel does not mark it modified (closing an untouched notebook must not ask to save);
- Run All (the Run menu's "Run All Cells") finishes with no error output;
- every widget output renders as a widget, never as "Error displaying widget" or a raw ``IntSlider(...)`` repr;
- every slider shows its whole label, and moving it changes the output it drives.

They drive the system's Chromium (Debian's ``chromium`` package, or ``$GENLEARN_CHROMIUM``) through Playwright
for Python; Playwright's own browser download is never used. Without either they skip and say why, except
where ``GENLEARN_REQUIRE_BROWSER=1`` (``.ci/run`` sets it): there a skip would hide a suite that stopped
running, so it fails instead.
"""

from __future__ import annotations

import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import pytest

from jupyterlab_server import LabServer, find_chromium

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "website"))

import build  # noqa: E402
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
RUN_TIMEOUT = 300  # seconds for one notebook's Run All on the smoke budget
SLIDER_TIMEOUT = 60

# The open notebook's state, read from its model (window.jupyterapp, exposed by the server's settings).
STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model || !panel.sessionContext) return null;
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const cells = panel.content.model.sharedModel.cells.filter(cell => cell.cell_type === 'code');
  const outputs = cells.flatMap(cell => cell.outputs);
  return {
    kernel: kernel ? kernel.status : null,
    queued: [...panel.node.querySelectorAll('.jp-InputArea-prompt')].some(p => p.textContent.includes('*')),
    unrun: cells.filter(cell => cell.execution_count === null).length,
    errors: outputs.filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`),
    widgets: outputs.filter(o => o.data && o.data['application/vnd.jupyter.widget-view+json']).length,
    dirty: panel.context.model.dirty,
  };
}"""
# What the output areas show: widget views rendered, and any text that means a widget did not render.
RENDERED = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const areas = [...panel.node.querySelectorAll('.jp-OutputArea-output')];
  return {
    views: areas.filter(area => area.querySelector(':scope > .jupyter-widgets')).length,
    text: areas.map(area => area.textContent).join('\\n'),
  };
}"""
NOT_A_WIDGET = ("Error displaying widget", "Loading widget", "IntSlider(", "FloatSlider(", "VBox(", "interactive(")


def require(reason: str):
    if os.environ.get("GENLEARN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; GENLEARN_REQUIRE_BROWSER=1 makes this a failure (CI must run the browser tests)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    chromium = find_chromium()
    if chromium is None:
        require("no Chromium found: install Debian's `chromium` package or set GENLEARN_CHROMIUM to a Chromium binary")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("Playwright for Python is not installed: `pip install -e '.[dev]'`")
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        yield launched
        launched.close()


def student_copy(notebook: Path, folder: Path) -> None:
    """The notebook as committed, except the Python patch version, which each machine reports for itself."""
    content = json.loads(notebook.read_text())
    content["metadata"].setdefault("language_info", {})["version"] = platform.python_version()
    (folder / notebook.name).write_text(json.dumps(content, indent=1, ensure_ascii=False) + "\n")


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    scratch = tmp_path_factory.mktemp("jupyterlab")
    root = scratch / "root"
    root.mkdir()
    for notebook in NOTEBOOKS:
        student_copy(notebook, root)
    with LabServer(root, scratch, {**os.environ, "GENLEARN_BUDGET": "smoke"}) as server:
        yield server


def wait_for(page, condition, timeout: float, what: str, poll: float = 0.5):
    """Poll ``condition(state)`` on STATE until it holds; the last state, or a failure naming ``what``."""
    deadline, state = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        state = page.evaluate(STATE)
        if state is not None and condition(state):
            return state
        time.sleep(poll)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; last state: {state}")


def finished(state: dict) -> bool:
    """The kernel idle and nothing queued, with every cell run or an error that stopped the rest."""
    return state["kernel"] == "idle" and not state["queued"] and (state["unrun"] == 0 or bool(state["errors"]))


def run_all(page) -> dict:
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    wait_for(page, finished, RUN_TIMEOUT, "Run All to finish")
    time.sleep(0.3)  # and still so a moment later: between two queued cells the kernel is briefly idle
    return wait_for(page, finished, RUN_TIMEOUT, "Run All to finish")


def output_of(slider):
    """The output widget that a slider drives: the last one in the box that holds the slider."""
    return slider.locator("xpath=ancestor::div[contains(@class, 'widget-vbox')][1]").locator(".widget-output").last


def move(page, slider) -> str:
    """Move ``slider`` one step with the keyboard (left, or right when it sits at its minimum); the key pressed."""
    readout = slider.locator(".widget-readout")
    before = readout.inner_text()
    for key in ("ArrowLeft", "ArrowRight"):
        slider.locator(".noUi-handle").focus()
        page.keyboard.press(key)
        page.wait_for_timeout(200)
        if readout.inner_text() != before:
            return key
    pytest.fail(f"slider {slider.inner_text()!r} did not move with the arrow keys")


def wait_for_output(page, output, changed, timeout: float = SLIDER_TIMEOUT) -> bool:
    """Wait until the kernel is idle and ``output`` shows something for which ``changed(html)`` holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate(STATE)["kernel"] == "idle" and output.locator(".jp-OutputArea-child").count():
            if changed(output.inner_html()):
                return True
        page.wait_for_timeout(250)
    return False


@pytest.fixture(scope="module")
def page(lab, browser):
    """One JupyterLab page for every notebook: loading the app once saves seconds per notebook."""
    opened = browser.new_page(viewport={"width": 1400, "height": 1000})
    opened.goto(lab.url())
    opened.wait_for_function("() => window.jupyterapp", timeout=60_000)
    opened.evaluate("async () => { await window.jupyterapp.started; await window.jupyterapp.restored; }")
    yield opened
    opened.close()


def open_notebook(page, notebook: str) -> None:
    page.evaluate("async name => { await window.jupyterapp.commands.execute('docmanager:open', "
                  "{path: name, factory: 'Notebook'}); }", notebook)
    page.wait_for_function("name => { const w = window.jupyterapp.shell.currentWidget;"
                           " return w && w.context && w.context.path === name; }", arg=notebook, timeout=30_000)


def save_notebook(page) -> None:
    """Save the run into the server's copy, for the site test below."""
    page.evaluate("async () => { await window.jupyterapp.commands.execute('docmanager:save'); }")


def close_notebook(page) -> None:
    """Shut the kernel down and close the tab without saving: the copy on disk stays as committed."""
    page.evaluate("""async () => { const panel = window.jupyterapp.shell.currentWidget;
                     await panel.sessionContext.shutdown(); panel.dispose(); }""")


@pytest.mark.parametrize("notebook", [path.name for path in NOTEBOOKS])
def test_notebook_in_jupyterlab(notebook, page):
    open_notebook(page, notebook)
    try:
        wait_for(page, lambda s: s["kernel"] == "idle", 60, "the kernel to start")
        page.wait_for_timeout(500)  # JupyterLab writes the kernel's metadata as the kernel starts
        assert not page.evaluate(STATE)["dirty"], (
            f"{notebook} is marked modified as soon as its kernel starts: its metadata differs from what "
            "JupyterLab writes (run `python tests/notebook_outputs.py strip` on it)")

        state = run_all(page)
        assert not state["errors"], f"{notebook}: Run All stopped at an error: {state['errors']}"

        page.wait_for_function(
            "() => !document.querySelector('.jp-OutputArea-output') || "
            "![...document.querySelectorAll('.jp-OutputArea-output')].some(a => a.textContent.includes('Loading widget'))",
            timeout=30_000)
        rendered = page.evaluate(RENDERED)
        shown = [text for text in NOT_A_WIDGET if text in rendered["text"]]
        assert not shown, f"{notebook}: a widget output shows {shown} instead of the widget"
        assert rendered["views"] == state["widgets"], (
            f"{notebook}: {state['widgets']} widget outputs, but {rendered['views']} rendered as widgets")

        sliders = page.locator(".jp-NotebookPanel .jp-OutputArea .widget-slider")
        for index in range(sliders.count()):
            slider = sliders.nth(index)
            slider.scroll_into_view_if_needed()
            label = slider.locator(".widget-label")
            name = label.inner_text()
            assert label.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{notebook}: slider label {name!r} is cut off"
            output = output_of(slider)
            before = output.inner_html()
            key = move(page, slider)
            position = slider.locator(".widget-readout").inner_text()
            assert wait_for_output(page, output, lambda html: html != before), (
                f"{notebook}: moving slider {name!r} to {position} did not change its output "
                f"(it still shows {output.inner_text()[:80]!r})")
            # Back where it was, so that the next slider starts from the notebook's own settings.
            slider.locator(".noUi-handle").focus()
            page.keyboard.press("ArrowRight" if key == "ArrowLeft" else "ArrowLeft")
            page.wait_for_timeout(200)
            wait_for_output(page, output, lambda html: True)
            state = page.evaluate(STATE)
            assert not state["errors"], f"{notebook}: moving slider {name!r} raised {state['errors']}"
        save_notebook(page)
    finally:
        close_notebook(page)


def test_every_notebook_has_a_site_page_with_its_figures(lab, tmp_path):
    """``make site``'s pages, from the runs above: executing every notebook again would not fit the test budget.

    tests/test_site.py runs the site's own executor on one notebook; here every notebook's page is written
    by the site's exporter from the notebook as JupyterLab saved it after Run All on the smoke budget.
    """
    exporter, runs = build.HTMLExporter(template_name="lab"), {}
    for path in NOTEBOOKS:
        saved = lab.root / path.name
        notebook = build.nbformat.read(saved, as_version=4)
        assert any(cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code"), (
            f"{path.name} was not saved after its run (did its browser test fail?)")
        build.link_notebooks(notebook)
        page = build.write_page(exporter, notebook, path.name, tmp_path).read_text()
        runs[path.name] = {"notebook": path.name, "pretrained": False, "budget": "smoke"}
        plots = sum("plt." in cell.source or "show_images" in cell.source
                    for cell in notebook.cells if cell.cell_type == "code")
        assert plots == 0 or "data:image/png;base64" in page, f"{path.name}: no figure on its page"
        assert "Traceback (most recent call last)" not in page, path.name
        assert not re.search(r"(Int|Float)Slider\(", page), f"{path.name}: a widget rendered as its repr"
        assert not re.search(r'href="[^"]*\.ipynb', page), f"{path.name}: a link still points at a notebook file"
        if "widget-view+json" in saved.read_text():
            assert "application/vnd.jupyter.widget-state+json" in page, f"{path.name}: its widgets' state was not kept"
    build.write_index(exporter, build.course_order(), runs, tmp_path)
    pages = sorted(p.name for p in tmp_path.glob("*.html"))
    assert pages == sorted(["index.html", *(p.name.replace(".ipynb", ".html") for p in NOTEBOOKS)])
