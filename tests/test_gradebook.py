"""The course's records (autograder.engine.gradebook): nbgrader's gradebook, the graded
course folder, and claims shared by several coordinators, on SQLite and on PostgreSQL.

A small sheet made here (two autograded tests, one answer graded by hand) stands in for the
course's sheets, and hand-made results stand in for the grading worker.  Scores are read
back through nbgrader's own API and command line, not through the code under test.
"""
from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder.engine import cluster
from autograder.engine.gradebook import JOBS, CourseRecords
from autograder.engine.jobs import CellResult, CellStatus, Job, JobResult, Status

SHEET = "sheet_demo"
#: The grade cells of the demo sheet: grade_id -> (points, kind).
POINTS = {"test_double": (3.0, "auto"), "show_that": (2.0, "manual"), "test_triple": (1.0, "auto")}


def nbgrader_cell(cell, grade_id, *, grade=False, solution=False, locked=False, points=None):
    meta = {"grade": grade, "solution": solution, "locked": locked, "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        meta["points"] = points
    cell.metadata["nbgrader"] = meta
    return cell


def make_source(root: Path) -> Path:
    """source/sheet_demo/sheet_demo.ipynb: an nbgrader source notebook with three grade cells."""
    new = nbformat.v4
    cells = [
        new.new_markdown_cell("# A small sheet"),
        nbgrader_cell(new.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                                        "    ### END SOLUTION"), "double", solution=True),
        nbgrader_cell(new.new_code_cell("assert double(2) == 4"), "test_double", grade=True, locked=True, points=3),
        new.new_markdown_cell("Show that doubling twice multiplies by four."),
        nbgrader_cell(new.new_markdown_cell("### BEGIN SOLUTION\n2(2x) = 4x\n### END SOLUTION"), "show_that",
                      grade=True, solution=True, points=2),
        nbgrader_cell(new.new_code_cell("assert double(3) == 6"), "test_triple", grade=True, locked=True, points=1),
    ]
    notebook = new.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    folder = root / SHEET
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{SHEET}.ipynb")
    (folder / f"{SHEET}.nb.py").write_text("# the jupytext source holds solutions: never copied\n")
    return root


@pytest.fixture
def source_root(tmp_path) -> Path:
    return make_source(tmp_path / "source")


def make_result(student: str, passed, digest: str = "d1", status: Status = Status.GRADED,
                source_root: Path | None = None) -> JobResult:
    """The result a worker would send for the demo sheet with the given tests passed."""
    cells = []
    for grade_id, (points, kind) in POINTS.items():
        if kind == "manual":
            cells.append(CellResult(grade_id, kind, 0.0, points, CellStatus.MANUAL))
        elif status is Status.GRADED:
            ok = grade_id in passed
            cells.append(CellResult(grade_id, kind, points if ok else 0.0, points,
                                    CellStatus.PASSED if ok else CellStatus.FAILED, "" if ok else "wrong"))
    notebook = ""
    if source_root is not None:
        notebook = (source_root / SHEET / f"{SHEET}.ipynb").read_text()
    return JobResult(student=student, sheet=SHEET, digest=digest, status=status, cells=cells,
                     autograded=notebook, feedback=f"<html><body>feedback for {student}</body></html>")


def expected_total(passed) -> float:
    return sum(POINTS[g][0] for g in passed)


def nbgrader_scores(url: str) -> dict:
    """(student, grade_id) -> (auto_score, needs_manual_grade), read with nbgrader's API."""
    from nbgrader.api import Gradebook

    scores = {}
    with Gradebook(url, course_id="explaining-nn") as gradebook:
        for submission in gradebook.assignment_submissions(SHEET):
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    scores[(submission.student.id, grade.name)] = (grade.auto_score, grade.needs_manual_grade)
    return scores


def job_rows(records: CourseRecords) -> dict:
    from sqlalchemy import select

    with records.engine.connect() as connection:
        return {(r.student, r.sheet, r.digest): r for r in connection.execute(select(JOBS))}


