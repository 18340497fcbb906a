"""The course's records of grading: nbgrader's gradebook, the graded course folder and the
claims that let several coordinators share one gradebook.

Only the coordinator (``python -m autograder grade``) writes here; the workers never see the
gradebook.  The gradebook is any SQLAlchemy URL nbgrader accepts: SQLite in the output
folder by default, PostgreSQL when several graders (coordinators on different machines)
work on one class.

The output folder is an nbgrader course folder, so that formgrader, ``nbgrader
generate_feedback`` and ``nbgrader export`` work in it::

    OUT/nbgrader_config.py                          points nbgrader at OUT and the gradebook
    OUT/gradebook.db                                (the default SQLite gradebook)
    OUT/source/<sheet>/<sheet>.ipynb                the source notebook of each sheet
    OUT/submitted/<student>/<sheet>/                the sheet folder as graded (notebook and files)
    OUT/autograded/<student>/<sheet>/<sheet>.ipynb  the graded notebook (hidden code removed)
    OUT/feedback/<student>/<sheet>/<sheet>.html     the student's feedback page
    OUT/grades.csv                                  student, sheet, score, max_score, status
    OUT/cells.csv                                   student, sheet, grade_id, kind, score, max_score, status

Every job (student, sheet, digest of the submitted folder) has one row in the table
``autograder_jobs`` of the same database, with that key as its primary key.  A coordinator
*claims* a job (inserts the row, or takes over a row whose claim has expired) before it
sends the job to a worker, keeps its claims alive while it runs, and writes a result only
while it holds the job's claim; so two coordinators never both grade or write the same job,
and a coordinator that was killed leaves claims that expire after ``claim_seconds``.  A job
whose result was recorded is not graded again by a later run (unless ``regrade``); a job
that ended in ``Status.ERROR`` (the grader's own failure) is graded again by the next run.
Claim deadlines use each coordinator's clock: the graders' machines must keep their clocks
roughly in step (NTP), well within ``claim_seconds``.
"""
from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import importlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

from autograder.course import CODE_STUB, COURSE_ID, ROOT, TEXT_STUB
from autograder.engine.jobs import CellStatus, JobResult, Status

# jsonschema (imported by nbgrader through nbformat) loads rfc3987_syntax when it is
# installed, which compiles a grammar for seconds of CPU; notebooks never need IRI checks.
sys.modules.setdefault("rfc3987_syntax", None)

#: Job states in ``autograder_jobs``: held by a coordinator, being written, or done.
CLAIMED, RECORDING, DONE = "claimed", "recording", "done"
#: Outcomes of a done job: a final result, or the grader's own failure (graded again by the next run).
RECORDED, FAILED = "recorded", "failed"
#: Files of a sheet's source folder that the graded course folder does not need.
SOURCE_IGNORE = ("*.nb.py", ".ipynb_checkpoints", "__pycache__")
CONFIG_IGNORE = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.nb.py"]


def default_url(out: Path) -> str:
    """The SQLite gradebook in the output folder."""
    return f"sqlite:///{Path(out).resolve() / 'gradebook.db'}"


@dataclass(frozen=True)
class GradeCell:
    """A cell of a sheet that carries points, as the sheet's source notebook says."""

    grade_id: str
    max_score: float
    kind: str  # "auto" (a test cell) or "manual" (an answer graded by hand)


def grade_cells(notebook_path: Path) -> list:
    """The grade cells of a source notebook, in notebook order."""
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    cells = []
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") or meta.get("task"):
            kind = "manual" if meta.get("solution") or meta.get("task") else "auto"
            cells.append(GradeCell(meta["grade_id"], float(meta.get("points", 0) or 0), kind))
    return cells


def nbgrader_schema_version() -> str:
    """The head revision of nbgrader's gradebook schema (what ``alembic heads`` prints for it)."""
    import nbgrader
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(Path(nbgrader.__file__).parent / "alembic"))
    return ScriptDirectory.from_config(config).get_current_head()


def create_nbgrader_schema(engine) -> None:
    """Create nbgrader's tables, stamped with their schema version, in an empty database.

    nbgrader's Gradebook does the same on first use, but finds the version by running the
    ``alembic`` command in a subprocess (seconds); this reads it in-process.  A database that
    already holds tables is left as it is."""
    from nbgrader.api import Base
    from sqlalchemy import inspect, text

    if inspect(engine).get_table_names():
        return
    with engine.begin() as connection:
        Base.metadata.create_all(bind=connection)
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES (:version)"),
                           {"version": nbgrader_schema_version()})


