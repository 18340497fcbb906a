"""The course end to end, offline: ``python -m autograder demo`` (``make demo``).

1. release every sheet from source/ (assignments/, solutions/, the student bundle);
2. write three sample submissions per sheet: the reference solution, the blank
   release and a partly wrong one (see :mod:`autograder.submissions`);
3. grade them with ``python -m autograder grade`` (sandboxed kernel, separate checker);
4. print the student × sheet score table; ``demo/results/`` holds ``grades.csv``,
   ``cells.csv`` and the feedback HTML.
"""
import csv
import subprocess
import sys
from pathlib import Path

from autograder import SHEETS, release, submissions

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "demo"


def _read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def score_table(results: Path) -> str:
    """A student × sheet table of autograded points (and the points left to grade by hand),
    followed by the status of every submission that did not grade cleanly."""
    grades = {(row["student"], row["sheet"]): row for row in _read(results / "grades.csv")}
    cells = _read(results / "cells.csv")
    students = sorted({student for student, _ in grades})
    sheets = [sheet for sheet in SHEETS if any(key[1] == sheet for key in grades)]

    def entry(student, sheet):
        rows = [r for r in cells if r["student"] == student and r["sheet"] == sheet]
        if not rows:
            return "-"
        auto = [r for r in rows if r["kind"] == "auto"]
        manual = sum(float(r["max_score"]) for r in rows if r["kind"] == "manual")
        text = f"{sum(float(r['score']) for r in auto):g}/{sum(float(r['max_score']) for r in auto):g}"
        return text + (f" +{manual:g} by hand" if manual else "")

    table = [["student", *sheets]] + [[student, *(entry(student, sheet) for sheet in sheets)] for student in students]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)) for row in table]
    notes = [f"  {student}/{sheet}: {row['status']}" for (student, sheet), row in sorted(grades.items())
             if row["status"] != "graded"]
    if notes:
        lines += ["", "status of the submissions that did not run cleanly:", *notes]
    return "\n".join(lines)


def main(argv):
    sheets = release.release()
    submitted = DEMO / "submitted"
    for sheet in sheets:
        for kind in submissions.KINDS:
            submissions.write(kind, sheet, submitted)
    results = DEMO / "results"
    command = [sys.executable, "-m", "autograder", "grade", str(submitted), "--jobs", "2", "--out", str(results),
               "--regrade"]
    subprocess.run(command, check=True)
    print()
    print(score_table(results))
    print(f"\ngrades: {results / 'grades.csv'}\ncells:  {results / 'cells.csv'}\nfeedback: {results / 'feedback'}")
    return 0