def run_nbgrader(folder: Path, *argv: str) -> None:
    """nbgrader's command line in ``folder`` (which it reads nbgrader_config.py from).

    It runs in a fresh process, as `nbgrader ...` would, but without loading the IRI
    grammar that jsonschema would otherwise compile for seconds (no notebook needs it)."""
    code = ("import sys; sys.modules['rfc3987_syntax'] = None; sys.argv = ['nbgrader'] + sys.argv[1:]; "
            "from nbgrader.apps.nbgraderapp import main; main()")
    subprocess.run([sys.executable, "-c", code, *argv], cwd=folder, check=True, capture_output=True, timeout=300)


def read_csv(path: Path) -> list:
    with open(path, newline="") as stream:
        return list(csv.DictReader(stream))


CLASS = {"ada": {"test_double", "test_triple"}, "bob": {"test_double"}, "cy": set(), "dee": {"test_triple"}}


def test_records_make_an_nbgrader_course_folder(tmp_path, source_root):
    out = tmp_path / "out"
    with CourseRecords(out, source_root=source_root) as records:
        cells = records.prepare([SHEET])[SHEET]
        assert [(c.grade_id, c.max_score, c.kind) for c in cells] == [(g, p, k) for g, (p, k) in POINTS.items()]
        for student, passed in CLASS.items():
            assert records.claim((student, SHEET, "d1"))
            assert records.record(make_result(student, passed, source_root=source_root))
        missing = JobResult(student="eve", sheet=SHEET, digest="none", status=Status.MISSING, detail="no folder")
        assert records.record(missing)  # a result made at intake, without a claim
        records.write_tables()
        url = records.url
    assert (out / "source" / SHEET / f"{SHEET}.ipynb").is_file()
    assert not (out / "source" / SHEET / f"{SHEET}.nb.py").exists()
    for student in CLASS:
        assert json.loads((out / "autograded" / student / SHEET / f"{SHEET}.ipynb").read_text())["cells"]
        assert student in (out / "feedback" / student / SHEET / f"{SHEET}.html").read_text()
    grades = {row["student"]: row for row in read_csv(out / "grades.csv")}
    assert set(grades) == set(CLASS) | {"eve"}
    for student, passed in CLASS.items():
        assert float(grades[student]["score"]) == expected_total(passed)
        assert float(grades[student]["max_score"]) == 6.0 and grades[student]["status"] == "graded"
    assert grades["eve"]["status"] == "missing: no folder" and float(grades["eve"]["score"]) == 0
    cells_rows = [r for r in read_csv(out / "cells.csv") if r["student"] == "bob"]
    assert [(r["grade_id"], r["kind"], float(r["score"]), r["status"]) for r in cells_rows] == [
        ("test_double", "auto", 3.0, "passed"), ("show_that", "manual", 0.0, "needs manual grading"),
        ("test_triple", "auto", 0.0, "failed")]
    scores = nbgrader_scores(url)
    assert scores[("bob", "test_double")] == (3.0, False)
    assert scores[("bob", "test_triple")] == (0.0, False)
    assert scores[("bob", "show_that")] == (None, True)
    assert not any(student == "eve" for student, _ in scores)  # nothing handed in: no submission
    # nbgrader itself, configured by OUT/nbgrader_config.py, sees the same totals.
    run_nbgrader(out, "export", "--to", "grades.export.csv")
    exported = {row["student_id"]: float(row["score"]) for row in read_csv(out / "grades.export.csv")}
    assert exported == {student: expected_total(passed) for student, passed in CLASS.items()}


def grading_job(student: str, passed, digest: str = "d1") -> Job:
    return Job(student=student, sheet=SHEET, notebook=json.dumps(sorted(passed)), files={}, digest=digest,
               seed_secret="00")


def grade_from_plan(job: Job) -> JobResult:
    """Stand-in for the grading worker: the job's notebook field lists the tests that pass."""
    return make_result(job.student, set(json.loads(job.notebook)), digest=job.digest)


