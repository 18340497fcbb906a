"""``python -m autograder grade SUBMISSIONS [options]``: grade a class.

SUBMISSIONS holds ``<student>/<sheet>/<sheet>.ipynb`` (nbgrader's submitted layout) or
one ``<student>.zip`` per student with the same folders inside.  Each (student, sheet)
becomes a job (:mod:`autograder.engine.intake`), runs on a worker of a Dask cluster —
an embedded local one with ``--jobs`` processes, or a running one given by ``--cluster``
— in a sandbox with a separate checker (:mod:`autograder.engine.worker`), and comes back
as data; this process alone writes the gradebook and the course folder in ``--out``
(:mod:`autograder.engine.gradebook`): ``grades.csv``, ``cells.csv``, the graded notebooks
and the feedback pages.  A job already recorded for the same submission is not graded
again (``--regrade`` forces it), so a run that was stopped is finished by running the
same command again.

Grading refuses to run without a sandbox (bubblewrap, root, see the README) unless
``--no-isolation`` is given, which runs the students' code as this user with only
per-process limits and says so in every status.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from autograder.course import ROOT, SHEETS, Limits
from autograder.engine import challenges, cluster, intake, sandbox
from autograder.engine.gradebook import CourseRecords
from autograder.engine.jobs import JobResult, Status


def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m autograder grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--sheet", action="append", help="grade only this sheet (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes of the embedded local cluster")
    parser.add_argument("--cluster", help="address of a running Dask scheduler, e.g. tcp://HOST:8786")
    parser.add_argument("--out", type=Path, default=ROOT / "grading" / "results", help="the graded course folder")
    parser.add_argument("--gradebook", help="SQLAlchemy URL of the gradebook (default: SQLite in --out)")
    parser.add_argument("--regrade", action="store_true", help="grade again what is already recorded")
    parser.add_argument("--secret-file", type=Path,
                        help="the course secret challenge inputs are drawn from (default: OUT/course-secret)")
    parser.add_argument("--source", type=Path, default=ROOT / "source", help="folder of the sheets' sources")
    parser.add_argument("--sheets-dir", type=Path, help="folder of the sheets' instructor parts (default: autograder/sheets)")
    parser.add_argument("--cell-timeout", type=int, default=Limits.cell_timeout)
    parser.add_argument("--timeout", type=int, default=Limits.timeout, help="wall-clock seconds per notebook")
    parser.add_argument("--memory-gb", type=float, default=Limits.memory_gb, help="memory of one job, all processes")
    parser.add_argument("--no-isolation", action="store_true",
                        help="run students' code WITHOUT a sandbox (only for a machine where bubblewrap cannot run)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def available_sheets(source: Path) -> list:
    return [sheet for sheet in sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file())]


def grade(submissions: Path, out: Path, *, sheets=None, jobs: int = 1, cluster_address: str | None = None,
          gradebook: str | None = None, regrade: bool = False, secret_file: Path | None = None,
          source: Path = ROOT / "source", sheets_dir: Path | None = None, limits: Limits | None = None,
          isolation: bool = True, progress: bool = False, log=print) -> list:
    """Grade every student × sheet under ``submissions``; returns the rows of grades.csv
    as dicts (every run's, from the gradebook)."""
    limits = limits or Limits()
    submissions, out, source = Path(submissions).absolute(), Path(out).absolute(), Path(source).absolute()
    if submissions.is_symlink() or not submissions.is_dir():
        raise ValueError(f"{submissions} is not a folder (a symbolic link is not accepted)")
    os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")  # nbgrader runs alembic
    secret = challenges.load_secret(secret_file or out / "course-secret")
    names = list(sheets or [s for s in available_sheets(source) if s in SHEETS or sheets_dir])
    staging = Path(tempfile.mkdtemp(prefix="autograder-intake-"))
    try:
        students = intake.discover(submissions, staging)
        if not sheets:  # the sheets at least one student handed in
            names = [s for s in names if any(isinstance(f, Path) and (f / s).exists() for f in students.values())]
        arrivals, finished = [], []
        for student, folder in students.items():
            for sheet in names:
                if isinstance(folder, intake.Refused):
                    item = intake.Intake(student, sheet, result=JobResult(student, sheet, "", Status.REFUSED, str(folder)))
                else:
                    item = intake.sheet_job(student, folder, sheet, secret=secret, limits=limits,
                                            source_dir=str(source), sheets_dir=str(sheets_dir or ""))
                if item.job is not None:
                    arrivals.append(item.job if isolation else _without_isolation(item.job))
                else:
                    finished.append(item.result)
        with CourseRecords(out, gradebook, source_root=source, regrade=regrade) as records:
            records.prepare(names)
            for result in finished:
                records.record(result)
            todo = records.pending(arrivals)
            if log:
                log(f"{len(arrivals) + len(finished)} notebook(s): {len(todo)} to grade, "
                    f"{len(arrivals) - len(todo)} already graded, {len(finished)} not gradable")
            cluster.run(records.claimed(todo), total=len(todo), cluster=cluster_address, workers=jobs,
                        on_result=records.record, progress=progress)
            records.write_tables()
            rows = records.results()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows


def _without_isolation(job):
    from dataclasses import replace

    return replace(job, isolation=False)


def summary_table(rows: list) -> str:
    """Per sheet: notebooks, how they ended, the median score and the median seconds."""
    lines = [f"{'sheet':<18} {'notebooks':>9} {'graded':>7} {'other':>6} {'median score':>13} {'median s':>9}"]
    for sheet in sorted({row["sheet"] for row in rows}):
        mine = [row for row in rows if row["sheet"] == sheet]
        graded = [row for row in mine if row["status"] == Status.GRADED.value]
        scores = [row["score"] for row in graded]
        seconds = [json.loads(row["summary"] or "{}").get("seconds", {}).get("total", 0.0) for row in graded]
        median = f"{statistics.median(scores):g}/{mine[0]['max_score']:g}" if scores else "-"
        lines.append(f"{sheet:<18} {len(mine):>9} {len(graded):>7} {len(mine) - len(graded):>6} {median:>13} "
                     f"{statistics.median(seconds) if seconds else 0:>9.1f}")
    return "\n".join(lines)


def main(argv):
    args = parse(argv)
    isolation = sandbox.isolation()
    if not isolation.available and not args.no_isolation:
        sys.exit(f"refusing to grade: {isolation.summary}.\nStudents' code must not run outside a sandbox; "
                 "see the README (instructors' section). To grade anyway on a machine you trust to be "
                 "disposable, pass --no-isolation.")
    if args.no_isolation:
        print("WARNING: --no-isolation: students' code runs as this user, with the course checkout, the "
              "gradebook and the network in reach, and memory bounded per process only.", file=sys.stderr)
    else:
        print(f"sandbox: {isolation.summary}", file=sys.stderr)
    rows = grade(args.submissions, args.out, sheets=args.sheet, jobs=args.jobs, cluster_address=args.cluster,
                 gradebook=args.gradebook, regrade=args.regrade, secret_file=args.secret_file, source=args.source,
                 sheets_dir=args.sheets_dir, isolation=not args.no_isolation, progress=not args.quiet,
                 limits=Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, memory_gb=args.memory_gb),
                 log=None if args.quiet else print)
    print(summary_table(rows))
    out = args.out.absolute()
    print(f"results: {out / 'grades.csv'}, {out / 'cells.csv'}, graded notebooks in {out / 'autograded'}, "
          f"feedback in {out / 'feedback'}")
    return 0
