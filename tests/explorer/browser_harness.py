"""Helpers for driving an ipywidgets notebook in a real JupyterLab, in headless Chromium.

Not a test module: ``tests/test_browser_*.py`` import it.  The pieces:

- :func:`find_chromium` -- ``/usr/bin/chromium`` (Debian package ``chromium``), or the
  path in ``STYLELAB_CHROMIUM``; raises :class:`ChromiumNotFound` otherwise.
- :func:`jupyterlab_server` -- context manager: JupyterLab as a subprocess on 127.0.0.1
  only, a free port, a random token, temporary root / config / data / runtime /
  settings / workspaces directories (the user's own are never read or written), the
  news and update checks and the build check turned off, ``window.jupyterapp``
  exposed.  Waits until ``/api/status`` answers; on exit shuts the server down through
  the API, then kills its process group and every kernel it started.
- :func:`chromium_page` -- context manager: a Playwright page in headless Chromium with
  a fresh user-data-dir.
- :func:`open_notebook`, :func:`wait_for_kernel_idle`, :func:`run_all_cells`,
  :func:`wait_for_widgets` -- load a notebook in the page and execute it.
- :func:`slider`, :func:`slider_readout`, :func:`move_slider`, :func:`set_slider_readout`,
  :func:`drag_slider`, :func:`click_button`, :func:`click_checkbox`, :func:`click_toggle`, :func:`text_input`,
  :func:`set_text`, :func:`image_src`, :func:`wait_for_image_change`, :func:`image_pixel` (images by index,
  or by a CSS ``selector`` such as a class given with ``add_class``), :func:`wait_for_text`,
  :func:`hide_sidebars`, :func:`screenshot`, :func:`element_screenshot` -- interact and record.
- :func:`copy_notebook` -- copy a notebook, injecting parameters after its ``parameters``
  cell as papermill does.
- :func:`notebook_session` -- all of the above in one ``with`` for the common case.

Every wait has a timeout (seconds) and raises :class:`BrowserHarnessError` with the
server log tail and the browser console attached, so a hang fails rather than stalls.

Example::

    from browser_harness import notebook_session, move_slider, click_button, ...

    with notebook_session("demo.ipynb", cells=[SOURCE]) as (lab, page):
        src = image_src(page)
        move_slider(page, "alpha", steps=5)
        click_button(page, "Render")
        wait_for_image_change(page, src)
        screenshot(page, "artifacts/browser/demo.png")
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # playwright is optional at import time; tests skip / fail on it
    from playwright.sync_api import Locator, Page

CHROMIUM_ENV = "STYLELAB_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"

#: Command-line switches for Chromium.  ``--disable-dev-shm-usage`` keeps Chromium from
#: crashing in containers whose /dev/shm is small (Docker's default is 64 MB).
CHROMIUM_ARGS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"

# Per-step defaults (seconds).  Each is well under the test's overall limit, so one
# stuck step fails the test with its own message.
SERVER_START_TIMEOUT = 60.0
PAGE_LOAD_TIMEOUT = 60.0
KERNEL_TIMEOUT = 60.0
RUN_TIMEOUT = 60.0
WIDGET_TIMEOUT = 30.0


class BrowserHarnessError(RuntimeError):
    """A step of the browser harness failed or timed out."""


class ChromiumNotFound(BrowserHarnessError):
    """No Chromium executable where we looked."""


class NotebookCellError(BrowserHarnessError):
    """A cell raised an exception while the notebook ran in the browser."""


# --------------------------------------------------------------------------- environment


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to something other than false."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_chromium() -> str:
    """Path of the Chromium executable: ``$STYLELAB_CHROMIUM`` or ``/usr/bin/chromium``."""
    override = os.environ.get(CHROMIUM_ENV, "").strip()
    candidate = override or DEFAULT_CHROMIUM
    resolved = shutil.which(candidate) if os.sep not in candidate else candidate
    if resolved and os.path.isfile(resolved) and os.access(resolved, os.X_OK):
        return resolved
    where = f"{CHROMIUM_ENV}={override!r}" if override else DEFAULT_CHROMIUM
    raise ChromiumNotFound(
        f"Chromium not found at {where}. Install it with "
        "`apt-get install -y --no-install-recommends chromium`, or point "
        f"{CHROMIUM_ENV} at a Chromium/Chrome executable."
    )


def missing_browser_requirements() -> list[str]:
    """What is missing to run browser tests (empty list when everything is there)."""
    missing = []
    try:
        find_chromium()
    except ChromiumNotFound as exc:
        missing.append(str(exc))
    for module, pip_name in (
        ("playwright.sync_api", "playwright"),
        ("jupyterlab", "jupyterlab"),
        ("ipykernel", "ipykernel"),
        ("ipywidgets", "ipywidgets"),
        ("jupyterlab_widgets", "jupyterlab_widgets (comes with ipywidgets)"),
    ):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"Python package {pip_name} is not installed (pip install {pip_name.split()[0]})")
    return missing


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def write_notebook(path: str | os.PathLike, cells: Sequence[str], kernel_name: str = "python3") -> Path:
    """Write a notebook of code ``cells`` with a kernelspec, so JupyterLab starts the
    kernel without asking which one."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": kernel_name, "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- JupyterLab