def test_a_rerun_after_a_killed_coordinator_grades_only_what_is_missing(tmp_path, source_root):
    out = tmp_path / "out"
    jobs = [grading_job(student, passed) for student, passed in CLASS.items()]
    # The first coordinator claims every job, records two, and is killed (never closes).
    first = CourseRecords(out, source_root=source_root, claim_seconds=1.0)
    first.prepare([SHEET])
    assert list(first.claimed(jobs)) == jobs
    for job in jobs[:2]:
        assert first.record(grade_from_plan(job))
    # While its claims live, nobody else takes the jobs.
    with CourseRecords(out, source_root=source_root) as impatient:
        assert impatient.pending(jobs) == jobs[2:]
        assert list(impatient.claimed(impatient.pending(jobs))) == []
    time.sleep(1.2)  # the dead coordinator's claims expire
    seen = []
    with CourseRecords(out, source_root=source_root) as second:
        todo = second.pending(jobs)
        assert todo == jobs[2:]
        summary = cluster.run(second.claimed(todo), run_job=grade_from_plan, workers=1, total=len(todo),
                              on_result=lambda r: seen.append((r.key, second.record(r))), progress=False)
        second.write_tables()
        rows = job_rows(second)
    assert sorted(seen) == sorted((job.key, True) for job in jobs[2:]) and summary.jobs == 2
    assert all(row.writes == 1 and row.outcome == "recorded" for row in rows.values()) and len(rows) == 4
    # The killed coordinator, come back to life, cannot write a job it lost.
    assert not first.record(grade_from_plan(jobs[3]))
    assert job_rows(first)[jobs[3].key].writes == 1
    first.engine.dispose()
    first.gradebook.close()
    grades = {row["student"]: float(row["score"]) for row in read_csv(out / "grades.csv")}
    assert grades == {student: expected_total(passed) for student, passed in CLASS.items()}
    for job in jobs:  # formgrader lists the submissions from the submitted folders
        assert (out / "submitted" / job.student / SHEET / f"{SHEET}.ipynb").read_text() == job.notebook
    # --regrade grades everything again, once.
    with CourseRecords(out, source_root=source_root, regrade=True) as third:
        assert list(third.claimed(third.pending(jobs))) == jobs
        for job in jobs:
            assert third.record(grade_from_plan(job))
            assert not third.record(grade_from_plan(job))
        assert {row.writes for row in job_rows(third).values()} == {2}


