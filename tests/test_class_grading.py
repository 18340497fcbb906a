"""A class of 40 graded by the real grading command under each way of running it: one
local worker, two local workers, a Dask cluster started here as separate ``dask
scheduler`` and ``dask worker`` processes on 127.0.0.1, and two local workers writing a
PostgreSQL gradebook.  Every run must give every student the same grades, cell by cell,
and write every job exactly once.

The class is the toy sheet's (``tests/grading``): 40 students whose submissions are the
toy corpus's cases — right, blank, cheating, broken, corrupt, zipped, misnamed, missing —
each handed in by several students under their own names, so that challenge inputs
differ from student to student.  The toy sheet keeps a notebook to about a second, which
lets four gradings of 40 fit into the test suite; the sandbox, the checker, the
gradebook and the runner are the ones every sheet goes through.
"""
from __future__ import annotations

import csv
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
import corpus  # noqa: E402
from dask_cluster import dask_cluster  # noqa: E402

pytestmark = pytest.mark.slow

STUDENTS = 40
LIMITS = ["--cell-timeout", "40", "--timeout", "300", "--memory-gb", "2"]
#: Cases that wait for a limit (a timeout, a memory or process bound), run the notebook
#: again after a dead kernel, or import PyTorch: they say nothing more in a class than in
#: the corpus, where each runs once, and would multiply the time of four gradings.
SLOW_CASES = {"infinite_loop", "huge_allocation", "fork_bomb", "sigkill_in_test", "hard_exit_answer", "os_exit",
              "patch_torch"}


def class_of(students: int) -> list:
    cases = [case for case in corpus.CASES if case.name not in SLOW_CASES]
    return [dataclasses.replace(cases[index % len(cases)], name=f"s{index:02d}-{cases[index % len(cases)].name}")
            for index in range(students)]


@pytest.fixture(scope="module")
def classroom():
    folder = Path(tempfile.mkdtemp(prefix="class-of-40-"))
    corpus.build_source(corpus.SHEET, folder / "source")
    (folder / "course-secret").write_bytes(os.urandom(32))
    students = class_of(STUDENTS)
    corpus.write(students, corpus.release_of(folder / "source", corpus.SHEET), folder / "class")
    yield folder, students
    shutil.rmtree(folder, ignore_errors=True)


def grade(folder: Path, out: str, *options: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "autograder", "grade", "class", "--sheet", corpus.SHEET, "--out", out,
               "--source", "source", "--sheets-dir", str(corpus.SHEETS_DIR), "--secret-file", "course-secret",
               "--quiet", *LIMITS, *options]
    run = subprocess.run(command, cwd=folder, capture_output=True, text=True, timeout=1500)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return run


def outcome(out: Path) -> dict:
    """What an instructor reads: grades.csv and cells.csv, as sorted rows."""
    tables = {}
    for name in ("grades.csv", "cells.csv"):
        with open(out / name, newline="") as stream:
            tables[name] = sorted(tuple(sorted(row.items())) for row in csv.DictReader(stream))
    return tables


def writes_in(url: str) -> dict:
    """How often each (student, sheet) job of a gradebook was written."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT student, sheet, writes FROM autograder_jobs")).all()
    finally:
        engine.dispose()
    return {(student, sheet): writes for student, sheet, writes in rows}


def test_a_class_of_40_grades_the_same_every_way_it_is_run(classroom, postgres_url):
    folder, students = classroom
    before = corpus.digest_tree(folder / "class")
    grade(folder, "one-worker", "--jobs", "1")
    grade(folder, "two-workers", "--jobs", "2")
    with dask_cluster(folder, workers=2, pythonpath=[corpus.ROOT], cwd=corpus.ROOT) as address:
        grade(folder, "dask-cluster", "--cluster", address)
    grade(folder, "postgresql", "--jobs", "2", "--gradebook", postgres_url)

    runs = ("one-worker", "two-workers", "dask-cluster", "postgresql")
    outcomes = {run: outcome(folder / run) for run in runs}
    for run in runs[1:]:
        assert outcomes[run] == outcomes["one-worker"], f"{run} graded the class differently from one worker"

    grades = {dict(row)["student"]: dict(row) for row in outcomes["one-worker"]["grades.csv"]}
    assert sorted(grades) == sorted(case.name for case in students)
    full = sum(points for points, _ in corpus.FULL.values())
    references = [name for name in grades if name.endswith("-reference")]
    assert len(references) >= 2 and all(float(grades[name]["score"]) == full for name in references)
    assert all(float(grades[name]["score"]) == 0 for name in grades if name.endswith("-blank"))
    assert {grades[name]["status"].split(":")[0] for name in grades} >= {"graded", "missing", "corrupt"}

    handed_in = {(case.name, corpus.SHEET) for case in students if case.layout != "missing"}
    for run in runs[:3]:
        written = writes_in(f"sqlite:///{folder / run / 'gradebook.db'}")
        assert {key for key, count in written.items() if count} >= handed_in, run
        assert set(written.values()) == {1}, f"{run}: a job was written more than once"
    assert set(writes_in(postgres_url).values()) == {1}
    assert corpus.digest_tree(folder / "class") == before  # no submission was changed