def generate_assignment(course: Path, sheet: str, url: str, course_id: str = COURSE_ID) -> None:
    """nbgrader's generate_assignment with create_assignment, in this process: puts the
    sheet of ``course/source/`` into the gradebook at ``url`` (and its student version into
    ``course/release/``).  Raises RuntimeError with nbgrader's log when it fails."""
    import io
    import logging

    from nbgrader.converters import GenerateAssignment
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = str(course)
    config.CourseDirectory.course_id = course_id
    config.CourseDirectory.db_url = url
    config.CourseDirectory.ignore = CONFIG_IGNORE
    config.CourseDirectory.assignment_id = sheet
    config.ClearSolutions.code_stub = {"python": CODE_STUB}
    config.ClearSolutions.text_stub = TEXT_STUB
    converter = GenerateAssignment(coursedir=CourseDirectory(config=config), config=config)
    converter.force = True
    converter.create_assignment = True
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    converter.log.addHandler(handler)
    try:
        converter.start()
    except (Exception, SystemExit) as error:  # nbgrader ends some failures with sys.exit
        raise RuntimeError(f"nbgrader generate_assignment failed for {sheet}: {type(error).__name__}: {error}\n"
                           f"{stream.getvalue()[-3000:]}") from error
    finally:
        converter.log.removeHandler(handler)


def _changed_sheet_message(sheet: str, recorded: dict, wanted: dict) -> str:
    changes = [f"{name} added" for name in wanted if name not in recorded]
    changes += [f"{name} removed" for name in recorded if name not in wanted]
    changes += [f"{name} worth {wanted[name]:g} instead of {recorded[name]:g} points"
                for name in wanted if name in recorded and wanted[name] != recorded[name]]
    return (f"{sheet}: the source's grade cells differ from those of the submissions already in the "
            f"gradebook ({'; '.join(changes)}). nbgrader cannot change an assignment that has submissions: "
            f"grade into a new gradebook and output folder, or first remove the sheet from this gradebook "
            f"(nbgrader db assignment remove {sheet} --force).")


def _tables():
    from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text

    metadata = MetaData()
    jobs = Table(
        "autograder_jobs", metadata,
        Column("student", String(255), primary_key=True),
        Column("sheet", String(255), primary_key=True),
        Column("digest", String(128), primary_key=True),
        Column("state", String(16), nullable=False),  # CLAIMED, RECORDING or DONE
        Column("owner", String(255), nullable=False),  # the coordinator that holds or last held the job
        Column("expires", Float, nullable=False),  # the claim's deadline (epoch seconds)
        Column("version", Integer, nullable=False),  # raised at every change: claims compare and swap on it
        Column("writes", Integer, nullable=False),  # how often a result of this job was written
        Column("outcome", String(16)),  # RECORDED or FAILED once a result was written
        Column("recorded_at", Float),
        Column("status", String(16)),
        Column("score", Float),
        Column("max_score", Float),
        Column("summary", Text),  # JSON: detail, notes and every grade cell's row of cells.csv
    )
    return metadata, jobs


METADATA, JOBS = _tables()


