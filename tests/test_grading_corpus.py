"""The grading corpora, graded by ``python -m autograder grade`` as an instructor runs it.

Each sheet's cases are graded in one run (``--jobs 2``): the toy corpus
(:mod:`grading.corpus`) and the hostile corpus on sheet 1 and sheet 3
(:mod:`grading.hostile`).  Every case must end exactly as expected — per test cell the
points and the status of ``cells.csv``, and the beginning of the status in
``grades.csv`` — and the honest reference in every batch keeps full marks.  Around
them: the root-only file that hostile kernels aim links at stays unread and unchanged;
no student-visible file holds hidden code; the submissions are left byte-identical;
grading refuses to run without a sandbox and says so in every status when told
``--no-isolation``; the same submission graded twice gets the same grades.

The runs use a relative ``--out`` and a ``PATH`` without the virtual environment (as a
cron job would), and their tables "case → expected → got" are printed whatever pytest's
capture mode.
"""
from __future__ import annotations

import csv
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
import corpus  # noqa: E402
import hostile  # noqa: E402

ROOT = corpus.ROOT
PLAIN_PATH = "/usr/local/bin:/usr/bin:/bin"  # no virtual environment on it
#: What only the hidden part of a test cell holds (the attackers' own cells may name probes).
HIDDEN_CODE = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "from utils.probing import probe as _probe", '_probe("')
pytestmark = pytest.mark.slow

TOY_LIMITS = ["--cell-timeout", "40", "--timeout", "300", "--memory-gb", "2"]
SHEET1_LIMITS = ["--cell-timeout", "120", "--timeout", "500", "--memory-gb", "3"]
SHEET3_LIMITS = ["--cell-timeout", "240", "--timeout", "600", "--memory-gb", "4"]
SECONDS: dict = {}  # run -> wall-clock seconds, printed with the tables


def _read(path):
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


def _environment(path=PLAIN_PATH):
    environment = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "COURSE_SHEETS_DIR")}
    environment["PATH"] = path
    return environment


def _grade(base: Path, submissions: str, out: str, sheet: str, limits: list, *extra, path=PLAIN_PATH, label=None):
    """One run of the grading command in ``base`` (relative ``--out``)."""
    command = [sys.executable, "-m", "autograder", "grade", submissions, "--sheet", sheet, "--jobs", "2",
               "--out", out, "--source", "source", "--secret-file", "course-secret", "--quiet", *limits, *extra]
    started = time.monotonic()
    run = subprocess.run(command, cwd=base, capture_output=True, text=True, timeout=1800, env=_environment(path))
    SECONDS[label or out] = round(time.monotonic() - started, 1)
    return run


def _results(base: Path, out: str) -> dict:
    folder = base / out
    return {"out": folder, "grades": {r["student"]: r for r in _read(folder / "grades.csv")},
            "cells": {(r["student"], r["grade_id"]): r for r in _read(folder / "cells.csv")}}


