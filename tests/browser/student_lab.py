"""The student's side of the course, set up for a real browser.

Three pieces, used by the browser test of the student flow:

* :func:`make_student_copy` unpacks the student bundle (``dist/student-bundle.zip``,
  built by ``python -m autograder release``) into a temporary folder, or, while no
  up-to-date bundle exists, copies ``assignments/`` and ``utils/`` the same way;
* :func:`answered_notebook` is the released notebook with the reference answers of
  ``solutions/<sheet>/<sheet>.ipynb`` put into its answer cells, as a student who
  solved the sheet would have it;
* :class:`JupyterLab` starts JupyterLab 4 on 127.0.0.1 with a random token in that copy,
  with the news and kernel dialogs switched off through its settings, and stops it.
"""
from __future__ import annotations

import copy
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
import zipfile
from pathlib import Path

import nbformat

SHEETS = ("sheet1_analytic", "sheet2_cifar", "sheet3_vgg", "sheet4_influence")

#: Sheets whose notebooks draw relevance heatmaps.
SHEETS_WITH_HEATMAPS = ("sheet2_cifar", "sheet3_vgg", "sheet4_influence")

REPO_ROOT = Path(__file__).resolve().parents[2]

#: Where the screenshots and the server log go (git-ignored).
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

#: Settings that keep JupyterLab from opening dialogs or notices nobody asked for, and
#: from reaching the internet: no news, no update check, no extension manager (it would
#: query a package index), the preferred kernel starts without asking, restarts are not
#: confirmed, and every cell stays attached to the page so that the test sees all
#: outputs (the default windowing detaches cells scrolled out of view).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/apputils-extension/sessionDialogs": {"skipKernelRestartDialog": True},
    "@jupyterlab/notebook-extension/tracker": {
        "autoStartDefaultKernel": True,
        "windowingMode": "none",
    },
    "@jupyterlab/extensionmanager-extension/plugin": {"enabled": False},
}


def course_root() -> Path:
    """The course checkout the student bundle comes from (``COURSE_ROOT`` overrides)."""
    return Path(os.environ.get("COURSE_ROOT", REPO_ROOT)).resolve()


