"""Grading speed: seconds per graded sheet, and a simulated class on 1 and 2 workers.

* **Seconds per sheet.**  Every job's own wall-clock time (``JobResult.seconds["total"]``:
  intake excluded, sandbox, notebook, checker and feedback included), median per sheet,
  then the median over the four sheets; one worker.  The peer is the grading engine as
  it was before checks moved out of the kernel (commit ``BEFORE``: nbgrader's autograde
  in a namespace sandbox with the hidden checks in the kernel), timed on the reference
  solution of each of its sheets in the same run, one worker.
* **A simulated class** of ``STUDENTS`` students (copies of the reference, the partly
  wrong and the blank submission, in turn) × the four sheets, graded by
  ``python -m autograder grade`` with one and with two local workers: notebooks per hour
  for each, and the speed-up of two workers over one.

``BENCH_STUDENTS`` overrides the class size (at least 40 for the figures the course
quotes; fewer for a quick look).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from autograder import SHEETS, grade, submissions

ROOT = Path(__file__).resolve().parent.parent
BEFORE = "842b9b5"
STUDENTS = int(os.environ.get("BENCH_STUDENTS", "40"))


def _class(folder: Path, students: int) -> Path:
    kinds = list(submissions.KINDS)
    for kind in kinds:
        for sheet in SHEETS:
            submissions.write(kind, sheet, folder / "samples")
    for index in range(students):
        kind = kinds[index % len(kinds)]
        for sheet in SHEETS:
            source = folder / "samples" / kind / sheet
            shutil.copytree(source, folder / "class" / f"s{index:03d}-{kind}" / sheet)
    return folder / "class"


def _grade(submitted: Path, out: Path, workers: int) -> tuple[float, list]:
    started = time.perf_counter()
    rows = grade.grade(submitted, out, jobs=workers, regrade=True, log=None)
    return time.perf_counter() - started, rows


def _seconds_per_sheet(rows: list, part: str = "total") -> dict:
    """Median over the graded jobs of each sheet of one part of ``JobResult.seconds``
    ("total": the job's wall-clock time; "run_cpu": CPU time of everything in its sandbox)."""
    per_sheet = {}
    for row in rows:
        summary = json.loads(row["summary"] or "{}")
        if row["status"] == "graded":
            per_sheet.setdefault(row["sheet"], []).append(summary.get("seconds", {}).get(part, 0.0))
    return {sheet: statistics.median(values) for sheet, values in per_sheet.items()}


def _before(folder: Path) -> dict:
    """Seconds per sheet of the engine at commit BEFORE, on each sheet's reference."""
    old = folder / "before"
    old.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
    script = ("import sys; from pathlib import Path; from autograder import submissions\n"
              "for sheet in sys.argv[2:]: submissions.write('reference', sheet, Path(sys.argv[1]))\n")
    environment = dict(os.environ, PYTHONPATH=str(old), COURSE_FAST_MODE="0")
    subprocess.run([sys.executable, "-c", script, str(folder / "before-submitted"), *SHEETS], cwd=old,
                   env=environment, check=True, capture_output=True)
    run = subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder / "before-submitted"), "--jobs", "1",
                          "--out", str(folder / "before-out")], cwd=old, env=environment, capture_output=True, text=True)
    seconds = {}
    for line in run.stdout.splitlines():
        match = re.match(r"\s*reference\s+(\S+)\s+\S+\s+([\d.]+)s\s+ok", line)
        if match:
            seconds[match.group(1)] = float(match.group(2))
    if len(seconds) != len(SHEETS):
        print("bench/grading.py: the engine before the redesign did not grade every sheet cleanly:\n"
              + run.stdout[-2000:] + run.stderr[-2000:])
    return seconds


def run() -> list:
    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        submitted = _class(work, STUDENTS)
        notebooks = STUDENTS * len(SHEETS)
        wall, rows = {}, {}
        for workers in (1, 2):
            wall[workers], rows[workers] = _grade(submitted, work / f"out-{workers}", workers)
        per_sheet = _seconds_per_sheet(rows[1])
        before = _before(work)
        after_median = statistics.median(per_sheet.values())
        before_median = statistics.median(before.values()) if before else float("nan")
        results = [{
            "name": "grading: median seconds per graded sheet (one worker; median over the four sheets)",
            "ours_s": after_median, "peer": f"engine before the redesign ({BEFORE})", "peer_s": before_median,
            "ratio": after_median / before_median, "per_sheet_s": per_sheet, "per_sheet_before_s": before,
        }]
        for sheet in SHEETS:
            if sheet in per_sheet and sheet in before:
                results.append({"name": f"grading {sheet}: median seconds per notebook (one worker)",
                                "ours_s": per_sheet[sheet], "peer": f"before ({BEFORE}), reference only",
                                "peer_s": before[sheet], "ratio": per_sheet[sheet] / before[sheet]})
        per_hour = {workers: notebooks / wall[workers] * 3600 for workers in (1, 2)}
        results.append({
            "name": f"simulated class: {STUDENTS} students × {len(SHEETS)} sheets, 2 local workers vs 1",
            "ours_s": wall[2], "peer": "1 worker", "peer_s": wall[1], "ratio": wall[2] / wall[1],
            "notebooks": notebooks, "notebooks_per_hour_1_worker": per_hour[1],
            "notebooks_per_hour_2_workers": per_hour[2], "throughput_2_over_1": per_hour[2] / per_hour[1],
            # what two jobs at once cost each other: the sandbox's CPU seconds per notebook
            "sandbox_cpu_s_1_worker": _seconds_per_sheet(rows[1], "run_cpu"),
            "sandbox_cpu_s_2_workers": _seconds_per_sheet(rows[2], "run_cpu"),
            "seconds_per_sheet_2_workers": _seconds_per_sheet(rows[2]),
        })
        return results
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
