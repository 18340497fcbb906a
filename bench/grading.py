"""Grading time of one student's sheets with ``--jobs 1`` and ``--jobs 2`` (issue 7).

The student hands in the reference solution (the source notebook with the solution
markers and hidden tests removed) of every sheet whose source notebook exists (missing
sheets are skipped); both runs go through ``autograder.grade.grade`` with the
default limits, in the same process.  ``ours`` is ``--jobs 2``, the peer ``--jobs 1``
(nbgrader itself grades one notebook at a time), so ratio < 1 is the speed-up.
"""
import shutil
import tempfile
import time
from pathlib import Path

import nbformat

from autograder import SHEETS, grade, sandbox, submissions

ROOT = Path(__file__).resolve().parent.parent


def available() -> list:
    return [s for s in SHEETS if (ROOT / "source" / s / f"{s}.ipynb").exists()]


def _student(folder: Path, sheets) -> Path:
    for sheet in sheets:
        target = folder / "student" / sheet
        target.mkdir(parents=True)
        notebook = nbformat.read(ROOT / "source" / sheet / f"{sheet}.ipynb", as_version=4)
        for cell in notebook.cells:
            cell.source = sandbox.strip_hidden_tests(submissions.strip_solution_markers(cell.source))
        nbformat.write(notebook, target / f"{sheet}.ipynb")
    return folder


def run() -> list:
    sheets = available()
    if not sheets:
        print("bench/grading.py: no sheet source notebook yet, nothing to time")
        return []
    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        submitted = _student(work / "submitted", sheets)
        seconds = {}
        for jobs in (1, 2):
            started = time.perf_counter()
            results = grade.grade(submitted, work / f"out-{jobs}", sheets=sheets, jobs=jobs, log=None)
            seconds[jobs] = time.perf_counter() - started
            bad = [f"{r.sheet}: {r.status}" for r in results
                   if not r.status.startswith("ok") or any(s not in ("passed", "needs manual grading")
                                                           for _, s in r.cells.values())]
            if bad:
                print("bench/grading.py: not graded cleanly:", bad)
        name = f"grade one student, {len(sheets)} sheet(s) ({', '.join(sheets)}), --jobs 2"
        return [{"name": name, "ours_s": seconds[2], "peer": "--jobs 1", "peer_s": seconds[1],
                 "ratio": seconds[2] / seconds[1]}]
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']}: {row['ours_s']:.1f} s; {row['peer']}: {row['peer_s']:.1f} s; ratio {row['ratio']:.2f}")