@dataclass
class JupyterLab:
    """A running JupyterLab started by :func:`jupyterlab_server`."""

    port: int
    token: str
    root_dir: Path
    process: subprocess.Popen
    log_path: Path
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def notebook_url(self, name: str) -> str:
        """``/lab/tree/NAME?token=...`` for a notebook under ``root_dir``."""
        from urllib.parse import quote

        return f"{self.url}/lab/tree/{quote(str(name))}?token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5.0) -> Any:
        """Call the REST API with the token; returns the decoded JSON (or None)."""
        req = urllib.request.Request(
            f"{self.url}{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
            data=b"" if method != "GET" else None,
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


def _lab_settings(settings_dir: Path) -> None:
    """User settings for the test session: no news prompt, no update check, every cell
    in the DOM, start the preferred kernel without a dialog."""
    settings = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false",
            "checkForUpdates": False,
        },
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
            "windowingMode": "none",
            "autoStartDefaultKernel": True,
        },
    }
    for rel, data in settings.items():
        target = settings_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(data, indent=2))


def _descendants(pid: int) -> list[int]:
    """All descendant pids of ``pid`` (Linux /proc; empty elsewhere)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode(errors="replace")
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def _signal_groups(pids: Sequence[int], sig: int) -> None:
    """Send ``sig`` to each pid's process group (kernels run in their own session)."""
    seen = set()
    for pid in pids:
        try:
            pgid = os.getpgid(pid)
        except ProcessLookupError:
            continue
        if pgid in seen or pgid == os.getpgid(0):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            continue
        seen.add(pgid)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