def test_a_failed_job_is_graded_again_by_the_next_run(tmp_path, source_root):
    out = tmp_path / "out"
    job = grading_job("ada", {"test_double"})
    with CourseRecords(out, source_root=source_root) as records:
        assert records.record(make_result("ada", set(), status=Status.ERROR))
        assert records.pending([job]) == [job]
    with CourseRecords(out, source_root=source_root) as records:
        assert list(records.claimed([job])) == [job]
        assert records.record(grade_from_plan(job))
        records.write_tables()
    assert read_csv(out / "grades.csv")[0]["score"] == "3"


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's autoflush notes, from two threads
def test_two_coordinators_racing_on_postgresql_never_both_write_a_job(tmp_path, source_root, postgres_url):
    out = tmp_path / "out"  # one output folder shared by both, as on a network file system
    students = {f"s{index:02d}": {"test_double"} if index % 2 else {"test_triple"} for index in range(16)}
    jobs = [grading_job(student, passed) for student, passed in students.items()]
    start = threading.Barrier(2)
    written, errors = {"a": [], "b": []}, []

    def coordinator(name: str, order: list) -> None:
        try:
            with CourseRecords(out, postgres_url, source_root=source_root) as records:
                start.wait()
                records.prepare([SHEET])  # both at once: one after the other
                start.wait()  # then both claim and record at the same time
                for job in records.claimed(records.pending(order)):
                    time.sleep(0.05)  # grading takes a moment
                    if records.record(grade_from_plan(job)):
                        written[name].append(job.key)
        except Exception as error:  # noqa: BLE001 - reported by the test below
            errors.append(error)
            raise

    threads = [threading.Thread(target=coordinator, args=("a", jobs)),
               threading.Thread(target=coordinator, args=("b", jobs[::2] + jobs[1::2]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert written["a"] and written["b"]  # both graded a share of the class
    assert not set(written["a"]) & set(written["b"])
    assert sorted(written["a"] + written["b"]) == sorted(job.key for job in jobs)
    with CourseRecords(out, postgres_url, source_root=source_root) as records:
        assert {row.writes for row in job_rows(records).values()} == {1}
        records.write_tables()
    scores = nbgrader_scores(postgres_url)
    for student, passed in students.items():
        assert sum(scores[(student, g)][0] or 0 for g in POINTS) == expected_total(passed)
    assert len({student for student, _ in scores}) == len(students)


def test_sqlite_and_postgresql_give_the_same_grades(tmp_path, source_root, postgres_url):
    tables, scores = {}, {}
    for name, url in (("sqlite", None), ("postgresql", postgres_url)):
        out = tmp_path / name
        with CourseRecords(out, url, source_root=source_root) as records:
            records.prepare([SHEET])
            for student, passed in CLASS.items():
                assert records.record(make_result(student, passed, source_root=source_root))
            assert records.record(make_result("zed", set(), status=Status.TIMEOUT, source_root=source_root))
            records.write_tables()
            scores[name] = nbgrader_scores(records.url)
        tables[name] = ((out / "grades.csv").read_text(), (out / "cells.csv").read_text())
    assert tables["sqlite"] == tables["postgresql"]
    assert scores["sqlite"] == scores["postgresql"]
    for student, passed in CLASS.items():
        assert sum(scores["postgresql"][(student, g)][0] or 0 for g in POINTS) == expected_total(passed)
    assert scores["postgresql"][("zed", "show_that")] == (None, True)  # the notebook is there to grade by hand
    assert "postgresql" in (tmp_path / "postgresql" / "nbgrader_config.py").read_text()


def test_the_submitted_folder_holds_the_notebook_and_files_of_the_job(tmp_path, source_root):
    import base64

    files = {"data/table.csv": base64.b64encode(b"a,b\n1,2\n").decode(),
             "../outside.txt": base64.b64encode(b"never written").decode()}
    job = Job(student="ada", sheet=SHEET, notebook='{"cells": []}', files=files, digest="d2", seed_secret="00")
    with CourseRecords(tmp_path / "out", source_root=source_root) as records:
        folder = records.write_submitted(job)
        assert folder.parent.parent == records.out / "submitted"
        records.write_submitted(job)  # again: replaced, not merged
    assert sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) == [
        "data/table.csv", f"{SHEET}.ipynb"]
    assert (folder / "data" / "table.csv").read_bytes() == b"a,b\n1,2\n"
    assert not list(tmp_path.rglob("outside.txt"))


def test_a_sheet_with_submissions_keeps_its_points_when_its_source_changes(tmp_path, source_root):
    out = tmp_path / "out"
    notebook_path = source_root / SHEET / f"{SHEET}.ipynb"
    with CourseRecords(out, source_root=source_root) as records:
        records.prepare([SHEET])
        assert records.record(make_result("ada", {"test_double"}))
    # A new locked cell without points: the graded assignment stays as it is.
    notebook = nbformat.read(notebook_path, as_version=4)
    notebook.cells.insert(1, nbgrader_cell(nbformat.v4.new_markdown_cell("A hint."), "hint", locked=True))
    nbformat.write(notebook, notebook_path)
    with CourseRecords(out, source_root=source_root) as records:
        records.prepare([SHEET])
        assert "A hint." in (out / "source" / SHEET / f"{SHEET}.ipynb").read_text()
        assert records.record(make_result("bob", {"test_triple"}))
    assert nbgrader_scores(records.url)[("bob", "test_triple")] == (1.0, False)
    # Other points for a test: refused, saying which cell changed.
    notebook.cells[3].metadata["nbgrader"]["points"] = 5
    assert notebook.cells[3].metadata["nbgrader"]["grade_id"] == "test_double"
    nbformat.write(notebook, notebook_path)
    with CourseRecords(out, source_root=source_root) as records:
        with pytest.raises(RuntimeError, match="test_double worth 5 instead of 3 points"):
            records.prepare([SHEET])


def test_names_that_leave_their_folder_are_refused(tmp_path, source_root):
    with CourseRecords(tmp_path / "out", source_root=source_root) as records:
        with pytest.raises(ValueError):
            records.record(make_result("../escape", {"test_double"}))
    assert not (tmp_path / "autograded").exists() and not (tmp_path / "escape").exists()


@pytest.mark.slow  # nbgrader runs the alembic command in a subprocess
def test_the_gradebook_schema_is_stamped_as_nbgrader_stamps_it():
    from nbgrader.api import get_alembic_version  # runs `alembic heads` on nbgrader's migrations

    from autograder.engine.gradebook import nbgrader_schema_version

    assert nbgrader_schema_version() == get_alembic_version()