def _newest_mtime(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*.ipynb")), default=0.0)


def make_student_copy(destination: Path, root: Path | None = None) -> tuple[Path, str]:
    """Lay out the student bundle in ``destination``; return its top folder and origin.

    The zip is used when it is at least as new as every released notebook; otherwise
    (no bundle yet, or a stale one) ``assignments/`` and ``utils/`` are copied directly,
    which is what the bundle holds.
    """
    root = root or course_root()
    destination.mkdir(parents=True, exist_ok=True)
    bundle = root / "dist" / "student-bundle.zip"
    assignments = root / "assignments"
    if bundle.is_file() and bundle.stat().st_mtime >= _newest_mtime(assignments):
        with zipfile.ZipFile(bundle) as archive:
            archive.extractall(destination)
        tops = [p.parent for p in destination.rglob("assignments") if p.is_dir()]
        if not tops:
            raise RuntimeError(f"{bundle} holds no assignments/ folder")
        return min(tops, key=lambda p: len(p.parts)), str(bundle)
    if not assignments.is_dir():
        raise RuntimeError(f"no student bundle at {bundle} and no released notebooks in {assignments}")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    shutil.copytree(assignments, destination / "assignments", ignore=ignore)
    shutil.copytree(root / "utils", destination / "utils", ignore=ignore)
    return destination, f"{assignments} and {root / 'utils'}"


def released_notebook(student_root: Path, sheet: str) -> Path:
    return student_root / "assignments" / sheet / f"{sheet}.ipynb"


def solution_notebook(sheet: str, root: Path | None = None) -> Path:
    return (root or course_root()) / "solutions" / sheet / f"{sheet}.ipynb"


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_answer_cell(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def answered_notebook(released: Path, solution: Path):
    """The released notebook with each answer cell's source taken from the solution.

    Answer cells are matched by their nbgrader ``grade_id``; every other cell, locked
    ones included, stays exactly as released, so nbgrader's checksums still hold.
    Outputs and execution counts are cleared, as in a notebook nobody has run yet.
    """
    student = nbformat.read(released, as_version=4)
    reference = {_grade_id(c): c for c in nbformat.read(solution, as_version=4).cells if _grade_id(c)}
    answered = copy.deepcopy(student)
    replaced = 0
    for cell in answered.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if not _is_answer_cell(cell):
            continue
        grade_id = _grade_id(cell)
        if grade_id not in reference:
            raise RuntimeError(f"{solution} has no cell with grade_id {grade_id!r} (answer cell of {released.name})")
        cell.source = reference[grade_id].source
        replaced += 1
    if replaced == 0:
        raise RuntimeError(f"{released} has no answer cells (nbgrader metadata 'solution': true)")
    return answered


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class JupyterLab:
    """JupyterLab serving ``root_dir`` on 127.0.0.1, for the length of a ``with`` block.

    The server runs in its own process group with ``--allow-root`` (the test machines
    run as root), its own settings and workspace folders under ``state_dir``, and the
    extra environment ``env`` (``COURSE_FAST_MODE=1`` keeps the sheets short).
    """

    def __init__(self, root_dir: Path, state_dir: Path, env: dict[str, str] | None = None,
                 log_path: Path | None = None, startup_timeout: float = 120.0):
        self.root_dir = Path(root_dir)
        self.state_dir = Path(state_dir)
        self.extra_env = dict(env or {})
        self.log_path = Path(log_path) if log_path else self.state_dir / "jupyterlab.log"
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(24)
        self.port = _free_port()
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "lab") -> str:
        separator = "&" if "?" in path else "?"
        return f"{self.base_url}/{path.lstrip('/')}{separator}token={self.token}"

    def notebook_url(self, relative_path: str, workspace: str | None = None) -> str:
        """The notebook alone in a fresh workspace (none of the earlier tabs restored)."""
        if workspace is None:
            return self.url(f"lab/tree/{relative_path}")
        return self.url(f"lab/workspaces/{workspace}/tree/{relative_path}?reset")

    def _write_settings(self) -> Path:
        settings = self.state_dir / "user-settings"
        for plugin, values in LAB_SETTINGS.items():
            target = settings / f"{plugin}.jupyterlab-settings"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(values, indent=2))
        return settings

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({
            "JUPYTERLAB_SETTINGS_DIR": str(self._write_settings()),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.state_dir / "workspaces"),
            "JUPYTER_RUNTIME_DIR": str(self.state_dir / "runtime"),
            # The kernel imports the bundle's utils/, not the maintainers' checkout.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(self.root_dir), env.get("PYTHONPATH")])),
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "PYTHONUNBUFFERED": "1",
        })
        env.pop("JUPYTER_TOKEN", None)
        # Students have the bundle only: the CIFAR-10 sample in utils/data, not the
        # maintainers' full decoded copy.
        env.pop("CIFAR10_ROOT", None)
        env.update(self.extra_env)
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
        return env

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "jupyter", "lab",
            "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", "--port-retries=0",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--IdentityProvider.token={self.token}",
            "--LabApp.news_url=",
        ]

    def start(self) -> "JupyterLab":
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            self.command(), cwd=self.root_dir, env=self._environment(),
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends the kernels too
        )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self):
        deadline = time.monotonic() + self.startup_timeout
        status = self.url("api/status")
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}; log:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(status, timeout=5) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {self.startup_timeout:.0f} s; log:\n{self.log_tail()}")

    def shutdown_kernels(self):
        """Shut down every running kernel (between sheets, to give back their memory)."""
        with urllib.request.urlopen(self.url("api/kernels"), timeout=30) as reply:
            kernels = json.load(reply)
        for kernel in kernels:
            request = urllib.request.Request(self.url(f"api/kernels/{kernel['id']}"), method="DELETE")
            urllib.request.urlopen(request, timeout=60).close()

    def log_tail(self, characters: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-characters:]
        except OSError:
            return "(no log)"

    def stop(self, grace: float = 15.0):
        """Interrupt the server (it shuts its kernels down), then end its process group."""
        if self.process is None:
            return
        if self.process.poll() is None:
            group = os.getpgid(self.process.pid)
            os.killpg(group, signal.SIGINT)
            time.sleep(0.5)
            os.killpg(group, signal.SIGINT)  # jupyter asks for confirmation on the first ^C
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(group, signal.SIGKILL)  # kernels left behind, if any
            except ProcessLookupError:
                pass
            self.process.wait(timeout=grace)
        self._log.close()
        self.process = None

    def __enter__(self) -> "JupyterLab":
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()


def find_chromium() -> str | None:
    """The Debian chromium binary (``CHROMIUM`` overrides), or None when absent."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None