@pytest.fixture(scope="module")
def base():
    """A folder with the sources of the toy sheet, sheet 1 and sheet 3, the course secret
    and a file only root may read (mode 0600).  Not under pytest's numbered temporary
    folders: another pytest session of the same user removes old ones, even while this
    module's runs still use them."""
    folder = Path(tempfile.mkdtemp(prefix="grading-corpora-"))
    yield from _filled(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _filled(folder: Path):
    for sheet in (corpus.SHEET, hostile.SHEET1, hostile.SHEET3):
        corpus.build_source(sheet, folder / "source")
    (folder / "course-secret").write_bytes(os.urandom(32))
    secret = folder / "root-only.txt"
    secret.write_text("ROOT-ONLY-" + os.urandom(12).hex() + "\n")
    secret.chmod(0o600)
    yield folder


def _plan(base, sheet):
    from autograder.engine import notebooks

    return notebooks.plan(str(base / "source"), sheet)


# ----------------------------------------------------------------------------- toy corpus
@pytest.fixture(scope="module")
def toy_run(base):
    release = corpus.release_of(base / "source", corpus.SHEET)
    corpus.write(corpus.CASES, release, base / "toy")
    before = corpus.digest_tree(base / "toy")
    run = _grade(base, "toy", "out-toy", corpus.SHEET, TOY_LIMITS, "--sheets-dir", str(corpus.SHEETS_DIR))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return {**_results(base, "out-toy"), "before": before, "release": release}


def _toy_got(run, case):
    cells = {g: (float(run["cells"][(case.name, g)]["score"]), run["cells"][(case.name, g)]["status"])
             for g in corpus.FULL if (case.name, g) in run["cells"]}
    return cells, run["grades"][case.name]["status"]


def _toy_matches(run, case) -> bool:
    cells, status = _toy_got(run, case)
    expected = case.expected_cells()
    return (all(cells.get(g) == (float(p), s) for g, (p, s) in expected.items())
            and status.startswith(case.status) and case.status_contains in status)


def test_print_toy_table(toy_run, capsys):
    def short(cells):
        return " ".join(f"{p:g}" + ("" if s in ("passed", "failed") else f"({s})") for p, s in cells)

    lines = ["", f"toy corpus ({SECONDS.get('out-toy')} s; points per test: square_sum/normalize/derivative)",
             f"{'case':<20} {'kind':<8} {'expected':<26} {'got':<26} ok"]
    for case in corpus.CASES:
        cells, status = _toy_got(toy_run, case)
        expected = case.expected_cells()
        lines.append(f"{case.name:<20} {case.kind:<8} {short([expected[g] for g in corpus.FULL]):<26} "
                     f"{short([cells.get(g, (-1, '?')) for g in corpus.FULL]):<26} "
                     f"{'yes' if _toy_matches(toy_run, case) else 'NO'}")
        lines.append(f"{'':<20}   status: {status[:110]}")
    with capsys.disabled():
        print("\n".join(lines))


@pytest.mark.parametrize("case", corpus.CASES, ids=[c.name for c in corpus.CASES])
def test_toy_case(toy_run, case):
    cells, status = _toy_got(toy_run, case)
    for grade_id, (points, cell_status) in case.expected_cells().items():
        assert cells.get(grade_id) == (float(points), cell_status), (grade_id, cells, status)
    assert status.startswith(case.status), status
    assert case.status_contains in status, status


def test_toy_submissions_untouched(toy_run, base):
    assert corpus.digest_tree(base / "toy") == toy_run["before"]


def test_toy_manual_cell_left_for_the_instructor(toy_run):
    row = toy_run["cells"][("reference", "in_words")]
    assert row["status"] == "needs manual grading" and row["max_score"] == "1"


def test_toy_gradebook_holds_every_submission(toy_run):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{toy_run['out'] / 'gradebook.db'}", course_id="explaining-nn") as gradebook:
        students = {s.id for s in gradebook.students}
        assert {c.name for c in corpus.CASES if c.layout not in ("missing", "corrupt")} <= students
        assert gradebook.find_submission(corpus.SHEET, "reference").score == 5
        assert gradebook.find_submission(corpus.SHEET, "change_metadata").max_score == 6


def test_same_submission_graded_twice_gets_the_same_grades(toy_run, base):
    """Three cases graded again into a new course folder (same course secret): every
    cell's points and status are those of the first run."""
    chosen = [c for c in corpus.CASES if c.name in ("reference", "patch_numpy", "in_place")]
    corpus.write(chosen, toy_run["release"], base / "toy-again")
    run = _grade(base, "toy-again", "out-toy-again", corpus.SHEET, TOY_LIMITS, "--sheets-dir", str(corpus.SHEETS_DIR))
    assert run.returncode == 0, run.stderr[-3000:]
    again = _results(base, "out-toy-again")["cells"]
    assert {student for student, _ in again} == {c.name for c in chosen}
    for key, row in again.items():
        assert (row["score"], row["status"]) == (toy_run["cells"][key]["score"], toy_run["cells"][key]["status"]), key


# ----------------------------------------------------------------------------- hostile corpus
def _context(base):
    return {"secret": str(base / "root-only.txt"), "solutions": str(ROOT / "solutions"), "shadow": "/etc/shadow",
            "solution_notebook": str(base / "source" / hostile.SHEET1 / f"{hostile.SHEET1}.ipynb")}


def _hostile_run(base, sheet, attacks, limits, folder):
    release = corpus.release_of(base / "source", sheet)
    hostile.write(attacks, release, corpus.solutions(base / "source", sheet), base / folder, _context(base))
    before = corpus.digest_tree(base / folder)
    secret = base / "root-only.txt"
    secret_before = (secret.read_bytes(), stat.S_IMODE(secret.stat().st_mode), secret.stat().st_mtime_ns)
    run = _grade(base, folder, f"out-{folder}", sheet, limits)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    tests = _plan(base, sheet).tests
    return {**_results(base, f"out-{folder}"), "before": before, "folder": base / folder, "tests": tests,
            "secret_before": secret_before, "log": run.stdout + run.stderr}


@pytest.fixture(scope="module")
def sheet1_run(base):
    return _hostile_run(base, hostile.SHEET1, hostile.SHEET1_ATTACKS + hostile.INTAKE_ATTACKS, SHEET1_LIMITS, "sheet1")


@pytest.fixture(scope="module")
def sheet3_run(base):
    return _hostile_run(base, hostile.SHEET3, hostile.SHEET3_ATTACKS, SHEET3_LIMITS, "sheet3")


HOSTILE = hostile.SHEET1_ATTACKS + hostile.INTAKE_ATTACKS + hostile.SHEET3_ATTACKS
RUN_OF = {hostile.SHEET1: "sheet1_run", hostile.SHEET3: "sheet3_run"}


def _hostile_got(run, attack):
    student = hostile.recorded_as(attack)
    cells = {t: (float(run["cells"][(student, t)]["score"]), run["cells"][(student, t)]["status"])
             for t, _ in run["tests"] if (student, t) in run["cells"]}
    row = run["grades"].get(student, {})
    return cells, row.get("status", "(no row)"), float(row.get("score", "nan"))


def _hostile_expected(run, attack):
    if attack.sandboxed:
        return hostile.expected_cells(attack, run["tests"])
    return {t: (0.0, "not graded") for t, _ in run["tests"]}


def _hostile_matches(run, attack) -> bool:
    cells, status, score = _hostile_got(run, attack)
    expected = _hostile_expected(run, attack)
    if attack.sandboxed:
        cells_ok = cells == expected
    else:  # nothing ran: no cell scored (the gradebook may list them as not graded, or not at all)
        cells_ok = score == 0 and all(value == (0.0, "not graded") for value in cells.values())
    return cells_ok and status.startswith(attack.status) and attack.status_contains in status


@pytest.mark.parametrize("attack", HOSTILE, ids=[f"{a.sheet[:6]}-{a.name}" for a in HOSTILE])
def test_hostile_case(attack, request):
    run = request.getfixturevalue(RUN_OF[attack.sheet])
    cells, status, score = _hostile_got(run, attack)
    expected = _hostile_expected(run, attack)
    if attack.sandboxed:
        assert cells == expected, (status, {t: (cells.get(t), e) for t, e in expected.items() if cells.get(t) != e})
    else:
        assert score == 0 and all(value == (0.0, "not graded") for value in cells.values()), (status, cells)
    assert status.startswith(attack.status), status
    assert attack.status_contains in status, status


def test_print_hostile_table(sheet1_run, sheet3_run, capsys):
    runs = {hostile.SHEET1: sheet1_run, hostile.SHEET3: sheet3_run}
    lines = ["", f"hostile corpus (sheet 1: {SECONDS.get('out-sheet1')} s, sheet 3: {SECONDS.get('out-sheet3')} s)",
             f"{'sheet':<7} {'case':<24} {'class':<17} {'expected':<30} {'got':<30} ok"]
    counts: dict = {}
    for attack in HOSTILE:
        run = runs[attack.sheet]
        cells, status, score = _hostile_got(run, attack)
        expected = _hostile_expected(run, attack)
        if attack.sandboxed:
            want = f"{sum(p for p, _ in expected.values()):g}/{sum(p for _, p in run['tests']):g}"
        else:
            want = attack.status.split(":")[0]
        got = f"{score:g}/{sum(p for _, p in run['tests']):g}" if attack.sandboxed else status.split(":")[0]
        ok = _hostile_matches(run, attack)
        counts[attack.klass] = counts.get(attack.klass, 0) + 1
        lines.append(f"{attack.sheet[:6]:<7} {attack.name:<24} {attack.klass:<17} {want:<30} {got:<30} "
                     f"{'yes' if ok else 'NO'}")
        lines.append(f"{'':<7}   status: {status[:120]}")
    lines.append("cases per class: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    with capsys.disabled():
        print("\n".join(lines))


def test_every_class_is_covered():
    classes = {a.klass.split()[0] for a in HOSTILE}
    assert {"1", "2", "3", "4", "6", "7", "honest", "control"} <= classes  # class 5: the two tests below
    assert len(HOSTILE) + 2 >= 40


def test_reference_keeps_full_marks_in_every_batch(sheet1_run, sheet3_run):
    for run in (sheet1_run, sheet3_run):
        row = run["grades"]["reference"]
        assert row["status"] == "graded", row
        assert float(row["score"]) == sum(p for _, p in run["tests"]), row


def test_root_only_file_unchanged_and_never_copied(sheet1_run, base):
    """The links planted by the kernel (and handed in as submissions) were never followed:
    the file keeps its bytes and mode, and no output of the course folder holds them."""
    secret = base / "root-only.txt"
    content, mode, mtime = sheet1_run["secret_before"]
    assert (secret.read_bytes(), stat.S_IMODE(secret.stat().st_mode), secret.stat().st_mtime_ns) == (content, mode, mtime)
    assert mode == 0o600
    token = content.strip()
    shadow = Path("/etc/shadow").read_bytes().split(b":")[0] + b":" if Path("/etc/shadow").exists() else token
    for path in sheet1_run["out"].rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            assert token not in data, path
            assert shadow + b"*" not in data and shadow + b"!" not in data, path
    assert token.decode() not in sheet1_run["log"]


def test_kernel_could_not_plant_links_in_the_course_folder(sheet1_run):
    links = [p for p in sheet1_run["out"].rglob("*") if p.is_symlink()]
    assert links == []


def test_hidden_code_never_in_student_files(toy_run, sheet1_run, sheet3_run):
    for run in (toy_run, sheet1_run, sheet3_run):
        pages = sorted((run["out"] / "feedback").rglob("*.html")) + sorted((run["out"] / "autograded").rglob("*.ipynb"))
        assert pages
        for page in pages:
            text = page.read_text()
            for marker in HIDDEN_CODE:
                assert marker not in text, (page, marker)


def test_answer_methods_never_called_by_the_probe(sheet1_run):
    """The probes record an answer of an unexpected type without calling any of its
    methods: the marker those methods print never shows under a test cell."""
    for attack in ("array_dunder", "tensor_subclass", "sympy_subclass"):
        path = sheet1_run["out"] / "autograded" / attack / hostile.SHEET1 / f"{hostile.SHEET1}.ipynb"
        notebook = nbformat.read(path, as_version=4)
        tests = [c for c in notebook.cells if corpus.grade_id(c) and corpus.grade_id(c).startswith("test_")]
        assert tests
        for cell in tests:
            assert hostile.METHOD_MARKER not in str(cell.get("outputs", [])), (attack, corpus.grade_id(cell))


def test_fork_bomb_bounded_by_the_process_limit(sheet1_run):
    from autograder.course import Limits

    path = sheet1_run["out"] / "autograded" / "fork_bomb" / hostile.SHEET1 / f"{hostile.SHEET1}.ipynb"
    found = re.findall(r"FORKED (\d+) CHILDREN", path.read_text())
    assert found and all(0 < int(n) < Limits().processes for n in found), found


def test_hostile_submissions_untouched(sheet1_run, sheet3_run):
    for run in (sheet1_run, sheet3_run):
        assert corpus.digest_tree(run["folder"]) == run["before"]


# ----------------------------------------------------------------------------- failing closed
def test_refuses_to_grade_without_bubblewrap(base, tmp_path):
    """No ``bwrap`` on PATH: the command exits non-zero, says why, and grades nothing."""
    release = corpus.release_of(base / "source", hostile.SHEET1)
    reference = [a for a in hostile.SHEET1_ATTACKS if a.name == "reference"]
    hostile.write(reference, release, corpus.solutions(base / "source", hostile.SHEET1), base / "no-bwrap", _context(base))
    empty = tmp_path / "bin"
    empty.mkdir()
    run = _grade(base, "no-bwrap", "out-no-bwrap", hostile.SHEET1, SHEET1_LIMITS, path=str(empty))
    assert run.returncode != 0
    assert "refusing to grade" in run.stderr and "bubblewrap" in run.stderr, run.stderr[-2000:]
    assert not (base / "out-no-bwrap" / "grades.csv").exists()
    assert not (base / "out-no-bwrap" / "gradebook.db").exists()


def test_no_isolation_grades_and_says_so_in_every_status(base):
    release = corpus.release_of(base / "source", hostile.SHEET1)
    chosen = [a for a in hostile.SHEET1_ATTACKS if a.name == "reference"]
    hostile.write(chosen, release, corpus.solutions(base / "source", hostile.SHEET1), base / "unisolated", _context(base))
    # without a sandbox the memory limit is per process (address space): torch needs 4 GB of it
    limits = SHEET1_LIMITS[:-1] + ["4"]
    run = _grade(base, "unisolated", "out-unisolated", hostile.SHEET1, limits, "--no-isolation")
    assert run.returncode == 0, run.stderr[-3000:]
    assert "WARNING: --no-isolation" in run.stderr
    grades = _results(base, "out-unisolated")["grades"]
    assert grades and all("graded WITHOUT isolation" in row["status"] for row in grades.values()), grades
    assert float(grades["reference"]["score"]) == sum(p for _, p in _plan(base, hostile.SHEET1).tests)
