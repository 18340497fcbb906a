"""The cheat and fault corpus, graded by ``python -m autograder grade`` (issue 7).

One grading run of the whole toy corpus (``--jobs 2``) is shared by the tests below; a
second, smaller run checks determinism; when the sheet-1 source notebook exists, a few
cases are graded on it as well.  ``test_print_corpus_table`` writes the table
"case → expected → got" to the terminal, whatever pytest's capture mode.
"""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import grade

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
import corpus  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
LIMITS = grade.Limits(cell_timeout=20, timeout=240, memory_gb=6.0)
pytestmark = pytest.mark.slow


def _read(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def corpus_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("corpus")
    release = corpus.release_of(corpus.SOURCE, corpus.SHEET, base / "release")
    submissions = base / "submitted"
    corpus.write(corpus.CASES, release, submissions)
    before = corpus.digest_tree(submissions)
    out = base / "out"
    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--sheet", corpus.SHEET, "--jobs", "2",
               "--out", str(out), "--source", str(corpus.SOURCE), "--cell-timeout", str(LIMITS.cell_timeout),
               "--timeout", str(LIMITS.timeout), "--quiet"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {"base": base, "release": release, "submissions": submissions, "before": before, "out": out,
            "grades": {r["student"]: r for r in _read(out / "grades.csv")},
            "cells": {(r["student"], r["grade_id"]): r for r in _read(out / "cells.csv")}}


def _got(run, case):
    cells = {g: (float(run["cells"][(case.name, g)]["score"]), run["cells"][(case.name, g)]["status"])
             for g in corpus.FULL}
    return cells, run["grades"][case.name]["status"]


def _matches(run, case) -> bool:
    cells, status = _got(run, case)
    expected = case.expected_cells()
    return (all(cells[g] == (float(p), s) for g, (p, s) in expected.items())
            and status.startswith(case.status) and case.status_contains in status)


def test_print_corpus_table(corpus_run, capsys):
    """The table of the issue: corpus case → expected → got."""
    lines = ["", "grading corpus (toy sheet; points per test: square_sum/normalize/derivative)",
             f"{'case':<20} {'kind':<8} {'expected':<40} {'got':<40} ok"]

    def short(cells):
        return " ".join(f"{p:g}" + ("" if s in ("passed", "failed") else f"({s})") for p, s in cells)

    for case in corpus.CASES:
        cells, status = _got(corpus_run, case)
        expected = case.expected_cells()
        want = short([expected[g] for g in corpus.FULL])
        got = short([cells[g] for g in corpus.FULL])
        lines.append(f"{case.name:<20} {case.kind:<8} {want:<40} {got:<40} {'yes' if _matches(corpus_run, case) else 'NO'}")
        lines.append(f"{'':<20}   status: {status[:110]}")
    with capsys.disabled():
        print("\n".join(lines))


@pytest.mark.parametrize("case", corpus.CASES, ids=[c.name for c in corpus.CASES])
def test_case(corpus_run, case):
    cells, status = _got(corpus_run, case)
    expected = case.expected_cells()
    for grade_id, (points, cell_status) in expected.items():
        assert cells[grade_id] == (float(points), cell_status), (grade_id, cells, status)
    assert status.startswith(case.status), status
    assert case.status_contains in status, status


def test_submissions_untouched(corpus_run):
    assert corpus.digest_tree(corpus_run["submissions"]) == corpus_run["before"]


def test_manual_cell_left_for_the_instructor(corpus_run):
    row = corpus_run["cells"][("reference", "in_words")]
    assert row["status"] == "needs manual grading" and row["max_score"] == "1"


def test_gradebook_holds_every_submission(corpus_run):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{corpus_run['out'] / 'gradebook.db'}", course_id="explaining-nn") as gradebook:
        students = {s.id for s in gradebook.students}
        assert {c.name for c in corpus.CASES if c.layout != "missing"} <= students
        assert gradebook.find_submission(corpus.SHEET, "reference").score == 5
        assert gradebook.find_submission(corpus.SHEET, "change_metadata").max_score == 6


def test_feedback_has_no_hidden_tests(corpus_run):
    feedback = sorted((corpus_run["out"] / "feedback").rglob("*.html"))
    assert len(feedback) >= len(corpus.CASES) - 3
    for page in feedback:
        text = page.read_text()
        assert "BEGIN HIDDEN TESTS" not in text and "_rng(7)" not in text and "np.linalg.norm(_x)" not in text, page
        assert "autograder/symbolic.py" not in text and "assert_close(normalize" not in text, page


def test_determinism(corpus_run, tmp_path):
    """The same submissions graded again give identical cell scores."""
    chosen = [c for c in corpus.CASES if c.name in ("reference", "patch_numpy", "nan_result")]
    submissions = tmp_path / "again"
    corpus.write(chosen, corpus_run["release"], submissions)
    grade.grade(submissions, tmp_path / "out", sheets=[corpus.SHEET], jobs=2, source=corpus.SOURCE, limits=LIMITS,
                log=None)
    again = {(r["student"], r["grade_id"]): (r["score"], r["status"]) for r in _read(tmp_path / "out" / "cells.csv")}
    for (student, grade_id), value in again.items():
        first = corpus_run["cells"][(student, grade_id)]
        assert value == (first["score"], first["status"]), (student, grade_id)


REAL = "sheet1_analytic"


@pytest.mark.skipif(not all((ROOT / d / REAL / f"{REAL}.ipynb").exists() for d in ("source", "assignments")),
                    reason=f"source/{REAL} and assignments/{REAL} not built yet")
def test_real_sheet(tmp_path, capsys):
    """Reference, torch/numpy patch and a kernel killed in an extra cell, on sheet 1."""
    import copy

    import nbformat

    from autograder import submissions as samples

    work = tmp_path / "release"
    release = corpus.release_of(ROOT / "source", REAL, work)
    sheet = grade.prepare_sheet(REAL, ROOT / "source", work / "again", work / "again.db")
    reference = samples.reference(REAL)
    answers = [c for c in reference.cells if c.metadata.get("nbgrader", {}).get("solution")
               and not c.metadata["nbgrader"].get("grade")]
    tests = [g for g, _, kind in sheet.cells if kind == "auto"]
    first_answer = answers[0]
    index = reference.cells.index(first_answer)
    later = [c.metadata.get("nbgrader", {}).get("grade_id") for c in reference.cells[index:]]
    targeted = next(g for g in later if g in tests)

    patched = copy.deepcopy(reference)
    patched.cells.insert(index + 1, nbformat.v4.new_code_cell(
        "import numpy, torch\nnumpy.allclose = lambda *a, **k: True\ntorch.allclose = lambda *a, **k: True\n"
        "torch.Tensor.__eq__ = lambda a, b: True\nnumpy.testing.assert_allclose = lambda *a, **k: None"))
    killed = copy.deepcopy(reference)
    killed.cells.insert(index + 1, nbformat.v4.new_code_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"))
    root = tmp_path / "submitted"
    for name, notebook in {"reference": reference, "patched": patched, "killed": killed}.items():
        (root / name / REAL).mkdir(parents=True)
        nbformat.write(notebook, root / name / REAL / f"{REAL}.ipynb")
    out = tmp_path / "out"
    grade.grade(root, out, sheets=[REAL], jobs=2, limits=grade.Limits(timeout=500), log=None)
    cells = {(r["student"], r["grade_id"]): r for r in _read(out / "cells.csv")}
    rows = []
    for student in ("reference", "patched", "killed"):
        for grade_id in tests:
            expected = "tampering" if (student, grade_id) == ("patched", targeted) else "passed"
            got = cells[(student, grade_id)]["status"]
            rows.append(f"{REAL:<16} {student:<10} {grade_id:<28} {expected:<10} {got:<10} {'yes' if got == expected else 'NO'}")
    with capsys.disabled():
        print("\n".join(["", "grading corpus on a real sheet", *rows]))
    assert all(line.endswith("yes") for line in rows), "\n".join(rows)
    statuses = {r["student"]: r["status"] for r in _read(out / "grades.csv")}
    assert statuses["reference"] == "ok", statuses
    assert f"tampering detected in {targeted}" in statuses["patched"], statuses
    assert "kernel ended in cell" in statuses["killed"], statuses
    assert release is not None
    shutil.rmtree(tmp_path / "release", ignore_errors=True)


#: Ways to let the grader's reference compute sheet 1's layer1; each replaces the answer.
BORROWING = {
    "alias": "from autograder.sheets.sheet1_analytic.reference import reference_layer1 as layer1",
    "wrapper": "def layer1(x, U, alpha, gamma):\n    from autograder import sheet1_analytic\n"
               "    return sheet1_analytic.reference_layer1(x, U, alpha, gamma)",
    "thread": "import threading\n\ndef layer1(x, U, alpha, gamma):\n    from autograder import sheet1_analytic\n"
              "    out = []\n    worker = threading.Thread(target=lambda: out.append(\n"
              "        sheet1_analytic.reference_layer1(x, U, alpha, gamma)))\n"
              "    worker.start()\n    worker.join()\n    return out[0]",
    "exec": "def layer1(x, U, alpha, gamma):\n    space = dict(x=x, U=U, alpha=alpha, gamma=gamma)\n"
            "    exec('from autograder.sheets.sheet1_analytic.reference import reference_layer1 as f\\nh = f(x, U, alpha, gamma)', space)\n"
            "    return space['h']",
    "unhooked": "import sys\n\ndef layer1(x, U, alpha, gamma):\n    from autograder import sheet1_analytic\n"
                "    sys.setprofile(None)\n    return sheet1_analytic.reference_layer1(x, U, alpha, gamma)",
    "partial": "import functools\nfrom autograder import sheet1_analytic\n\n"
               "layer1 = functools.partial(sheet1_analytic.reference_layer1)",
}


@pytest.mark.skipif(not (ROOT / "source" / REAL / f"{REAL}.ipynb").exists(), reason=f"source/{REAL} not built yet")
def test_borrowing_the_graders_reference_gets_zero(tmp_path, capsys):
    """A student who finds the grader's reference implementation in the grading kernel
    and lets it compute the answer loses every test that ran it; the reference submission
    loses nothing, so the watch has no false alarms."""
    import copy

    import nbformat

    from autograder import submissions as samples

    reference = samples.reference(REAL)
    answer = next(c for c in reference.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "neuralization_layers")
    root = tmp_path / "submitted"
    notebooks = {"reference": reference}
    for name, source in BORROWING.items():
        notebook = copy.deepcopy(reference)
        index = next(i for i, c in enumerate(notebook.cells) if c.get("id") == answer.get("id"))
        notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
        notebooks[name] = notebook
    for name, notebook in notebooks.items():
        (root / name / REAL).mkdir(parents=True)
        nbformat.write(notebook, root / name / REAL / f"{REAL}.ipynb")
    out = tmp_path / "out"
    grade.grade(root, out, sheets=[REAL], jobs=2, limits=grade.Limits(timeout=500), log=None)
    cells = {(r["student"], r["grade_id"]): r for r in _read(out / "cells.csv")}
    using_layer1 = {"test_layer1", "test_neuralization"}
    rows = []
    for student in notebooks:
        for (who, grade_id), row in sorted(cells.items()):
            if who != student or row["kind"] != "auto":
                continue
            expected = "tampering" if student != "reference" and grade_id in using_layer1 else "passed"
            rows.append(f"{student:<10} {grade_id:<28} {expected:<10} {row['status']:<10} "
                        f"{'yes' if row['status'] == expected else 'NO'}")
    with capsys.disabled():
        print("\n".join(["", "borrowing the grader's reference (sheet 1)", *rows]))
    assert rows and all(line.endswith("yes") for line in rows), "\n".join(rows)


def test_without_isolation(corpus_run, tmp_path, monkeypatch):
    """Where namespaces are unavailable (not root, not Linux) grading still works: same
    scores, with the limits and the guard but without the hidden paths."""
    from autograder import sandbox

    monkeypatch.setattr(sandbox, "_NAMESPACES", False)
    chosen = [c for c in corpus.CASES if c.name in ("reference", "patch_numpy")]
    corpus.write(chosen, corpus_run["release"], tmp_path / "submitted")
    grade.grade(tmp_path / "submitted", tmp_path / "out", sheets=[corpus.SHEET], jobs=2, source=corpus.SOURCE,
                limits=LIMITS, log=None)
    cells = {(r["student"], r["grade_id"]): (r["score"], r["status"]) for r in _read(tmp_path / "out" / "cells.csv")}
    for case in chosen:
        for grade_id, (points, status) in case.expected_cells().items():
            assert cells[(case.name, grade_id)] == (f"{points:g}", status), (case.name, grade_id)
