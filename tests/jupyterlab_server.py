"""A JupyterLab server for the browser tests: started on 127.0.0.1 in a scratch folder, stopped after.

The server reads and writes only the scratch folder: its config, settings, workspaces and runtime
files live there, so a student's own JupyterLab setup neither changes the test nor is changed by it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

# Settings that keep the page quiet and the notebooks on disk untouched.
SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                       "checkForUpdates": False},
    # A saved notebook keeps its widgets' state, as the course site's pages do.
    "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
}
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """``$GENLEARN_CHROMIUM``, else a Chromium on the PATH (Debian's package installs /usr/bin/chromium)."""
    chosen = os.environ.get("GENLEARN_CHROMIUM")
    if chosen:
        return chosen if Path(chosen).is_file() else None
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class LabServer:
    """``with LabServer(root, scratch, environment) as lab: page.goto(lab.url())``: JupyterLab serving ``root``.

    ``root`` should hold copies of the notebooks: what the tests run and save stays there.
    """

    def __init__(self, root: Path, scratch: Path, environment: dict[str, str]):
        self.root, self.home = root, scratch / "jupyter"
        for name, values in SETTINGS.items():
            path = self.home / "settings" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.environment = {**environment, "JUPYTER_CONFIG_DIR": str(self.home / "config"),
                            "JUPYTER_RUNTIME_DIR": str(self.home / "runtime")}
        self.log = scratch / "jupyterlab.log"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> LabServer:
        command = [
            sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", "--port-retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            f"--LabApp.user_settings_dir={self.home / 'settings'}", f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
            # window.jupyterapp: the tests read the notebook's model and kernel state from it.
            "--LabApp.expose_app_in_browser=True",
        ]
        with open(self.log, "w") as log:
            self.process = subprocess.Popen(command, env=self.environment, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_up(timeout=60)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()  # jupyter_server shuts its kernels down on SIGTERM
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def api(self, path: str):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{path}",
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def url(self) -> str:
        # ?reset starts from an empty workspace: no notebook is open until a test opens one.
        return f"http://127.0.0.1:{self.port}/lab?reset&token={self.token}"

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")
