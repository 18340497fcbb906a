"""A Dask cluster for the tests, started as an instructor starts one: the course's Dask
settings exported (``eval "$(python -m autograder dask-env)"``), then a ``dask scheduler``
process and a ``dask worker`` process with several worker processes, on 127.0.0.1."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def course_dask_settings(cwd: Path | None = None) -> dict:
    """The variables that ``python -m autograder dask-env`` exports."""
    lines = subprocess.run([sys.executable, "-m", "autograder", "dask-env"], cwd=cwd, capture_output=True, text=True,
                           check=True).stdout.splitlines()
    assert lines and all(line.startswith("export ") for line in lines), lines
    return dict(line.removeprefix("export ").split("=", 1) for line in lines)


@contextlib.contextmanager
def dask_cluster(folder: Path, workers: int, pythonpath: list, cwd: Path | None = None):
    """Yields the scheduler's address (``tcp://127.0.0.1:PORT``); the processes' output goes
    to ``folder/dask.log``, and every process is stopped on leaving."""
    dask = str(Path(sys.executable).parent / "dask")
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(str(path) for path in pythonpath))
    environment.update(course_dask_settings(cwd))
    scheduler_file = folder / "scheduler.json"
    processes = []

    def start(*command):
        processes.append(subprocess.Popen([dask, *command], env=environment, cwd=cwd, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True))

    with open(folder / "dask.log", "w") as log:
        try:
            start("scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                  "--scheduler-file", str(scheduler_file))
            deadline = time.monotonic() + 60
            while not scheduler_file.exists() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert scheduler_file.exists(), (folder / "dask.log").read_text()
            address = json.loads(scheduler_file.read_text())["address"]
            start("worker", address, "--nworkers", str(workers), "--nthreads", "1", "--host", "127.0.0.1",
                  "--no-dashboard", "--memory-limit", "0")
            yield address
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGTERM)
            for process in processes:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
