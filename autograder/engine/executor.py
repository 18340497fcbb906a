"""Runs one notebook inside the grading sandbox (a copy of this file is the sandbox's
entry point; it imports nothing of the course, only the standard library, nbformat and
nbclient, since ``autograder`` does not exist in there).

    python executor.py EXECUTION.json

The settings file names the notebook, where to write the executed copy and a status
file, the per-cell timeout, the wall-clock budget, the probe's answer folder and the tag
of the cells that only illustrate and are not run.  Cells
run in order with errors allowed (a failing answer cell does not stop the notebook); a
cell that runs too long is interrupted.  When a cell ends the kernel itself
(``os._exit``, a crash, the job's memory limit), the notebook is run again from the top
in a fresh kernel with that cell replaced by an error, so one such cell costs the
student that cell, not the sheet.

Nothing this process writes is trusted by the grader: the kernel runs as the same user
and could change any of it.  The grade comes from the answers the probes wrote, judged
by a checker outside the sandbox.
"""
import json
import os
import shutil
import sys
import time

# jsonschema (imported by nbformat) loads rfc3987_syntax when it is installed, which
# compiles a grammar for seconds of CPU; notebooks never need its IRI checks.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import DeadKernelError  # noqa: E402

SKIPPED_SOURCE = ("raise RuntimeError('the grader skipped this cell: it ended the kernel "
                  "(os._exit, a crash or the memory limit) when it ran')")


def _clear(folder: str):
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


def execute(settings: dict) -> dict:
    notebook = nbformat.read(settings["notebook"], as_version=4)
    deadline = time.monotonic() + settings["budget_seconds"]
    status = {"attempts": 0, "skipped": [], "ended_early": False}
    current = {"index": None}

    def remember(cell, cell_index, **_):
        current["index"] = cell_index

    def cell_timeout(cell):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            status["ended_early"] = True
        return max(1, int(min(settings["cell_timeout"], remaining)))

    for attempt in range(settings["attempts"]):
        status["attempts"] = attempt + 1
        _clear(settings["answers"])
        run = nbformat.from_dict(json.loads(json.dumps(notebook)))
        client = NotebookClient(run, timeout_func=cell_timeout, interrupt_on_timeout=True, allow_errors=True,
                                skip_cells_with_tag=settings["skip_tag"],
                                kernel_name="python3", startup_timeout=120, record_timing=False,
                                resources={"metadata": {"path": settings["workdir"]}},
                                on_cell_start=remember)
        try:
            client.execute()
            notebook = run
            break
        except DeadKernelError:
            index = current["index"]
            notebook = run
            if index is None or time.monotonic() > deadline:
                status["kernel_died"] = True
                break
            notebook.cells[index].source = SKIPPED_SOURCE
            notebook.cells[index].outputs = []
            status["skipped"].append(notebook.cells[index].get("id", str(index)))
    nbformat.write(notebook, settings["output"])
    return status


def main():
    with open(sys.argv[1], encoding="utf-8") as stream:
        settings = json.load(stream)
    status = execute(settings)
    with open(settings["status"], "w", encoding="utf-8") as stream:
        json.dump(status, stream)


if __name__ == "__main__":
    main()
