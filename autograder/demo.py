"""The course end to end, offline: ``python -m autograder demo`` (``make demo``).

1. release every sheet from source/ (assignments/, solutions/, the student bundle);
2. write three sample submissions per sheet: the reference solution, the blank
   release and a partly wrong one (see :mod:`autograder.submissions`);
3. grade them with ``python -m autograder grade`` (sandboxed nbgrader autograde);
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


def score_table(grades_csv: Path) -> str:
    """A plain-text student × sheet table of ``score / max_score`` from grades.csv."""
    with open(grades_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    students = sorted({row["student"] for row in rows})
    sheets = [s for s in SHEETS if any(row["sheet"] == s for row in rows)]
    cell = {(row["student"], row["sheet"]): row for row in rows}
    width = max(len(s) for s in sheets) + 2
    lines = ["student".ljust(14) + "".join(s.rjust(width) for s in sheets)]
    for student in students:
        entries = []
        for sheet in sheets:
            row = cell.get((student, sheet))
            text = "-" if row is None else f"{float(row['score']):g}/{float(row['max_score']):g}"
            if row is not None and row.get("status", "ok") != "ok":
                text += f" ({row['status']})"
            entries.append(text.rjust(width))
        lines.append(student.ljust(14) + "".join(entries))
    return "\n".join(lines)


def main(argv):
    sheets = release.release()
    submitted = DEMO / "submitted"
    for sheet in sheets:
        for kind in submissions.KINDS:
            submissions.write(kind, sheet, submitted)
    results = DEMO / "results"
    command = [sys.executable, "-m", "autograder", "grade", str(submitted), "--jobs", "2", "--out", str(results)]
    subprocess.run(command, check=True)
    print()
    print(score_table(results / "grades.csv"))
    print(f"\ngrades: {results / 'grades.csv'}\ncells:  {results / 'cells.csv'}\nfeedback: {results / 'feedback'}")
    return 0
