"""The explorer notebook in a real browser: JupyterLab on 127.0.0.1 and headless Chromium.

Starts JupyterLab (random free port, random token, temporary config folders), opens
``notebooks/08_explorer.ipynb`` (a copy, with a small size and few steps injected after
its ``parameters`` cell), runs it, moves the α/β slider with the keyboard, ticks *record a
film*, clicks Run and waits for the preview to change while the run is going on (widget
updates sent from the optimisation thread), then for the run to finish with the slider's
value in its history card, and for its film (decoded by the browser, offered as a download,
written by Save film); then starts a long run and stops it with Stop (the kernel stays responsive while
it optimises). Screenshots: ``artifacts/browser/explorer.png`` (the page) and
``artifacts/browser/explorer-widget.png`` (the explorer alone); with
``STYLELAB_UPDATE_SCREENSHOT=1`` the latter also replaces ``docs/explorer.png`` (the
README's screenshot).

Needs the real network and sample images (``STYLELAB_WEIGHTS``, ``STYLELAB_DATA_DIR``),
Chromium (``apt-get install -y --no-install-recommends chromium``, or ``STYLELAB_CHROMIUM``)
and ``pip install playwright jupyterlab ipywidgets`` (no ``playwright install``: the
system Chromium is used). Skipped with the reason when something is missing, except
under CI (``CI`` set), where a missing piece fails the test.

Size and steps: ``STYLELAB_BROWSER_SIZE`` (default 64 px) and ``STYLELAB_BROWSER_STEPS``
(default 12); the screenshot for the README was taken with 128 px and 40 steps.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from pathlib import Path

import pytest

try:
    import browser_harness as bh
except ImportError:  # tests/ imported as a package
    from tests.explorer import browser_harness as bh

try:
    import pytest_timeout  # noqa: F401

    _timeout = [pytest.mark.timeout(420)]  # backstop; each harness step has its own, shorter
except ImportError:
    _timeout = []

pytestmark = [pytest.mark.browser, pytest.mark.weights, *_timeout]

REPO_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO_ROOT / "notebooks" / "08_explorer.ipynb"
ARTIFACTS = REPO_ROOT / "artifacts" / "browser"
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "explorer.png"
UPDATE_ENV = "STYLELAB_UPDATE_SCREENSHOT"
MAX_DOCS_BYTES = 300_000

PREVIEW = "img.stylelab-preview"
CURVES = "img.stylelab-curves"
CARD = ".stylelab-history-card"
EXPLORER = ".stylelab-explorer"
MESSAGE = ".stylelab-message"
FILM = ".stylelab-film"


def _int_env(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def require_stack() -> None:
    missing = bh.missing_browser_requirements()
    for var in ("STYLELAB_WEIGHTS", "STYLELAB_DATA_DIR"):
        if not os.environ.get(var, "").strip():
            missing.append(f"{var} is not set (the explorer runs the real network on the sample images)")
    if not missing:
        return
    message = "browser test prerequisites missing:\n- " + "\n- ".join(missing)
    if bh.in_ci():
        pytest.fail(message + "\n(CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def _shrink_png(source: Path, target: Path, limit: int = MAX_DOCS_BYTES) -> Path:
    """Copy a screenshot as a palette PNG (and smaller, if needed) under ``limit`` bytes."""
    from PIL import Image

    im = Image.open(source).convert("RGB")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    while True:
        im.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            tmp, format="PNG", optimize=True
        )
        if tmp.stat().st_size <= limit or im.width < 400:
            break
        im = im.resize((int(im.width * 0.85), int(im.height * 0.85)), Image.Resampling.LANCZOS)
    os.replace(tmp, target)
    return target


def _check_film(page, out: Path, steps: int) -> None:
    """Run #1's film is shown (an MP4 the browser decodes, or an animated GIF without
    imageio-ffmpeg), offered as a download, and Save film writes it to the output folder."""
    from stylelab import film

    fmt = "mp4" if film.has_mp4() else "gif"
    text = bh.wait_for_text(page, FILM, r"film of run #1", timeout=60)
    assert f"of {steps} steps" in text and fmt.upper() in text, text
    link = page.locator(f".jp-Notebook {FILM} a.stylelab-film-download")
    assert link.get_attribute("download") == f"run-001.{fmt}"
    mime = "video/mp4" if fmt == "mp4" else "image/gif"
    assert link.get_attribute("href").startswith(f"data:{mime};base64,")
    if fmt == "mp4":  # the browser decodes it: its first frame is there
        video = page.locator(f".jp-Notebook {FILM} video")
        page.wait_for_function("(v) => v.readyState >= 2 && v.videoWidth > 0", arg=video.element_handle(),
                               timeout=30_000)
    else:
        assert page.locator(f".jp-Notebook {FILM} img").is_visible()
    page.locator(f".jp-Notebook {FILM} button", has_text="Save film").click()
    bh.wait_for_text(page, MESSAGE, r"saved the film to", timeout=30)
    assert (out / "08_explorer" / f"run-001.{fmt}").stat().st_size > 1000


def test_explorer_notebook_in_jupyterlab(tmp_path):
    require_stack()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in ARTIFACTS.glob("explorer*"):
        stale.unlink()
    size = _int_env("STYLELAB_BROWSER_SIZE", 64)
    steps = _int_env("STYLELAB_BROWSER_STEPS", 12)
    server_log = tmp_path / "jupyterlab.log"
    out = tmp_path / "explorer-out"
    timings: dict[str, float] = {}
    t0 = time.monotonic()

    with bh.notebook_session(
        NOTEBOOK,
        root_dir=tmp_path / "root",
        parameters={"size": size, "steps": steps, "stages": 1, "output_dir": str(out)},
        server_log=server_log,
        viewport=(1400, 1800),
        run_timeout=120,
    ) as (lab, page):
        try:
            timings["notebook ran"] = time.monotonic() - t0
            bh.hide_sidebars(page)
            page.locator(f".jp-Notebook {EXPLORER}").wait_for(state="visible")

            # The slider: ten key presses of 0.1 in the exponent, 1e-3 -> 1e-4 (more style).
            assert bh.slider_readout(page, "α/β") == "1.00e-3"
            assert bh.move_slider(page, "α/β", steps=-10) == "1.00e-4"
            bh.set_text(page, "update every", 2)
            bh.click_toggle(page, "content")  # start from the photograph
            assert bh.click_checkbox(page, "record a film")  # stylelab.explorer.film

            # Run: the preview changes while the run is going on, then the run finishes.
            placeholder = bh.image_src(page, selector=PREVIEW)
            t_run = time.monotonic()
            bh.click_button(page, "Run")
            first = bh.wait_for_image_change(page, placeholder, selector=PREVIEW, timeout=120)
            timings["first preview"] = time.monotonic() - t_run
            card = bh.wait_for_text(page, CARD, r"loss", timeout=180)
            timings["run finished"] = time.monotonic() - t_run
            assert f"{steps}/{steps} steps" in card, card
            assert "α/β 0.0001" in card, card  # the kernel saw the slider's new value
            assert f"{size} px" in card and "L-BFGS · content · avg pool" in card, card
            assert bh.image_src(page, selector=PREVIEW) != first or steps <= 2
            assert page.locator(f".jp-Notebook {CURVES}").is_visible()
            bh.wait_for_text(page, MESSAGE, rf"run #1 finished: not converged after {steps} steps", timeout=30)

            # The film of run #1 plays under the curves, with a download link; Save film writes it.
            _check_film(page, out, steps)
            timings["film shown"] = time.monotonic() - t_run
            bh.screenshot(page, ARTIFACTS / "explorer.png")

            # Stop: a long run ends early and is kept; the kernel handled the click mid-run.
            bh.set_text(page, "steps", 500)
            before = bh.image_src(page, selector=PREVIEW)
            t_run = time.monotonic()
            bh.click_button(page, "Run")
            bh.wait_for_image_change(page, before, selector=PREVIEW, timeout=120)
            t_stop = time.monotonic()
            bh.click_button(page, "Stop")
            stopped = bh.wait_for_text(page, MESSAGE, r"run #2 stopped after \d+ of 500 steps", timeout=60)
            timings["stop took"] = time.monotonic() - t_stop
            done = int(re.search(r"stopped after (\d+)", stopped)[1])
            assert 2 <= done < 500, stopped
            bh.wait_for_text(page, CARD, r"#2", count=2, timeout=30)
            card2 = page.locator(f".jp-Notebook {CARD}").first.inner_text()  # newest first
            assert f"{done}/500 steps" in card2 and "stopped" in card2, card2
            timings["second run"] = time.monotonic() - t_run
            # The two runs are compared; the stopped run's film is made (the run ends with it);
            # "Show" puts run #1 back in the preview.
            bh.wait_for_text(page, ".stylelab-compare", r"final total loss", timeout=30)
            bh.wait_for_text(page, FILM, rf"film of run #2: \d+ frames of {done} steps", timeout=60)
            before = bh.image_src(page, selector=PREVIEW)
            page.locator(f".jp-Notebook {CARD}").nth(1).locator("button", has_text="Show").click()
            bh.wait_for_text(page, MESSAGE, r"showing run #1", timeout=30)
            bh.wait_for_image_change(page, before, selector=PREVIEW, timeout=30)
            bh.wait_for_text(page, FILM, r"film of run #1", timeout=30)  # and its film, not #2's
            bh.screenshot(page, ARTIFACTS / "explorer-stopped.png")
            explorer = page.locator(f".jp-Notebook {EXPLORER}")
            explorer.evaluate("(el) => el.scrollIntoView({block: 'start'})")
            bh.element_screenshot(explorer, ARTIFACTS / "explorer-widget.png")
            if os.environ.get(UPDATE_ENV, "").strip() not in ("", "0"):
                _shrink_png(ARTIFACTS / "explorer-widget.png", DOCS_SCREENSHOT)
                assert DOCS_SCREENSHOT.stat().st_size <= MAX_DOCS_BYTES
        except BaseException:
            with contextlib.suppress(Exception):
                bh.screenshot(page, ARTIFACTS / "explorer-failure.png")
            with contextlib.suppress(Exception):
                shutil.copyfile(server_log, ARTIFACTS / "explorer-jupyterlab.log")
            with contextlib.suppress(Exception):
                (ARTIFACTS / "explorer-console.log").write_text(bh.page_log(page))
            raise
    timings["total"] = time.monotonic() - t0
    print("browser explorer timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
