"""The nbgrader pipeline from source/ to grades, on every sheet.

- the committed source notebooks, assignments/ and solutions/ are what source/ generates;
- every source notebook (the reference solution with its hidden tests) validates;
- every test cell fails on the blank release (``nbgrader validate --invert``);
- nothing of the hidden tests or the solutions reaches assignments/ or the student bundle;
- graded with ``python -m autograder grade``, the reference scores full marks, the blank
  release 0 and the partly wrong submission something in between.
"""
import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder import SHEETS, release, submissions

ROOT = Path(__file__).resolve().parent.parent
FAST = dict(os.environ, COURSE_FAST_MODE="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def nbgrader(*args):
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=ROOT, env=FAST, capture_output=True, text=True)


def test_every_sheet_has_a_source():
    assert release.sheets_in(ROOT) == list(SHEETS)


def test_generated_files_do_not_drift_from_source():
    problems = release.drift(ROOT)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("sheet", SHEETS)
def test_reference_solution_validates(sheet):
    result = nbgrader("validate", f"source/{sheet}/{sheet}.ipynb")
    assert result.returncode == 0 and "Success!" in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sheet", SHEETS)
def test_blank_release_fails_every_test(sheet):
    result = nbgrader("validate", "--invert", f"assignments/{sheet}/{sheet}.ipynb")
    assert result.returncode == 0 and "Success!" in result.stdout, result.stdout + result.stderr


def _regions(text, begin, end):
    """(inside, outside): the lines between ``begin``/``end`` markers and the other lines."""
    inside, outside, within = [], [], False
    for line in text.splitlines():
        if line.strip() == begin:
            within = True
        elif line.strip() == end:
            within = False
        else:
            (inside if within else outside).append(line.strip())
    return inside, outside


def _secret_lines(sheet):
    """Distinctive lines of a sheet's reference answers and hidden tests that occur nowhere
    in the code students are given (the rest of the notebook and utils/)."""
    source = nbformat.read(ROOT / "source" / sheet / f"{sheet}.ipynb", as_version=4)
    secret, public = set(), set()
    for cell in source.cells:
        solution, rest = _regions(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
        hidden, rest = _regions("\n".join(rest), "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        secret |= set(solution) | set(hidden)
        public |= set(rest)
    for module in (ROOT / "utils").rglob("*.py"):
        public |= {line.strip() for line in module.read_text().splitlines()}
    # Short lines ("return R", "else:") are too common to tell anything.
    return {line for line in secret - public if len(line) >= 25 and not line.startswith("#")}


@pytest.mark.parametrize("sheet", SHEETS)
def test_release_holds_no_solution_and_no_hidden_test(sheet):
    released = (ROOT / "assignments" / sheet / f"{sheet}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "from autograder", "import autograder"):
        assert marker not in released
    notebook = nbformat.read(ROOT / "assignments" / sheet / f"{sheet}.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells)
    leaked = [line for line in _secret_lines(sheet) if line in code]
    assert not leaked, f"solution or hidden-test lines in the release: {leaked[:5]}"


def test_student_bundle_holds_only_what_students_get():
    bundle = release.pack_bundle(ROOT)
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        text = {n: archive.read(n).decode("utf-8", "replace") for n in names if n.endswith((".ipynb", ".py", ".md"))}
    top = {name.split("/")[1] for name in names}
    assert top == {"README.md", "assignments", "utils", "environment.yml", "requirements.txt", "pyproject.toml"}
    assert all(f"explaining-nn/assignments/{sheet}/{sheet}.ipynb" in names for sheet in SHEETS)
    for name, content in text.items():
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "import autograder", "from autograder"):
            assert marker not in content, f"{marker!r} in {name}"
    everything = "\n".join(text.values())
    for sheet in SHEETS:
        leaked = [line for line in _secret_lines(sheet) if line in everything]
        assert not leaked, f"{sheet}: solution or hidden-test lines in the bundle: {leaked[:5]}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Reference, blank and partly wrong submissions of every sheet, graded once."""
    folder = tmp_path_factory.mktemp("grading")
    for sheet in SHEETS:
        for kind in submissions.KINDS:
            submissions.write(kind, sheet, folder / "submitted")
    out = folder / "results"
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(folder / "submitted"), "--jobs", "2", "--out", str(out)],
        cwd=ROOT, env=dict(FAST, COURSE_FAST_MODE="0"), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "grades.csv", newline="") as f:
        grades = {(row["student"], row["sheet"]): row for row in csv.DictReader(f)}
    with open(out / "cells.csv", newline="") as f:
        cells = list(csv.DictReader(f))
    return grades, cells


def _auto_points(cells, student, sheet):
    """Score and maximum over the autograded test cells of one submission."""
    rows = [r for r in cells if r["student"] == student and r["sheet"] == sheet and r["kind"] == "auto"]
    return sum(float(r["score"]) for r in rows), sum(float(r["max_score"]) for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("sheet", SHEETS)
def test_reference_full_marks_blank_zero_partly_wrong_between(graded, sheet):
    grades, cells = graded
    assert grades[("reference", sheet)]["status"] == "ok", grades[("reference", sheet)]
    for student in ("blank", "partly_wrong"):
        # graded normally; the status lists the cells that raised
        assert grades[(student, sheet)]["status"].startswith("ok"), grades[(student, sheet)]
    reference, maximum = _auto_points(cells, "reference", sheet)
    assert maximum > 0 and reference == maximum
    assert _auto_points(cells, "blank", sheet)[0] == 0
    assert 0 < _auto_points(cells, "partly_wrong", sheet)[0] < maximum