def _safe_name(name: str) -> str:
    """A student or sheet name used as a folder name must stay inside its folder."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise ValueError(f"not usable as a folder name: {name!r}")
    return name


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.chmod(temporary, 0o644)
    os.replace(temporary, path)


class CourseRecords:
    """The gradebook and the graded course folder of one coordinator.

    Typical use by the grading command::

        with CourseRecords(out, url, regrade=args.regrade) as records:
            records.prepare(sheets)
            todo = records.pending(jobs)
            cluster.run(records.claimed(todo), total=len(todo), on_result=records.record, ...)
            records.write_tables()
    """

    def __init__(self, out: Path, url: str | None = None, course_id: str = COURSE_ID, *,
                 source_root: Path = ROOT / "source", regrade: bool = False, claim_seconds: float = 300.0,
                 owner: str | None = None):
        from sqlalchemy import create_engine

        self.out = Path(out).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.url = url or default_url(self.out)
        self.course_id = course_id
        self.source_root = Path(source_root)
        self.regrade = regrade
        self.claim_seconds = claim_seconds
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.started = time.time()
        self.sheets: dict = {}  # sheet -> [GradeCell]
        options = {"connect_args": {"timeout": 60}} if self.url.startswith("sqlite") else {"pool_pre_ping": True}
        self.engine = create_engine(self.url, future=True, **options)
        with self._exclusive("setup"):
            from nbgrader.api import Gradebook

            create_nbgrader_schema(self.engine)
            self.gradebook = Gradebook(self.url, course_id=course_id)
            METADATA.create_all(self.engine)
        self.write_config()
        self._stop = threading.Event()
        self._keeper = None

    # ------------------------------------------------------------------ life cycle
    def __enter__(self) -> "CourseRecords":
        self._keeper = threading.Thread(target=self._keep_claims, name="keep-claims", daemon=True)
        self._keeper.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop renewing claims, hand back the jobs this coordinator claimed but never
        recorded (another run may take them at once), and close the database."""
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join()
            self._keeper = None
        if self.engine is None:
            return
        from sqlalchemy import and_, delete, update

        with self.engine.begin() as connection:
            mine = and_(JOBS.c.owner == self.owner, JOBS.c.state.in_([CLAIMED, RECORDING]))
            connection.execute(delete(JOBS).where(mine, JOBS.c.outcome.is_(None)))
            connection.execute(update(JOBS).where(mine).values(state=DONE, expires=0.0,
                                                               version=JOBS.c.version + 1))
        self.gradebook.close()
        self.engine.dispose()
        self.engine = None

    def _keep_claims(self) -> None:
        from sqlalchemy import update

        while not self._stop.wait(self.claim_seconds / 4):
            try:
                with self.engine.begin() as connection:
                    connection.execute(update(JOBS).where(JOBS.c.owner == self.owner,
                                                          JOBS.c.state.in_([CLAIMED, RECORDING]))
                                       .values(expires=time.time() + self.claim_seconds))
            except Exception:  # noqa: BLE001 - a missed renewal is retried; the claims last 4 periods
                continue

    @contextlib.contextmanager
    def _exclusive(self, name: str):
        """One coordinator at a time in a section (creating tables, preparing sheets)."""
        from sqlalchemy import text
        from sqlalchemy.engine import make_url

        url = make_url(self.url)
        if url.get_backend_name() == "postgresql":
            lock_id = int.from_bytes(hashlib.sha256(f"autograder:{name}".encode()).digest()[:8], "big", signed=True)
            with self.engine.connect() as connection:
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
                connection.commit()
                try:
                    yield
                finally:
                    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                    connection.commit()
        elif url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            import fcntl

            database = Path(url.database)
            with open(database.parent / f".{database.name}.lock", "w") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
        else:
            yield

    # ------------------------------------------------------------------ course folder
    def write_config(self) -> Path:
        """OUT/nbgrader_config.py: nbgrader (formgrader, generate_feedback, export) on this folder."""
        if self.url == default_url(self.out):
            db_line = 'c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")'
        else:
            db_line = f"c.CourseDirectory.db_url = {self.url!r}"
        text = f'''"""nbgrader configuration of this graded course folder (written by `python -m autograder grade`).

Start JupyterLab here for formgrader; `nbgrader generate_feedback` and `nbgrader export`
work here too.  The gradebook holds every graded submission.
"""
import os

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = {self.course_id!r}
{db_line}
c.CourseDirectory.ignore = {CONFIG_IGNORE!r}
c.Exchange.root = os.path.join(c.CourseDirectory.root, "exchange")
'''
        path = self.out / "nbgrader_config.py"
        _write_atomically(path, text)
        # An empty exchange: this course hands out and collects sheets by other means, and
        # formgrader warns on every page when the folder is missing.
        (self.out / "exchange").mkdir(exist_ok=True)
        return path

    def prepare(self, sheets) -> dict:
        """Put each sheet's assignment into the gradebook (nbgrader's generate_assignment
        with create_assignment, from the source notebook) and its source folder into
        OUT/source/; returns sheet -> [GradeCell].

        Once the gradebook holds submissions of a sheet, nbgrader refuses to change its
        cells; the assignment is then kept as it is when the source's grade cells (names
        and points) are still the same, and a clear error says what changed otherwise."""
        for sheet in sheets:
            source = self.source_root / _safe_name(sheet)
            if not (source / f"{sheet}.ipynb").is_file():
                raise FileNotFoundError(f"no source notebook {source / f'{sheet}.ipynb'}")
            wanted = {cell.grade_id: cell.max_score for cell in grade_cells(source / f"{sheet}.ipynb")}
            target = self.out / "source" / sheet
            with self._exclusive(f"prepare:{sheet}"), tempfile.TemporaryDirectory(prefix="autograder-prepare-") as work:
                # nbgrader writes the student version into the course's release folder: a
                # private one, since the graded course folder does not need it.
                course = Path(work)
                shutil.copytree(source, course / "source" / sheet, ignore=shutil.ignore_patterns(*SOURCE_IGNORE))
                recorded = self._graded_cells(sheet)
                if recorded is None:
                    generate_assignment(course, sheet, self.url, self.course_id)
                elif recorded != wanted:
                    raise RuntimeError(_changed_sheet_message(sheet, recorded, wanted))
                self._replace_folder(course / "source" / sheet, target)
            self.sheets[sheet] = grade_cells(target / f"{sheet}.ipynb")
        self.gradebook.db.expire_all()  # the assignments were written through another connection
        return {sheet: self.sheets[sheet] for sheet in sheets}

    def _graded_cells(self, sheet: str):
        """grade_id -> points of a sheet in the gradebook when it has submissions, else None."""
        from nbgrader.api import MissingEntry

        self.gradebook.db.expire_all()
        try:
            assignment = self.gradebook.find_assignment(sheet)
        except MissingEntry:
            return None
        if not assignment.submissions:
            return None
        return {cell.name: float(cell.max_score) for notebook in assignment.notebooks for cell in notebook.grade_cells}

    def _replace_folder(self, origin: Path, target: Path) -> None:
        """Copy a folder into place; coordinators sharing the output folder may do it at once."""
        staged = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}"
        shutil.copytree(origin, staged)
        for attempt in range(5):
            retired = target.parent / f".{target.name}.{uuid.uuid4().hex[:8]}.old"
            with contextlib.suppress(FileNotFoundError):
                os.replace(target, retired)
            try:
                os.replace(staged, target)
            except OSError:  # another writer put its copy there in between: retire that one too
                if attempt == 4:
                    raise
                continue
            finally:
                shutil.rmtree(retired, ignore_errors=True)
            return

    def _cells_of(self, sheet: str) -> list:
        if sheet not in self.sheets:
            self.prepare([sheet])
        return self.sheets[sheet]

    # ------------------------------------------------------------------ claims
    def recorded_keys(self) -> set:
        """Keys (student, sheet, digest) of the jobs whose result is recorded for good."""
        from sqlalchemy import select

        with self.engine.connect() as connection:
            rows = connection.execute(select(JOBS.c.student, JOBS.c.sheet, JOBS.c.digest)
                                      .where(JOBS.c.outcome == RECORDED))
            return {tuple(row) for row in rows}

    def pending(self, jobs) -> list:
        """The jobs this run should grade: all of them with ``regrade``, else those whose
        result is not recorded yet."""
        if self.regrade:
            return list(jobs)
        done = self.recorded_keys()
        return [job for job in jobs if job.key not in done]

    def claimed(self, jobs):
        """Yield the jobs of ``jobs`` this coordinator managed to claim (lazily: each job is
        claimed just before it is handed on), writing each one's submitted folder."""
        for job in jobs:
            if self.claim(job.key):
                self.write_submitted(job)
                yield job

    def write_submitted(self, job) -> Path:
        """OUT/submitted/<student>/<sheet>/: the sheet folder as graded (the notebook and
        the other files of the job).  Formgrader lists and counts submissions from it."""
        sheet = _safe_name(job.sheet)
        target = self.out / "submitted" / _safe_name(job.student) / sheet
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".incoming-") as staging:
            folder = Path(staging) / sheet
            folder.mkdir()
            (folder / f"{sheet}.ipynb").write_text(job.notebook, encoding="utf-8")
            for relative, data in (job.files or {}).items():
                parts = Path(relative).parts
                if not parts or Path(relative).is_absolute() or ".." in parts:
                    continue  # the intake never sends such names; never write outside the folder
                path = folder.joinpath(*parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(base64.b64decode(data))
            self._replace_folder(folder, target)
        return target

    def claim(self, key: tuple) -> bool:
        """Claim a job for this coordinator; False when another coordinator holds it or its
        result is recorded (and this is no regrade of results older than this run)."""
        from sqlalchemy import select, update
        from sqlalchemy.exc import IntegrityError

        student, sheet, digest = key
        where = (JOBS.c.student == student, JOBS.c.sheet == sheet, JOBS.c.digest == digest)
        for _ in range(5):
            now = time.time()
            row = dict(student=student, sheet=sheet, digest=digest, state=CLAIMED, owner=self.owner,
                       expires=now + self.claim_seconds, version=1, writes=0)
            try:
                with self.engine.begin() as connection:
                    if self._insert_if_absent(connection, row):
                        return True
            except IntegrityError:
                pass  # the job has a row: see whether it can be taken
            with self.engine.begin() as connection:
                row = connection.execute(select(JOBS).where(*where)).mappings().first()
                if row is None:
                    continue  # its claim was handed back meanwhile: insert again
                if row["state"] in (CLAIMED, RECORDING):
                    if row["owner"] == self.owner:
                        return True
                    if row["expires"] >= now:
                        return False  # another live coordinator holds it
                elif row["outcome"] == RECORDED and not (self.regrade and (row["recorded_at"] or 0) < self.started):
                    return False
                taken = connection.execute(
                    update(JOBS).where(*where, JOBS.c.version == row["version"])
                    .values(state=CLAIMED, owner=self.owner, expires=now + self.claim_seconds,
                            version=row["version"] + 1))
                return taken.rowcount == 1
        return False

    def _insert_if_absent(self, connection, row: dict) -> bool:
        """Insert a job's row unless the job has one; True when inserted.  PostgreSQL and
        SQLite skip a present key quietly (no failed statement in the server's log)."""
        from sqlalchemy import insert

        name = self.engine.dialect.name
        if name in ("postgresql", "sqlite"):
            dialect_insert = {"postgresql": "sqlalchemy.dialects.postgresql",
                              "sqlite": "sqlalchemy.dialects.sqlite"}[name]
            statement = importlib.import_module(dialect_insert).insert(JOBS).values(**row).on_conflict_do_nothing()
            return connection.execute(statement).rowcount == 1
        connection.execute(insert(JOBS).values(**row))  # other databases: IntegrityError when present
        return True

    # ------------------------------------------------------------------ results
    def record(self, result: JobResult) -> bool:
        """Write a job's result once: the nbgrader submission, the graded notebook and the
        feedback page, and the job's row.  Returns False (and writes nothing) when this
        coordinator does not hold, and cannot take, the job's claim."""
        from sqlalchemy import update

        student, sheet = _safe_name(result.student), _safe_name(result.sheet)
        where = (JOBS.c.student == student, JOBS.c.sheet == sheet, JOBS.c.digest == result.digest)
        mine = (JOBS.c.owner == self.owner, JOBS.c.state.in_([CLAIMED, RECORDING]))
        grade_cells_ = self._cells_of(sheet)
        for attempt in range(2):
            with self.engine.begin() as connection:
                held = connection.execute(update(JOBS).where(*where, *mine).values(
                    state=RECORDING, expires=time.time() + self.claim_seconds, version=JOBS.c.version + 1))
            if held.rowcount == 1:
                break
            if attempt or not self.claim(result.key):  # a result made without a claim (intake)
                return False
        rows = self._cell_rows(result, grade_cells_)
        self._write_files(result)
        if result.status is not Status.MISSING:
            self._write_submission(result, rows)
        summary = {"detail": result.detail, "notes": list(result.notes), "cells": rows,
                   "worker": result.worker, "seconds": result.seconds}
        score = sum(row["score"] for row in rows)
        with self.engine.begin() as connection:
            connection.execute(update(JOBS).where(*where, *mine).values(
                state=DONE, expires=0.0, version=JOBS.c.version + 1, writes=JOBS.c.writes + 1,
                outcome=FAILED if result.status is Status.ERROR else RECORDED, recorded_at=time.time(),
                status=result.status.value, score=score, max_score=sum(c.max_score for c in grade_cells_),
                summary=json.dumps(summary)))
        return True

    @staticmethod
    def _cell_rows(result: JobResult, cells: list) -> list:
        """One row of cells.csv per grade cell of the sheet: autograded points only for a
        passed test (never more than the cell's points), nothing yet for a hand-graded answer."""
        reported = {cell.grade_id: cell for cell in result.cells}
        rows = []
        for cell in cells:
            got = reported.get(cell.grade_id)
            status = got.status if got is not None else CellStatus.NOT_GRADED
            if cell.kind == "manual":
                if got is None and result.status in (Status.GRADED, Status.TIMEOUT) and result.autograded:
                    status = CellStatus.MANUAL  # the answer is in the graded notebook
                score = 0.0
            else:
                score = min(max(float(got.score), 0.0), cell.max_score) if status is CellStatus.PASSED else 0.0
            rows.append({"grade_id": cell.grade_id, "kind": cell.kind, "score": score,
                         "max_score": cell.max_score, "status": CellStatus(status).value,
                         "message": got.message if got is not None else ""})
        return rows

    def _write_files(self, result: JobResult) -> None:
        name = result.sheet
        for folder, suffix, content in (("autograded", "ipynb", result.autograded),
                                        ("feedback", "html", result.feedback)):
            path = self.out / folder / result.student / name / f"{name}.{suffix}"
            if content:
                _write_atomically(path, content)
            else:
                path.unlink(missing_ok=True)  # no stale page of an earlier submission

    def _write_submission(self, result: JobResult, rows: list) -> None:
        from nbgrader.api import InvalidEntry
        from sqlalchemy.exc import DBAPIError

        by_id = {row["grade_id"]: row for row in rows}
        for attempt in range(5):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes inside nbgrader's API
                    self.gradebook.update_or_create_student(result.student)
                    submission = self.gradebook.update_or_create_submission(result.sheet, result.student)
                    for notebook in submission.notebooks:
                        for grade in notebook.grades:
                            row = by_id.get(grade.name)
                            if row is not None and row["status"] == CellStatus.MANUAL.value:
                                grade.auto_score = None
                                # a hand grade given to an earlier run of the same answer stays
                                grade.needs_manual_grade = grade.manual_score is None
                            else:
                                grade.auto_score = row["score"] if row is not None else 0.0
                                grade.needs_manual_grade = False
                    self.gradebook.db.commit()
                return
            except (InvalidEntry, DBAPIError):
                # Another coordinator added the same student at the same moment, or SQLite
                # was busy: start again from what the database holds now.
                self.gradebook.db.rollback()
                if attempt == 4:
                    raise
                time.sleep(0.2 * (attempt + 1))

    # ------------------------------------------------------------------ tables
    def results(self) -> list:
        """The latest written result of every (student, sheet), as stored rows."""
        from sqlalchemy import select

        with self.engine.connect() as connection:
            rows = connection.execute(select(JOBS).where(JOBS.c.outcome.is_not(None))).mappings().all()
        latest = {}
        for row in rows:
            key = (row["student"], row["sheet"])
            if key not in latest or (row["recorded_at"] or 0) > (latest[key]["recorded_at"] or 0):
                latest[key] = dict(row)
        return [latest[key] for key in sorted(latest)]

    def write_tables(self) -> tuple:
        """OUT/grades.csv and OUT/cells.csv from every recorded result in the gradebook
        (this run's, earlier runs' and other coordinators')."""
        grades_rows, cell_rows = [], []
        for row in self.results():
            summary = json.loads(row["summary"] or "{}")
            status = row["status"] + (f": {summary['detail']}" if summary.get("detail") else "")
            if summary.get("notes"):
                status += " (" + "; ".join(summary["notes"]) + ")"
            grades_rows.append([row["student"], row["sheet"], f"{row['score']:g}", f"{row['max_score']:g}", status])
            for cell in summary.get("cells", []):
                cell_rows.append([row["student"], row["sheet"], cell["grade_id"], cell["kind"], f"{cell['score']:g}",
                                  f"{cell['max_score']:g}", cell["status"]])
        grades = self._write_csv("grades.csv", ["student", "sheet", "score", "max_score", "status"], grades_rows)
        cells = self._write_csv("cells.csv", ["student", "sheet", "grade_id", "kind", "score", "max_score", "status"],
                                cell_rows)
        return grades, cells

    def _write_csv(self, name: str, header: list, rows: list) -> Path:
        import io

        stream = io.StringIO()
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        path = self.out / name
        _write_atomically(path, stream.getvalue())
        return path
