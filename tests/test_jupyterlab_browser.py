"""The interactive explorers in JupyterLab, in a real (headless) Chromium driven by Playwright.

A ``jupyter lab`` server on a free localhost port with a random token serves copies of notebooks 03 and 09;
the browser opens each one, runs all its cells (JupyterLab's own "Run All Cells" command), and the test
checks that no cell raised, that the browser console shows no JavaScript or widget-state error, and that
moving the explorer's slider redraws its figure: the threshold explorer's alpha slider (notebook 03), the
iterate viewer's channel slider (notebook 09). In a live front end the explorers are ipywidgets
(:func:`lzsc.interactive.live_frontend`), so this is the only test of the widgets a student sees.

Screenshots and the server's log go to ``$LZSC_BROWSER_ARTIFACTS`` when it is set, else to a pytest
temporary folder (its path is printed). Skipped, with what to install, when Playwright or Chromium is
absent; CI installs both (``.ci/run``). The browser is the system's Chromium, not Playwright's download.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser_helpers import (
    NOTEBOOK_REPORT,
    OPEN_AND_RUN_ALL,
    REPO,
    find_chromium,
    lab_workdir,
    start_lab,
    stop_lab,
)

from lzsc.paths import data_root

pytestmark = pytest.mark.slow

NOTEBOOKS = ["03_thresholds.ipynb", "09_interpretability.ipynb"]
RUN_ALL_TIMEOUT_S = 400
REDRAW_TIMEOUT_MS = 60_000

# Browser console errors that say nothing about the notebook, each with its reason. Everything else
# (a widget model that cannot be found or created, a JavaScript exception) fails the test.
# None is known so far (JupyterLab 4.6, ipywidgets 8.1, Chromium 150 printed none): add a regex with its
# reason here, never a blanket one.
HARMLESS_CONSOLE: dict[str, str] = {}


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    named = os.environ.get("LZSC_BROWSER_ARTIFACTS")
    folder = Path(named) if named else tmp_path_factory.mktemp("browser")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots and the JupyterLab log: {folder}")
    return folder


@pytest.fixture(scope="module")
def chromium() -> str:
    pytest.importorskip("playwright", reason="Playwright is not installed: pip install playwright")
    path = find_chromium()
    if path is None:
        pytest.skip("chromium not found: apt-get install chromium (or set LZSC_CHROMIUM to its executable)")
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path, chromium: str):
    root = tmp_path_factory.mktemp("lab")
    folder = lab_workdir(root, NOTEBOOKS)
    try:
        server = start_lab(root, folder, artifacts / "jupyter-lab.log")
    except RuntimeError as err:
        pytest.fail(f"the JupyterLab server could not start: {err}", pytrace=False)
    yield server
    stop_lab(server)


@pytest.fixture(scope="module")
def browser(chromium: str):
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        except Error as err:
            pytest.fail(f"chromium ({chromium}) could not start under Playwright: {err}", pytrace=False)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, lab, artifacts: Path, request: pytest.FixtureRequest):
    """A fresh JupyterLab tab on a workspace of its own (JupyterLab would otherwise reopen the notebooks
    of the previous test, and start their kernels); ``page.lzsc_errors`` collects console errors and
    uncaught exceptions. The tab's last state is saved as ``<test name>_page.png``, failed or not."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.lzsc_errors = []
    tab.on("console", lambda msg: msg.type == "error" and tab.lzsc_errors.append(f"console: {msg.text}"))
    tab.on("pageerror", lambda err: tab.lzsc_errors.append(f"page error: {err}"))
    tab.goto(lab.url(f"lab/workspaces/{request.node.name}"))
    tab.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    tab.evaluate("() => window.jupyterapp.restored")
    yield tab
    from playwright.sync_api import Error

    try:  # free the kernel's CPU for the next notebook (the server's shutdown stops it anyway)
        tab.screenshot(path=artifacts / f"{request.node.name}_page.png")
        tab.evaluate("() => window.jupyterapp.shell.currentWidget?.sessionContext?.shutdown()")
    except Error:
        pass
    finally:
        context.close()


def run_notebook(page, name: str) -> None:
    """Open ``name`` in the page's JupyterLab, run all cells, and fail on a cell error or an unrun cell."""
    result = page.evaluate(OPEN_AND_RUN_ALL, [name, RUN_ALL_TIMEOUT_S * 1000])
    assert result["kernel"] == "python3", result
    wait_idle(page)  # the last cell's reply can come before the kernel's status message "idle"
    report = page.evaluate(NOTEBOOK_REPORT)
    raised = [f"cell {c['index']}: {'; '.join(c['errors'])}" for c in report["cells"] if c["errors"]]
    assert not raised, f"{name}: a cell raised in JupyterLab:\n" + "\n".join(raised)
    unrun = [c["index"] for c in report["cells"] if c["count"] is None]
    assert not unrun, f"{name}: run-all stopped; code cells not run: {unrun}"
    assert result["ok"], f"{name}: JupyterLab's run-all reported a failure"
    # alive: the widgets' first messages can make it busy again for a moment, so not necessarily idle
    assert report["status"] in ("idle", "busy"), f"{name}: kernel {report['status']} after run-all"