def _stop_server(lab: JupyterLab, grace: float = 10.0) -> None:
    proc = lab.process
    if proc.poll() is not None:
        return
    family = [proc.pid, *_descendants(proc.pid)]  # kernels included: they are children
    # 1. Polite: the server shuts its kernels down and exits.
    with contextlib.suppress(Exception):
        lab.api("/api/shutdown", method="POST", timeout=3)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    # 2. Firm: SIGTERM, then SIGKILL, to the server's group and every kernel's group.
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        alive = [p for p in family if _alive(p)]
        if not alive:
            break
        _signal_groups(alive, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(_alive(p) for p in family):
            time.sleep(0.1)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().decode(errors="replace").rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


@contextlib.contextmanager
def jupyterlab_server(
    root_dir: str | os.PathLike | None = None,
    *,
    python: str = sys.executable,
    startup_timeout: float = SERVER_START_TIMEOUT,
    extra_args: Sequence[str] = (),
    log_path: str | os.PathLike | None = None,
    disabled_extensions: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[JupyterLab]:
    """Run JupyterLab on 127.0.0.1 for the duration of the ``with`` block.

    ``root_dir`` is the notebook directory (a fresh temporary one when None).  Jupyter's
    config, data, runtime, settings and workspaces directories and IPYTHONDIR all point
    into a temporary directory, removed afterwards.  ``log_path``: where the server's
    stdout/stderr go (inside the temporary directory when None; give a path to keep it).
    ``disabled_extensions``: JupyterLab plugin or extension ids to disable (page config).
    ``env``: extra environment variables for the server and the kernels it starts.
    """
    with tempfile.TemporaryDirectory(prefix="stylelab-lab-") as tmp_name:
        tmp = Path(tmp_name)
        root = Path(root_dir) if root_dir is not None else tmp / "root"
        root.mkdir(parents=True, exist_ok=True)
        dirs = {
            name: tmp / name for name in ("config", "data", "runtime", "settings", "workspaces", "ipython")
        }
        for d in dirs.values():
            d.mkdir()
        _lab_settings(dirs["settings"])
        (dirs["config"] / "labconfig").mkdir()
        # The "Build recommended" dialog is for source extensions; never wanted here.
        (dirs["config"] / "labconfig" / "page_config.json").write_text(
            json.dumps(
                {
                    "buildCheck": False,
                    "buildAvailable": False,
                    "disabledExtensions": {name: True for name in disabled_extensions},
                }
            )
        )
        server_env = dict(os.environ)
        server_env.update(env or {})
        env = server_env
        env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
            JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
            IPYTHONDIR=str(dirs["ipython"]),
            PYTHONUNBUFFERED="1",
        )
        env.pop("JUPYTER_TOKEN", None)
        env.pop("JUPYTER_PORT", None)
        log_file_path = Path(log_path) if log_path is not None else tmp / "jupyterlab.log"
        log_file_path.parent.mkdir(parents=True, exist_ok=True)

        last_error = "not started"
        for _attempt in range(3):  # the port can be taken between free_port() and bind
            port, token = free_port(), secrets.token_hex(24)
            cmd = [
                python, "-m", "jupyterlab",
                "--no-browser",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                f"--ServerApp.root_dir={root}",
                f"--IdentityProvider.token={token}",
                "--ServerApp.password=",
                "--ServerApp.allow_remote_access=False",
                "--ServerApp.terminals_enabled=False",
                "--LabApp.expose_app_in_browser=True",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                f"--LabApp.user_settings_dir={dirs['settings']}",
                f"--LabApp.workspaces_dir={dirs['workspaces']}",
                # CI containers run as root; the server refuses root without this.
                *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
                *extra_args,
            ]  # fmt: skip
            log_fh = open(log_file_path, "ab")  # noqa: SIM115 (closed below)
            proc = subprocess.Popen(
                cmd, cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=log_fh,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            lab = JupyterLab(port=port, token=token, root_dir=root, process=proc, log_path=log_file_path)
            try:
                _wait_until_up(lab, startup_timeout)
            except BaseException as exc:
                _stop_server(lab)
                log_fh.close()
                if (
                    isinstance(exc, BrowserHarnessError)
                    and "address already in use" in lab.log_tail().lower()
                ):
                    last_error = str(exc)
                    continue
                raise
            try:
                yield lab
            finally:
                _stop_server(lab)
                log_fh.close()
            return
        raise BrowserHarnessError(f"JupyterLab did not start after 3 attempts: {last_error}")


def _wait_until_up(lab: JupyterLab, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if lab.process.poll() is not None:
            raise BrowserHarnessError(
                f"JupyterLab exited with code {lab.process.returncode} before answering.\n"
                f"--- server log ---\n{lab.log_tail()}"
            )
        try:
            status = lab.api("/api/status", timeout=2)
            if isinstance(status, dict):
                return
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = repr(exc)
        time.sleep(0.25)
    raise BrowserHarnessError(
        f"JupyterLab did not answer /api/status within {timeout:.0f}s (last: {last}).\n"
        f"--- server log ---\n{lab.log_tail()}"
    )


# --------------------------------------------------------------------------- Chromium


@dataclass
class _PageLog:
    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)
        del self.lines[:-200]


def page_log(page: Page) -> str:
    """Console messages and page errors collected for ``page`` (last 200)."""
    log = getattr(page, "_stylelab_log", None)
    return "\n".join(log.lines) if log else "(no console log)"


@contextlib.contextmanager
def chromium_page(
    *,
    chromium: str | None = None,
    viewport: tuple[int, int] = (1400, 1000),
    timeout: float = 30.0,
    args: Sequence[str] = CHROMIUM_ARGS,
) -> Iterator[Page]:
    """A Playwright page in headless Chromium, with a fresh temporary user-data-dir.

    ``timeout`` is Playwright's default for every action and wait on the page.
    """
    from playwright.sync_api import sync_playwright

    executable = chromium or find_chromium()
    with tempfile.TemporaryDirectory(prefix="stylelab-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(args),
            viewport={"width": viewport[0], "height": viewport[1]},
            timeout=timeout * 1000,
        )
        try:
            context.set_default_timeout(timeout * 1000)
            page = context.pages[0] if context.pages else context.new_page()
            log = _PageLog()
            page._stylelab_log = log  # type: ignore[attr-defined]
            page.on("console", lambda msg: log.add(f"[console.{msg.type}] {msg.text}"))
            page.on("pageerror", lambda err: log.add(f"[pageerror] {err}"))
            yield page
        finally:
            with contextlib.suppress(Exception):
                context.close()


# --------------------------------------------------------------------------- notebook


def _fail(page: Page, message: str, lab: JupyterLab | None = None) -> BrowserHarnessError:
    parts = [message]
    with contextlib.suppress(Exception):
        dialogs = page.locator(".jp-Dialog").all_inner_texts()
        if dialogs:
            parts.append(f"--- open dialogs ---\n{dialogs}")
    parts.append(f"--- browser console ---\n{page_log(page)[-3000:]}")
    if lab is not None:
        parts.append(f"--- server log ---\n{lab.log_tail(3000)}")
    return BrowserHarnessError("\n".join(parts))


_JS_PANEL = """
(name) => {
  const app = window.jupyterapp;
  if (!app) return null;
  for (const w of app.shell.widgets('main')) {
    if (w.context && w.context.path === name && w.content && w.sessionContext) return w;
  }
  return null;
}
"""


def _panel_js(body: str) -> str:
    """A JS function of ``name`` with ``panel`` bound to the open NotebookPanel."""
    return f"(name) => {{ const panel = ({_JS_PANEL})(name); {body} }}"


def open_notebook(
    page: Page,
    lab: JupyterLab,
    name: str,
    *,
    timeout: float = PAGE_LOAD_TIMEOUT,
    kernel_timeout: float = KERNEL_TIMEOUT,
) -> None:
    """Load ``/lab/tree/NAME`` and wait for JupyterLab, the notebook panel and an idle kernel."""
    page.goto(lab.notebook_url(name), wait_until="domcontentloaded", timeout=timeout * 1000)
    try:
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell", timeout=timeout * 1000)
        page.evaluate("() => window.jupyterapp.restored")
        page.wait_for_function(
            _panel_js("return !!panel && panel.context.isReady;"), arg=name, timeout=timeout * 1000
        )
    except Exception as exc:
        raise _fail(page, f"JupyterLab did not open {name} within {timeout:.0f}s: {exc}", lab) from exc
    page.evaluate(_panel_js("window.jupyterapp.shell.activateById(panel.id);"), name)
    wait_for_kernel_idle(page, name, timeout=kernel_timeout, lab=lab)


def wait_for_kernel_idle(
    page: Page, name: str, *, timeout: float = KERNEL_TIMEOUT, lab: JupyterLab | None = None
) -> None:
    """Wait until the notebook's kernel exists and reports ``idle``."""
    js = _panel_js(
        "if (!panel) return 'no notebook panel';"
        "const sc = panel.sessionContext;"
        "if (!sc.isReady) return 'session not ready';"
        "if (sc.hasNoKernel) return 'no kernel (kernel selection needed?)';"
        "const k = sc.session && sc.session.kernel;"
        "return k ? k.status : 'no kernel yet';"
    )
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        status = page.evaluate(js, name)
        if status == "idle":
            return
        if status in ("dead", "autorestarting") or (status or "").startswith("no kernel ("):
            break
        if page.locator(".jp-Dialog").count():
            break
        page.wait_for_timeout(250)
    raise _fail(page, f"kernel for {name} not idle within {timeout:.0f}s (status: {status})", lab)


def run_all_cells(
    page: Page, name: str, *, timeout: float = RUN_TIMEOUT, lab: JupyterLab | None = None
) -> None:
    """Run every cell (command ``notebook:run-all-cells``) and wait for the run to end.

    Raises :class:`NotebookCellError` with the traceback when a cell raised.  Needs
    ``window.jupyterapp`` (``--LabApp.expose_app_in_browser=True``, set by
    :func:`jupyterlab_server`): the command registry and the notebook model are the
    robust handles in JupyterLab 4.x; menu labels and shortcuts are not.
    """
    if not page.evaluate("() => !!window.jupyterapp"):
        raise _fail(
            page,
            "window.jupyterapp is not exposed: start JupyterLab with "
            "--LabApp.expose_app_in_browser=True (jupyterlab_server() does)",
            lab,
        )
    # The command returns NotebookActions.runAll's promise; record its outcome on window
    # and poll, so that the wait has a timeout (page.evaluate would wait forever).
    page.evaluate(
        _panel_js(
            "window.jupyterapp.shell.activateById(panel.id);"
            "window.__stylelabRun = {done: false, ok: null, error: null};"
            "window.jupyterapp.commands.execute('notebook:run-all-cells').then("
            "  (ok) => { window.__stylelabRun = {done: true, ok: ok, error: null}; },"
            "  (err) => { window.__stylelabRun = {done: true, ok: false, error: String(err)}; });"
        ),
        name,
    )

    deadline = time.monotonic() + timeout
    js_state = _panel_js(
        "const cells = [];"
        "for (const cell of panel.content.widgets) {"
        "  const m = cell.model; if (m.type !== 'code') continue;"
        "  const errors = [];"
        "  for (const o of m.outputs.toJSON()) if (o.output_type === 'error')"
        "    errors.push(o.ename + ': ' + o.evalue + '\\n' + (o.traceback || []).join('\\n'));"
        "  cells.push({count: m.executionCount, running: cell.promptNode ? cell.promptNode.textContent.includes('*') : false,"
        "              errors: errors});"
        "}"
        "const k = panel.sessionContext.session && panel.sessionContext.session.kernel;"
        "return {run: window.__stylelabRun || null, kernel: k ? k.status : null, cells: cells};"
    )
    state: dict = {}
    while time.monotonic() < deadline:
        state = page.evaluate(js_state, name)
        errors = [e for c in state["cells"] for e in c["errors"]]
        if errors:
            raise NotebookCellError(
                "a cell raised while running in JupyterLab:\n" + _strip_ansi("\n\n".join(errors))
            )
        run = state.get("run")
        finished = run["done"] if run else all(c["count"] is not None for c in state["cells"])
        if finished and state["kernel"] == "idle" and not any(c["running"] for c in state["cells"]):
            if run and run.get("error"):
                raise _fail(page, f"run-all-cells failed: {run['error']}", lab)
            missing = [i for i, c in enumerate(state["cells"]) if c["count"] is None]
            if missing:
                raise _fail(page, f"cells {missing} did not run (run-all result {run})", lab)
            return
        page.wait_for_timeout(250)
    raise _fail(page, f"{name} did not finish running within {timeout:.0f}s (state: {state})", lab)


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", text)


def wait_for_widgets(
    page: Page, count: int = 1, *, timeout: float = WIDGET_TIMEOUT, lab: JupyterLab | None = None
) -> None:
    """Wait until ``count`` widget-view outputs have rendered as live widgets.

    Fails early when an output says "Error displaying widget"; on timeout, hints at a
    missing ipywidgets JupyterLab extension when the kernel sent views that never rendered.
    """
    js = (
        "() => {"
        "  const outs = [...document.querySelectorAll('.jp-Notebook .jp-OutputArea-output')];"
        "  const live = outs.filter(o => [...o.children].some(c => c.classList.contains('jupyter-widgets')));"
        "  const broken = outs.filter(o => o.textContent.includes('Error displaying widget'))"
        "                     .map(o => o.textContent.slice(0, 300));"
        "  let modelViews = null;"
        "  const app = window.jupyterapp;"
        "  if (app) { modelViews = 0;"
        "    for (const w of app.shell.widgets('main')) {"
        "      if (!w.content || !w.content.widgets) continue;"
        "      for (const cell of w.content.widgets) {"
        "        if (cell.model.type !== 'code') continue;"
        "        for (const o of cell.model.outputs.toJSON())"
        f"          if (o.data && o.data['{WIDGET_VIEW_MIME}']) modelViews++;"
        "      } } }"
        "  return {live: live.length, modelViews: modelViews, broken: broken};"
        "}"
    )
    deadline = time.monotonic() + timeout
    state: dict = {}
    while time.monotonic() < deadline:
        state = page.evaluate(js)
        if state["broken"]:
            raise _fail(page, f"widget failed to display: {state['broken']}", lab)
        if state["live"] >= count:
            return
        page.wait_for_timeout(250)
    hint = ""
    if state.get("modelViews") and not state.get("live"):
        hint = (
            " -- the kernel sent widget views but none rendered: is the ipywidgets JupyterLab "
            "extension (jupyterlab_widgets) installed in the server's environment?"
        )
    raise _fail(page, f"{count} widget(s) did not render within {timeout:.0f}s (state: {state}){hint}", lab)


# --------------------------------------------------------------------------- widgets


def _exact(text: str) -> re.Pattern:
    return re.compile(rf"^\s*{re.escape(text)}\s*$")


def _one(locator: Locator, what: str) -> Locator:
    n = locator.count()
    if n != 1:
        raise BrowserHarnessError(f"expected exactly one {what}, found {n}")
    return locator


def slider(page: Page, description: str) -> Locator:
    """The ipywidgets slider (Int/Float/FloatLog, horizontal or vertical) whose
    description label is exactly ``description``."""
    page.locator(".jp-Notebook .widget-slider").first.wait_for(state="visible")
    loc = page.locator(".jp-Notebook .widget-slider").filter(
        has=page.locator(".widget-label", has_text=_exact(description))
    )
    return _one(loc, f"slider described {description!r}")


def slider_readout(page: Page, description: str) -> str:
    """The slider's readout text (the value as the widget formats it)."""
    return slider(page, description).locator(".widget-readout").inner_text().strip()


def _wait_readout_change(page: Page, description: str, before: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    now = before
    while time.monotonic() < deadline:
        now = slider_readout(page, description)
        if now != before:
            return now
        page.wait_for_timeout(100)
    raise BrowserHarnessError(f"slider {description!r} readout stayed at {before!r}")


def move_slider(
    page: Page, description: str, steps: int = 1, *, key: str | None = None, timeout: float = 10.0
) -> str:
    """Focus the slider's handle and press an arrow key ``abs(steps)`` times (right /
    up for positive ``steps``); returns the new readout text."""
    handle = slider(page, description).locator(".noUi-handle")
    before = slider_readout(page, description)
    key = key or ("ArrowRight" if steps >= 0 else "ArrowLeft")
    handle.focus()
    for _ in range(abs(steps)):
        handle.press(key)
    return _wait_readout_change(page, description, before, timeout)


def set_slider_readout(page: Page, description: str, value: str | float, *, timeout: float = 10.0) -> str:
    """Type ``value`` into the slider's editable readout and press Enter (the widget
    clamps / rounds it); returns the new readout text."""
    readout = slider(page, description).locator(".widget-readout")
    before = readout.inner_text().strip()
    readout.click()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")
    return _wait_readout_change(page, description, before, timeout)


def drag_slider(page: Page, description: str, fraction: float, *, timeout: float = 10.0) -> str:
    """Drag the handle to ``fraction`` (0..1) of the track's length; returns the readout."""
    sl = slider(page, description)
    before = slider_readout(page, description)
    track = sl.locator(".noUi-target").bounding_box()
    handle = sl.locator(".noUi-handle").bounding_box()
    if not track or not handle:
        raise BrowserHarnessError(f"slider {description!r} is not visible")
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    x = track["x"] + max(0.0, min(1.0, fraction)) * track["width"]
    page.mouse.move(x, handle["y"] + handle["height"] / 2, steps=10)
    page.mouse.up()
    return _wait_readout_change(page, description, before, timeout)


def click_button(page: Page, description: str) -> None:
    """Click the ipywidgets Button whose text is exactly ``description``."""
    loc = page.locator(".jp-Notebook button.widget-button").filter(has_text=_exact(description))
    _one(loc, f"button {description!r}").click()


def click_checkbox(page: Page, description: str) -> bool:
    """Click the Checkbox whose description is exactly ``description``; return its new state."""
    # the label beside the box (the checkbox's own description label holds a zero-width space)
    loc = page.locator(".jp-Notebook .widget-checkbox label.widget-label-basic").filter(has_text=_exact(description))
    box = _one(loc, f"checkbox {description!r}").locator("input[type=checkbox]")
    box.click()
    return box.is_checked()


def click_toggle(page: Page, label: str) -> None:
    """Click the ToggleButtons option whose text is exactly ``label``."""
    loc = page.locator(".jp-Notebook button.widget-toggle-button").filter(has_text=_exact(label))
    _one(loc, f"toggle button {label!r}").click()


IMAGE_SELECTOR = "img.widget-image"


def image_locator(page: Page, index: int = 0, *, selector: str = IMAGE_SELECTOR) -> Locator:
    """The ``index``-th ipywidgets Image in the notebook's outputs that matches ``selector``
    (e.g. ``"img.my-class"`` for an Image given ``add_class("my-class")``)."""
    return page.locator(f".jp-Notebook .jp-OutputArea-output {selector}").nth(index)


def image_src(page: Page, index: int = 0, *, selector: str = IMAGE_SELECTOR) -> str:
    """Current ``src`` of an Image widget (ipywidgets 8 uses ``blob:`` URLs)."""
    loc = image_locator(page, index, selector=selector)
    loc.wait_for(state="attached")
    return loc.get_attribute("src") or ""


def wait_for_image_change(
    page: Page, old_src: str, index: int = 0, *, timeout: float = WIDGET_TIMEOUT, selector: str = IMAGE_SELECTOR
) -> str:
    """Wait until the Image widget's ``src`` differs from ``old_src`` and the new image
    has loaded; returns the new ``src``."""
    loc = image_locator(page, index, selector=selector)
    deadline = time.monotonic() + timeout
    src = old_src
    while time.monotonic() < deadline:
        src = loc.get_attribute("src") or ""
        if src and src != old_src and loc.evaluate("(img) => img.complete && img.naturalWidth > 0"):
            return src
        page.wait_for_timeout(100)
    raise _fail(page, f"image {selector}[{index}] src did not change within {timeout:.0f}s (still {src[:80]!r})")


def image_pixel(
    page: Page, x: int, y: int, index: int = 0, *, selector: str = IMAGE_SELECTOR
) -> tuple[int, int, int, int]:
    """RGBA of pixel (x, y) of an Image widget's decoded image (natural size)."""
    rgba = image_locator(page, index, selector=selector).evaluate(
        """(img, [x, y]) => {
            const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            const ctx = c.getContext('2d'); ctx.drawImage(img, 0, 0);
            return Array.from(ctx.getImageData(x, y, 1, 1).data);
        }""",
        [x, y],
    )
    return tuple(rgba)  # type: ignore[return-value]


def text_input(page: Page, description: str) -> Locator:
    """The ``<input>`` of the ipywidgets Text / IntText / FloatText (bounded or not)
    whose description label is exactly ``description``."""
    loc = page.locator(".jp-Notebook .widget-text").filter(
        has=page.locator(".widget-label", has_text=_exact(description))
    )
    return _one(loc, f"text box described {description!r}").locator("input")


def set_text(page: Page, description: str, value: str | float) -> None:
    """Type ``value`` into a text / number box and press Enter (which sends it to the kernel)."""
    box = text_input(page, description)
    box.fill(str(value))
    box.press("Enter")


def wait_for_text(
    page: Page, selector: str, pattern: str | re.Pattern, *, timeout: float = WIDGET_TIMEOUT, count: int = 1
) -> str:
    """Wait until at least ``count`` elements in the notebook match ``selector`` and the
    text of one of them matches ``pattern`` (a regex, searched); returns that text."""
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    loc = page.locator(f".jp-Notebook {selector}")
    deadline = time.monotonic() + timeout
    texts: list[str] = []
    while time.monotonic() < deadline:
        texts = loc.all_inner_texts()
        if len(texts) >= count:
            for text in texts:
                if regex.search(text):
                    return text
        page.wait_for_timeout(100)
    raise _fail(page, f"no {selector} (x{count}) with text matching {regex.pattern!r} within {timeout:.0f}s; "
                      f"texts: {[t[:200] for t in texts][:10]!r}")


def hide_sidebars(page: Page) -> None:
    """Collapse JupyterLab's left and right side panels (more room for screenshots)."""
    page.evaluate(
        "() => { const s = window.jupyterapp && window.jupyterapp.shell;"
        " if (s) { s.collapseLeft(); s.collapseRight(); } }"
    )


def screenshot(page: Page, path: str | os.PathLike, *, full_page: bool = True) -> Path:
    """Save a PNG screenshot of the page (written atomically; creates the parent folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    page.screenshot(path=str(tmp), full_page=full_page, type="png")
    os.replace(tmp, path)
    return path


def element_screenshot(locator: Locator, path: str | os.PathLike) -> Path:
    """Save a PNG screenshot of one element (written atomically; creates the parent folder)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    locator.screenshot(path=str(tmp), type="png")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- notebooks


def copy_notebook(
    source: str | os.PathLike, target: str | os.PathLike, parameters: Mapping[str, Any] | None = None
) -> Path:
    """Copy a notebook without its outputs; with ``parameters``, insert a cell assigning
    them right after the cell tagged ``parameters`` (as papermill does)."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    if parameters:
        index = next(
            (i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), None
        )
        if index is None:
            raise BrowserHarnessError(f"{source} has no cell tagged 'parameters'")
        code = "# Injected parameters\n" + "\n".join(f"{k} = {v!r}" for k, v in parameters.items())
        injected = nbformat.v4.new_code_cell(code)
        injected.metadata["tags"] = ["injected-parameters"]
        nb.cells.insert(index + 1, injected)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    nbformat.write(nb, tmp)
    os.replace(tmp, target)
    return target


# --------------------------------------------------------------------------- all in one


@contextlib.contextmanager
def notebook_session(
    notebook: str | os.PathLike,
    *,
    cells: Sequence[str] | None = None,
    root_dir: str | os.PathLike | None = None,
    run: bool = True,
    widgets: int = 1,
    server_log: str | os.PathLike | None = None,
    viewport: tuple[int, int] = (1400, 1000),
    parameters: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    run_timeout: float = RUN_TIMEOUT,
) -> Iterator[tuple[JupyterLab, Page]]:
    """Start JupyterLab and Chromium, open ``notebook``, run it, wait for ``widgets``
    widget views; yields ``(lab, page)``.

    ``notebook`` is copied into the server's root directory (or, with ``cells``, a new
    notebook of that name is written there); ``parameters`` are injected after its
    ``parameters`` cell (see :func:`copy_notebook`).  ``env``: extra environment
    variables for the server and its kernels.  ``widgets=0`` skips the widget wait.
    """
    with contextlib.ExitStack() as stack:
        root = (
            Path(root_dir)
            if root_dir is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="stylelab-nb-")))
        )
        name = Path(notebook).name
        if cells is not None:
            write_notebook(root / name, cells)
        elif parameters:
            copy_notebook(notebook, root / name, parameters)
        elif Path(notebook).resolve() != (root / name).resolve():
            shutil.copyfile(notebook, root / name)
        lab = stack.enter_context(jupyterlab_server(root, log_path=server_log, env=env))
        page = stack.enter_context(chromium_page(viewport=viewport))
        open_notebook(page, lab, name)
        if run:
            run_all_cells(page, name, lab=lab, timeout=run_timeout)
            if widgets:
                wait_for_widgets(page, widgets, lab=lab)
        yield lab, page
