"""A JupyterLab server and a headless Chromium for tests/test_jupyterlab_browser.py.

The server runs on a copy of the notebooks (a browser session may autosave what it ran), with its own
settings and workspaces folders (a user's JupyterLab settings do not leak in) and ``window.jupyterapp``
exposed, so that the test drives JupyterLab through its command registry, as JupyterLab's own UI tests
(Galata) do. The browser is the system's Chromium (Debian's ``chromium``) driven by Playwright.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# JupyterLab settings of the test server (plugin id -> settings): no autosave, no news pop-up, and every
# cell in the DOM (the notebook's default windowing may detach cells that are scrolled out of view).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
}


def find_chromium() -> str | None:
    """The Chromium executable: $LZSC_CHROMIUM, else the first of CHROMIUM_NAMES on the PATH."""
    named = os.environ.get("LZSC_CHROMIUM")
    if named:
        return named if Path(named).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lab_workdir(root: Path, notebooks: list[str]) -> Path:
    """``root/notebooks`` with copies of ``notebooks`` and ``root/runs`` linked to the repository's runs/
    (notebook 09 reads ``../runs/quick``); returns the notebooks folder."""
    folder = root / "notebooks"
    folder.mkdir(parents=True)
    for name in notebooks:
        shutil.copy2(REPO / "notebooks" / name, folder / name)
    if (REPO / "runs").is_dir():
        (root / "runs").symlink_to(REPO / "runs", target_is_directory=True)
    for plugin, values in LAB_SETTINGS.items():
        path = root / "lab-settings" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    return folder


@dataclass
class LabServer:
    """A running ``jupyter lab``; ``url(path)`` adds the token."""

    process: subprocess.Popen
    port: int
    token: str
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return f"{self.base}/{path.lstrip('/')}?token={self.token}"

    def api(self, path: str, method: str = "GET", timeout: float = 5.0) -> bytes:
        request = urllib.request.Request(
            f"{self.base}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read()

    def log_tail(self, n: int = 40) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.is_file() else []
        return "\n".join(lines[-n:])


def start_lab(root: Path, notebooks_dir: Path, log: Path, timeout: float = 90.0) -> LabServer:
    """Start ``jupyter lab`` in its own process group on a free localhost port with a random token;
    raise RuntimeError with the server's log when it does not answer within ``timeout`` seconds."""
    port, token = free_port(), secrets.token_hex(24)
    env = dict(os.environ)
    # CI exports MPLBACKEND=Agg for headless runs; kernels inherit it and would then draw no inline
    # figures (ipykernel only sets the inline backend when MPLBACKEND is unset). A person's JupyterLab
    # has no such variable. LZSC_DATA and everything else pass through.
    env.pop("MPLBACKEND", None)
    env["JUPYTERLAB_SETTINGS_DIR"] = str(root / "lab-settings")
    env["JUPYTERLAB_WORKSPACES_DIR"] = str(root / "lab-workspaces")
    env["JUPYTER_RUNTIME_DIR"] = str(root / "runtime")
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.open_browser=False",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={notebooks_dir}",
        "--ServerApp.allow_root=True",  # CI containers run as root
        "--MappingKernelManager.default_kernel_name=python3",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=notebooks_dir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LabServer(process, port, token, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {process.returncode}:\n{server.log_tail()}")
        try:
            server.api("status", timeout=2.0)
            return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    stop_lab(server)
    raise RuntimeError(
        f"jupyter lab did not answer on port {port} within {timeout:.0f} s:\n{server.log_tail()}"
    )


def stop_lab(server: LabServer, timeout: float = 20.0) -> None:
    """Shut the server down with its kernels (REST), then end its process group: SIGTERM, then SIGKILL.

    Kernels run in sessions of their own (jupyter_client starts them so), so the REST shutdown comes
    first; a kernel whose server is gone also exits on its own (it polls its parent's pid)."""
    if server.process.poll() is None:
        try:
            server.api("shutdown", method="POST", timeout=5.0)
            server.process.wait(timeout=timeout)
        except (urllib.error.URLError, ConnectionError, TimeoutError, subprocess.TimeoutExpired):
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(server.process.pid, sig)
        except ProcessLookupError:
            break
        try:
            server.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            continue
    server.process.wait(timeout=5.0)


# JavaScript run in the page (window.jupyterapp is exposed by --LabApp.expose_app_in_browser).

OPEN_AND_RUN_ALL = """
async ([path, timeoutMs]) => {
  const app = window.jupyterapp;
  const timeout = (ms, what) => new Promise((_, reject) =>
    setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms));
  const panel = await app.commands.execute('docmanager:open', { path, factory: 'Notebook' });
  await Promise.race([panel.context.ready, timeout(60000, 'opening ' + path)]);
  await Promise.race([panel.sessionContext.ready, timeout(60000, 'starting the kernel')]);
  app.shell.activateById(panel.id);
  const ok = await Promise.race([
    app.commands.execute('notebook:run-all-cells'), timeout(timeoutMs, 'running all cells')]);
  return { ok, kernel: panel.sessionContext.session?.kernel?.name ?? null };
}
"""

NOTEBOOK_REPORT = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session?.kernel;
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const outputs = cell.model.outputs.toJSON();
    cells.push({
      index,
      count: cell.model.executionCount,
      errors: outputs.filter(o => o.output_type === 'error').map(o => `${o.ename}: ${o.evalue}`),
    });
  });
  return { status: kernel ? kernel.status : 'no kernel', cells };
}
"""