def slider_label(page, slider: str):
    return page.locator(".widget-label", has_text=re.compile(f"^{slider}$"))


def explorer(page, slider: str):
    """The ipywidgets ``interactive`` whose slider is labelled ``slider``, scrolled into view."""
    widget = page.locator(".widget-interact").filter(has=slider_label(page, slider))
    widget.wait_for(state="visible", timeout=30_000)
    widget.scroll_into_view_if_needed()
    widget.locator(".widget-output img").wait_for(state="visible", timeout=30_000)
    return widget


def move_slider_and_compare(page, widget, slider: str, presses: int, artifacts: Path, stem: str) -> str:
    """Screenshot ``widget``, press an arrow key ``presses`` times on its ``slider`` handle (to the right
    unless that would pass the maximum), wait for a new figure and screenshot again; returns the value."""
    image = widget.locator(".widget-output img")
    before = image.get_attribute("src")
    widget.screenshot(path=artifacts / f"{stem}_before.png")
    handle = widget.locator(".widget-slider", has=slider_label(page, slider)).locator(".noUi-handle")
    now, top = float(handle.get_attribute("aria-valuenow")), float(handle.get_attribute("aria-valuemax"))
    handle.focus()
    key = "ArrowRight" if now < top else "ArrowLeft"
    for _ in range(presses):
        handle.press(key)
    moved = handle.get_attribute("aria-valuenow")
    assert float(moved) != now, f"the {slider} slider did not move with {key} (value {now})"
    page.wait_for_function(
        "([root, old]) => { const img = root.querySelector('.widget-output img');"
        " return img !== null && img.complete && img.src !== old; }",
        arg=[widget.element_handle(), before],
        timeout=REDRAW_TIMEOUT_MS,
    )
    after = settled_image(page, image)
    widget.screenshot(path=artifacts / f"{stem}_after.png")
    assert after != before, f"moving {slider} from {now} to {moved} did not change the figure"
    assert (artifacts / f"{stem}_before.png").read_bytes() != (artifacts / f"{stem}_after.png").read_bytes()
    return moved


def wait_idle(page) -> None:
    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel?.status !== 'busy'",
        timeout=REDRAW_TIMEOUT_MS,
    )


def settled_image(page, image) -> str:
    """The figure's ``src`` once the kernel is idle and it stayed the same for a second: each key press is
    a slider change of its own (continuous updates), and the first redraw is not the last."""
    last = None
    for _ in range(REDRAW_TIMEOUT_MS // 1000):
        wait_idle(page)
        src = image.get_attribute("src")
        if src == last:
            return src
        last = src
        page.wait_for_timeout(1000)
    raise AssertionError(f"the figure kept changing for {REDRAW_TIMEOUT_MS // 1000} s")


def assert_clean_console(page, name: str) -> None:
    widget_errors = page.locator("text=/Error displaying widget|model not found/i")
    assert widget_errors.count() == 0, f"{name}: {widget_errors.first.inner_text()}"
    print(f"{name}: browser console errors:", page.lzsc_errors or "none")
    errors = [e for e in page.lzsc_errors if not any(re.search(p, e) for p in HARMLESS_CONSOLE)]
    assert not errors, f"{name}: errors in the browser console:\n" + "\n".join(errors)


def test_threshold_explorer_alpha_slider(page, artifacts: Path) -> None:
    run_notebook(page, "03_thresholds.ipynb")
    widget = explorer(page, "alpha")
    moved = move_slider_and_compare(page, widget, "alpha", 4, artifacts, "03_threshold_explorer")
    assert_clean_console(page, "03_thresholds.ipynb")
    print(f"threshold explorer: alpha -> {moved}, figure redrawn")


def test_iterate_viewer_channel_slider(page, artifacts: Path) -> None:
    # 09 shows the released FNet (LZSC_DATA) or ours (../runs/quick, written by notebooks 06-07); either
    # suffices (it passed here with the released weights and no runs/). With neither it would fall back to
    # an untrained FNet, which is not the viewer a student sees.
    root = data_root()
    released = root is not None and (root / "checkpoints" / "fnet_official.pth").is_file()
    if not released and not (REPO / "runs" / "quick" / "stage2" / "stage2.pt").is_file():
        pytest.skip(
            "notebook 09 has no trained FNet: neither $LZSC_DATA/checkpoints/fnet_official.pth nor "
            "runs/quick/stage2/stage2.pt (run notebooks 06-07, quick profile)"
        )
    run_notebook(page, "09_interpretability.ipynb")
    widget = explorer(page, "channel")
    moved = move_slider_and_compare(page, widget, "channel", 1, artifacts, "09_iterate_viewer")
    assert_clean_console(page, "09_interpretability.ipynb")
    print(f"iterate viewer: channel -> {moved}, figure redrawn")
