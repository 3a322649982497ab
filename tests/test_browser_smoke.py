"""Smoke test of the browser harness: a tiny ipywidgets notebook driven in JupyterLab.

Writes a notebook (FloatLogSlider + Button + Image + Label), starts JupyterLab on
127.0.0.1, runs the notebook in headless Chromium, moves the slider with the keyboard,
clicks the button and checks that the Image widget now shows a PNG whose grey level
encodes the slider's value.  Screenshot: ``artifacts/browser/smoke.png``.

Needs Chromium (``apt-get install -y --no-install-recommends chromium``, or
``STYLELAB_CHROMIUM``) and ``pip install playwright`` (no ``playwright install``).
Skipped with the reason when those are missing, except under CI (``CI`` set), where a
missing piece fails the test.
"""

from __future__ import annotations

import contextlib
import math
import re
import shutil
from pathlib import Path

import pytest

try:
    import browser_harness as bh
except ImportError:  # tests/ imported as a package
    from tests import browser_harness as bh

try:
    import pytest_timeout  # noqa: F401

    _timeout = [pytest.mark.timeout(120)]  # backstop; each harness step has its own, shorter
except ImportError:
    _timeout = []

pytestmark = [pytest.mark.browser, *_timeout]

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "artifacts" / "browser"
NOTEBOOK = "smoke.ipynb"

# Slider exponent range [LOG_MIN, LOG_MAX]; the image is grey level round(255 * t), t
# the slider's position in that range, so its pixels tell which value the kernel saw.
LOG_MIN, LOG_MAX = -2, 2

SMOKE_CELLS = [
    f"""\
import io
import math

import ipywidgets as widgets
from IPython.display import display
from PIL import Image

LOG_MIN, LOG_MAX = {LOG_MIN}, {LOG_MAX}
alpha = widgets.FloatLogSlider(value=1.0, base=10, min=LOG_MIN, max=LOG_MAX, step=0.1, description="alpha")
render = widgets.Button(description="Render")
image = widgets.Image(format="png", width=128, height=128)
status = widgets.Label(value="not rendered")


def grey_for(value):
    return round(255 * (math.log10(value) - LOG_MIN) / (LOG_MAX - LOG_MIN))


def draw(value):
    level = grey_for(value)
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (level, level, level)).save(buf, format="PNG")
    image.value = buf.getvalue()
    status.value = f"rendered alpha={{value:.4g}} grey={{level}}"


render.on_click(lambda _button: draw(alpha.value))
draw(alpha.value)
""",
    "display(widgets.VBox([alpha, render, image, status]))",
]


def expected_grey(value: float) -> int:
    return round(255 * (math.log10(value) - LOG_MIN) / (LOG_MAX - LOG_MIN))


def status_text(page) -> str:
    labels = page.locator(".jp-Notebook .widget-label").all_inner_texts()
    found = [t.strip() for t in labels if t.strip().startswith(("rendered", "not rendered"))]
    assert len(found) == 1, f"status label not found among {labels}"
    return found[0]


def require_browser_stack() -> None:
    missing = bh.missing_browser_requirements()
    if not missing:
        return
    message = "browser test prerequisites missing:\n- " + "\n- ".join(missing)
    if bh.in_ci():
        pytest.fail(message + "\n(CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def test_widget_notebook_in_jupyterlab(tmp_path):
    require_browser_stack()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    root = tmp_path / "root"
    bh.write_notebook(root / NOTEBOOK, SMOKE_CELLS)
    server_log = tmp_path / "jupyterlab.log"

    with bh.jupyterlab_server(root, log_path=server_log) as lab, bh.chromium_page() as page:
        try:
            bh.open_notebook(page, lab, NOTEBOOK)
            bh.run_all_cells(page, NOTEBOOK, lab=lab)
            bh.wait_for_widgets(page, 1, lab=lab)
            bh.hide_sidebars(page)

            # Initial state, drawn by the first cell at alpha = 1.
            assert bh.slider_readout(page, "alpha") == "1.00"
            src_before = bh.image_src(page)
            assert src_before, "Image widget has no src"
            assert bh.image_pixel(page, 10, 10)[:3] == (128, 128, 128)
            assert status_text(page) == "rendered alpha=1 grey=128"

            # Move the slider five steps (0.1 in the exponent each) and render again.
            readout = bh.move_slider(page, "alpha", steps=5)
            assert readout == "3.16", readout
            bh.click_button(page, "Render")
            src_after = bh.wait_for_image_change(page, src_before)
            assert src_after != src_before

            # The kernel saw the new value: the label and the pixels agree with it.
            text = status_text(page)
            match = re.fullmatch(r"rendered alpha=([0-9.e+-]+) grey=(\d+)", text)
            assert match, text
            kernel_value, grey = float(match[1]), int(match[2])
            assert kernel_value == pytest.approx(10**0.5, rel=1e-3)
            assert grey == expected_grey(kernel_value) == 159
            r, g, b, a = bh.image_pixel(page, 10, 10)
            assert (r, g, b, a) == (grey, grey, grey, 255)

            shot = bh.screenshot(page, ARTIFACTS / "smoke.png")
            assert shot.stat().st_size > 10_000
        except BaseException:
            # Keep what CI needs to diagnose the failure; never mask the original error.
            with contextlib.suppress(Exception):
                bh.screenshot(page, ARTIFACTS / "smoke-failure.png")
            with contextlib.suppress(Exception):
                shutil.copyfile(server_log, ARTIFACTS / "smoke-jupyterlab.log")
            with contextlib.suppress(Exception):
                (ARTIFACTS / "smoke-console.log").write_text(bh.page_log(page))
            raise
