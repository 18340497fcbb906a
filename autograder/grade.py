"""``python -m autograder grade SUBMISSIONS [--sheet S] [--jobs N] [--out DIR]``.

SUBMISSIONS holds ``<student>/<sheet>/<sheet>.ipynb`` (nbgrader's submitted layout) or one
``<student>.zip`` per student with the same folders inside.  Every student × sheet is
graded on its own, by nbgrader's autograde converter, in a fresh private course
directory holding only that student's files and the sheet's gradebook
(:mod:`autograder.sandbox`): no network, no view of the repository's solutions, of the
other students or of the gradebook, limits on memory, CPU time, processes and wall-clock
time, and a trusted prelude in the kernel that detects tampering
(:mod:`autograder.guard`).  Before grading, a copy of the notebook is repaired against
the release: test and locked cells come from the release (whatever the student did to
them: edited, deleted, duplicated, retyped, points or grade_id changed), so one damaged
notebook never stops nbgrader.  The submission files themselves are never modified
(their SHA-256 is compared before and after).

Results: ``DIR/gradebook.db`` (one nbgrader gradebook with every submission),
``DIR/grades.csv`` (student, sheet, score, max_score, status), ``DIR/cells.csv``
(student, sheet, grade_id, kind: auto or manual, score, max_score, status) and
``DIR/feedback/<student>/<sheet>/<sheet>.html`` (hidden tests and tracebacks into the
checks removed).
"""
import argparse
import concurrent.futures
import copy
import csv
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import sandbox
from autograder.guard import cell_hash

# jsonschema (via nbformat) imports rfc3987_syntax when it is installed, which compiles a
# grammar for 2-3 s of CPU at import; notebooks never need its IRI format checks.
sys.modules.setdefault("rfc3987_syntax", None)
ROOT = Path(__file__).resolve().parent.parent
#: Repository entries the student's kernel may see (everything else is hidden).
VISIBLE = {".venv", "autograder", "utils", "pyproject.toml", "README.md"}
#: Third-party libraries the guard loads before student code when the sheet imports them.
PRELOADABLE = ("torch", "torchvision", "sympy", "scipy", "matplotlib")
MAX_SUBMISSION_BYTES = 200 * 2**20
FIRST_UID = 61000


@dataclass
class Limits:
    cell_timeout: int = 300  # seconds per cell before the kernel is interrupted (nbgrader_config.py)
    timeout: int = 600  # wall-clock seconds for the whole notebook
    memory_gb: float = 8.0  # address space of the kernel
    cpu_seconds: int = 900
    processes: int = 256  # per kernel user id (bounds fork bombs)
    file_mb: int = 512


@dataclass
class Sheet:
    """What grading a sheet needs, built once from its source (no student code runs)."""

    name: str
    template: Path  # gradebook.db with the assignment, and no student
    release: object  # the student version (nbformat node)
    test_cells: dict  # hash of test-cell source (hidden tests included) -> grade_id
    cells: list  # [(grade_id, max_score, kind)] kind: "auto" or "manual"
    files: list  # non-notebook files of source/<sheet>/ (relative paths)
    source_dir: Path
    preload: list = field(default_factory=list)


@dataclass
class Result:
    student: str
    sheet: str
    status: str = "ok"
    cells: dict = field(default_factory=dict)  # grade_id -> (score, status)
    notes: list = field(default_factory=list)
    feedback: Path | None = None
    seconds: float = 0.0


# ----------------------------------------------------------------------------- sheets
def prepare_sheet(name: str, source_root: Path, work: Path, master_db: Path) -> Sheet:
    """Generate the sheet's release and gradebook in a private course (trusted step)."""
    import nbformat

    source_dir = source_root / name
    course = work / f"template-{name}"
    shutil.copytree(source_dir, course / "source" / name,
                    ignore=shutil.ignore_patterns("*.nb.py", ".ipynb_checkpoints", "__pycache__"))
    os.chmod(course, 0o700)  # it holds the solutions: no kernel user may enter
    config = sandbox.nbgrader_config(str(course), name)
    ok, log = sandbox.run_converter("generate", config)
    if not ok:
        raise RuntimeError(f"nbgrader generate_assignment failed for {name}:\n{log[-3000:]}")
    master = copy.deepcopy(config)
    master.CourseDirectory.db_url = f"sqlite:///{master_db}"
    ok, log = sandbox.run_converter("generate", master)
    if not ok:
        raise RuntimeError(f"nbgrader generate_assignment (gradebook {master_db}) failed for {name}:\n{log[-3000:]}")
    source_nb = nbformat.read(source_dir / f"{name}.ipynb", as_version=4)
    release = nbformat.read(course / "release" / name / f"{name}.ipynb", as_version=4)
    test_cells, cells = {}, []
    for cell in source_nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        kind = "manual" if meta.get("solution") else "auto"
        cells.append((meta["grade_id"], float(meta.get("points", 0)), kind))
        if kind == "auto" and cell.cell_type == "code":
            test_cells[cell_hash(cell.source)] = meta["grade_id"]
    files = sorted(str(p.relative_to(source_dir)) for p in source_dir.rglob("*")
                   if p.is_file() and p.suffix != ".ipynb" and not p.name.endswith(".nb.py")
                   and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts)
    imports = " ".join(c.source for c in source_nb.cells if c.cell_type == "code")
    preload = [lib for lib in PRELOADABLE if re.search(rf"^\s*(import|from)\s+{lib}\b", imports, re.M)]
    if "torch" in preload and "torchvision" not in preload:
        # utils.vgg and utils.cnn import torchvision, which rebinds a few torch attributes
        # on import: loaded after the guard's snapshot, that would look like tampering.
        preload.append("torchvision")
    if (ROOT / "autograder" / "sheets" / name / "reference.py").exists():
        preload.append(f"autograder.sheets.{name}.reference")
    return Sheet(name, course / "gradebook.db", release, test_cells, cells, files, source_dir, preload)


# ----------------------------------------------------------------------------- submissions
def discover(submissions: Path, staging: Path) -> dict:
    """student -> folder holding ``<sheet>/`` folders (zips are unpacked into staging)."""
    students = {}
    for entry in sorted(submissions.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            students[entry.name] = entry
        elif entry.is_file() and entry.suffix == ".zip":
            students[entry.stem] = entry
    return students


def unpack(archive: Path, target: Path, sheets) -> Path:
    """Unpack a student's zip safely; returns the folder that holds the sheet folders."""
    total = 0
    with zipfile.ZipFile(archive) as bundle:
        for info in bundle.infolist():
            parts = Path(info.filename).parts
            if info.filename.startswith("/") or ".." in parts or info.is_dir():
                continue
            total += info.file_size
            if total > MAX_SUBMISSION_BYTES:
                raise ValueError("the zip holds more than 200 MB")
            destination = target.joinpath(*parts)
            destination.parent.mkdir(parents=True, exist_ok=True)
            with bundle.open(info) as src, open(destination, "wb") as dst:
                shutil.copyfileobj(src, dst)
    for folder in [target] + sorted(p for p in target.rglob("*") if p.is_dir()):
        if any((folder / sheet).is_dir() for sheet in sheets):
            return folder
    return target


def tree_digest(path: Path) -> dict:
    """SHA-256 of every file under ``path`` (or of the file itself)."""
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def find_notebook(folder: Path, sheet: str):
    """(path, note) of the notebook to grade in a student's sheet folder."""
    expected = folder / f"{sheet}.ipynb"
    if expected.is_file():
        return expected, None
    others = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if len(others) == 1:
        return others[0], f"wrong file name: graded {others[0].name} as {sheet}.ipynb"
    return None, f"wrong file name: no {sheet}.ipynb" + (f" (found {', '.join(p.name for p in others)})" if others else "")


def _ignore_for_copy(folder, names):
    """Notebooks (the repaired one is written separately), checkpoints, and symbolic
    links, which could point the grader (running as root) at files outside the submission."""
    return {n for n in names if n.endswith(".ipynb") or n == ".ipynb_checkpoints"
            or os.path.islink(os.path.join(folder, n))}


# ----------------------------------------------------------------------------- repair
def _grade_id(cell):
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def repair(student_nb, release_nb):
    """A copy of the student's notebook that nbgrader can always grade.

    Cells the release locks (tests, instructions) are taken from the release; answer
    cells keep the student's source with the release's metadata and type; duplicated
    nbgrader cells lose their metadata (answers) or are dropped (locked cells); missing
    ones are put back where the release has them; cells with unknown grade_ids become
    ordinary cells.  Returns (notebook, notes)."""
    import nbformat

    released = {}
    order = []
    for cell in release_nb.cells:
        grade_id = _grade_id(cell)
        if grade_id:
            released[grade_id] = cell
            order.append(grade_id)
    notes, cells, seen = [], [], set()
    for cell in student_nb.cells:
        if cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        grade_id = _grade_id(cell)
        if grade_id in released:
            reference = released[grade_id]
            meta = reference.metadata["nbgrader"]
            if grade_id in seen:
                if meta.get("locked") and not meta.get("solution"):
                    notes.append(f"duplicate of {grade_id} removed")
                    continue
                cell = copy.deepcopy(cell)
                cell.metadata.pop("nbgrader", None)
                notes.append(f"duplicate of {grade_id} kept as an ordinary cell")
                cells.append(_plain(cell))
                continue
            seen.add(grade_id)
            if meta.get("locked") and not meta.get("solution"):
                fixed = copy.deepcopy(reference)
                if _differs(cell, reference):
                    notes.append(f"{grade_id} restored from the release")
            else:
                fixed = copy.deepcopy(reference)
                fixed.source = cell.get("source", "")
            cells.append(fixed)
        else:
            cell = copy.deepcopy(cell)
            if "nbgrader" in cell.get("metadata", {}):
                cell.metadata.pop("nbgrader")
                notes.append(f"unknown grade_id {grade_id!r}: graded as an ordinary cell")
            cells.append(_plain(cell))
    for index, grade_id in enumerate(order):
        if grade_id in seen:
            continue
        notes.append(f"{grade_id} was missing and was put back")
        previous = [g for g in order[:index] if g in seen]
        position = 0
        if previous:
            position = next(i for i, c in enumerate(cells) if _grade_id(c) == previous[-1]) + 1
        cells.insert(position, copy.deepcopy(released[grade_id]))
        seen.add(grade_id)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = copy.deepcopy(release_nb.metadata)
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook.cells = cells
    return notebook, notes


def _plain(cell):
    import nbformat

    kind = cell.get("cell_type")
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else str(source)
    if kind == "code":
        return nbformat.v4.new_code_cell(source)
    if kind == "markdown":
        return nbformat.v4.new_markdown_cell(source)
    return nbformat.v4.new_raw_cell(source)


def _differs(cell, reference) -> bool:
    source = cell.get("source", "")
    source = "".join(source) if isinstance(source, list) else source
    meta, ref = cell.get("metadata", {}).get("nbgrader", {}), reference.metadata["nbgrader"]
    return (cell.get("cell_type") != reference.cell_type or source.strip() != reference.source.strip()
            or meta.get("points") != ref.get("points"))


# ----------------------------------------------------------------------------- one job
class Grader:
    def __init__(self, sheets: dict, work: Path, out: Path, submissions: Path, limits: Limits, jobs: int):
        self.sheets, self.work, self.out, self.submissions = sheets, work, out, submissions
        self.limits = limits
        self.isolated = sandbox.namespaces_available()
        self.slots = queue.Queue()
        self._locks = []
        for slot in range(jobs):
            self.slots.put(self._reserve_uid() if self.isolated else slot)

    def _reserve_uid(self) -> int:
        """A kernel user id no other grading process on this machine holds: one per
        worker, so that concurrent kernels (of this run or another) cannot read each
        other's files or share a process limit.  Held until this process exits."""
        import fcntl

        folder = Path(tempfile.gettempdir()) / "autograder-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        for uid in range(FIRST_UID, FIRST_UID + 4000):
            handle = open(folder / f"{uid}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            self._locks.append(handle)
            return uid
        raise RuntimeError("no free kernel user id")

    def grade(self, student: str, folder: Path, sheet: Sheet, staging_note: str | None = None) -> Result:
        started = time.monotonic()
        result = Result(student, sheet.name)
        slot = self.slots.get()
        try:
            self._grade(result, folder, sheet, slot, staging_note)
        except Exception as error:  # noqa: BLE001 - one broken submission never stops the others
            result.status = f"error: {type(error).__name__}: {error}"
        finally:
            self.slots.put(slot)
        for grade_id, max_score, kind in sheet.cells:
            result.cells.setdefault(grade_id, (0.0, "not graded"))
        result.seconds = time.monotonic() - started
        return result

    def _grade(self, result, folder, sheet, slot, staging_note):
        import nbformat

        sheet_folder = folder / sheet.name
        if not sheet_folder.is_dir():
            result.status = f"missing: no {sheet.name}/ folder"
            return
        notebook_path, note = find_notebook(sheet_folder, sheet.name)
        if note:
            result.notes.append(note)
        if notebook_path is None:
            result.status = note
            return
        before = tree_digest(sheet_folder)
        try:
            student_nb = nbformat.read(notebook_path, as_version=4)
            if not isinstance(student_nb.get("cells"), list):
                raise ValueError("no list of cells")
        except Exception as error:  # noqa: BLE001 - any unreadable file is a corrupt notebook
            result.status = f"corrupt notebook: {type(error).__name__}: {str(error)[:200]}"
            return
        repaired, notes = repair(student_nb, sheet.release)
        result.notes.extend(notes)
        job = Path(tempfile.mkdtemp(prefix="job-", dir=self.work))
        try:
            outcome = self._run(job, result, sheet_folder, notebook_path, repaired, sheet, slot)
        finally:
            after = tree_digest(sheet_folder)
            if after != before:
                result.status = "error: the submission files changed while grading"
        if outcome is not None:
            self._collect(job, result, sheet, outcome)
        if not os.environ.get("AUTOGRADER_KEEP_WORK"):
            shutil.rmtree(job, ignore_errors=True)

    def _run(self, job, result, sheet_folder, notebook_path, repaired, sheet, slot):
        import nbformat

        uid = gid = slot if self.isolated else None
        course = job / "course"
        submitted = course / "submitted" / result.student / sheet.name
        shutil.copytree(sheet_folder, submitted, ignore=_ignore_for_copy)
        nbformat.write(repaired, submitted / f"{sheet.name}.ipynb")
        shutil.copyfile(sheet.template, course / "gradebook.db")
        (course / "source" / sheet.name).mkdir(parents=True)
        for relative in sheet.files:
            target = course / "source" / sheet.name / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sheet.source_dir / relative, target)
        home = job / "home"
        home.mkdir()
        spec = job / "jupyter" / "kernels" / "python3"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "autograder.sandbox", "kernel", "{connection_file}"],
            "display_name": "Python 3 (grading sandbox)", "language": "python"}))
        guard_config = {"test_cells": sheet.test_cells, "dead_cells": [], "preload": sheet.preload,
                        "progress": str(home / "progress.log"), "report": str(home / "tampering.log")}
        (job / "guard.json").write_text(json.dumps(guard_config))
        config = {"course": str(course), "sheet": sheet.name, "student": result.student,
                  "guard_config": str(job / "guard.json"), "progress": str(home / "progress.log"),
                  "report": str(home / "tampering.log"), "result": str(job / "result.json"),
                  "cell_timeout": self.limits.cell_timeout, "timeout": self.limits.timeout,
                  "isolated": self.isolated, "hide": self._hidden_paths(job)}
        if uid is not None:
            config.update(uid=uid, gid=gid)
            (home / "tampering.log").touch()
            for path in [home, home / "tampering.log"]:
                os.chown(path, uid, gid)
            for path in [job, course, course / "submitted", course / "submitted" / result.student]:
                os.chmod(path, 0o711)
            os.chmod(course / "gradebook.db", 0o600)
            os.chmod(course / "source", 0o700)
            os.chmod(self.work, 0o711)
        (job / "job.json").write_text(json.dumps(config))
        kernel = {"home": str(home), "uid": uid, "gid": gid,
                  "memory_bytes": int(self.limits.memory_gb * 2**30), "cpu_seconds": self.limits.cpu_seconds,
                  "processes": self.limits.processes, "file_bytes": self.limits.file_mb * 2**20,
                  "autograded": str(course / "autograded")}
        environment = dict(os.environ)
        environment.update(PATH=str(Path(sys.executable).parent) + os.pathsep + environment.get("PATH", ""),
                           JUPYTER_PATH=str(job / "jupyter"), JUPYTER_CONFIG_DIR=str(job / "jupyter-config"),
                           JUPYTER_DATA_DIR=str(job / "jupyter"), AUTOGRADER_GUARD=str(job / "guard.json"),
                           AUTOGRADER_KERNEL=json.dumps(kernel), PYTHONDONTWRITEBYTECODE="1",
                           JUPYTER_PLATFORM_DIRS="1")
        command = sandbox.job_command(str(job / "job.json"), self.isolated)
        process = subprocess.Popen(command, env=environment, cwd=str(job), stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=self.limits.timeout + 180)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            result.status = f"timeout: grading took longer than {self.limits.timeout} s"
            return None
        (job / "sandbox.log").write_bytes(output[-200000:])
        if not (job / "result.json").exists():
            tail = output.decode("utf-8", "replace")[-1500:]
            result.status = f"error: the grading sandbox failed ({tail.strip().splitlines()[-1:] or ['no output']})"
            return None
        return json.loads((job / "result.json").read_text())

    def _hidden_paths(self, job: Path) -> list:
        keep = [job.resolve(), Path(sys.executable).resolve(), Path(sys.prefix).resolve()]
        hidden = [ROOT / entry for entry in os.listdir(ROOT) if entry not in VISIBLE and not entry.endswith(".egg-info")]
        if ROOT.parent != Path(ROOT.anchor):  # the course's siblings (other checkouts, shared material)
            hidden += [ROOT.parent / entry for entry in os.listdir(ROOT.parent) if entry != ROOT.name]
        hidden += [self.submissions.resolve(), self.out.resolve()]
        safe = []
        for path in hidden:
            resolved = path.resolve()
            if any(resolved == k or resolved in k.parents for k in keep):
                continue  # never hide what the job itself runs from
            safe.append(str(resolved))
        return safe

    def _collect(self, job, result, sheet, outcome):
        graded_db = job / "course" / "gradebook.db"
        scores = read_scores(graded_db, result.student, sheet.name) if outcome.get("success") else {}
        outcomes = outcome.get("outcomes", {})
        tampered = sorted({r.get("grade_id") for r in outcome.get("tampering", []) if r.get("grade_id")})
        for grade_id, max_score, kind in sheet.cells:
            score = min(max(float(scores.get(grade_id) or 0.0), 0.0), max_score)
            if kind == "manual":
                status = "needs manual grading"
            else:
                status = outcomes.get(grade_id, "not graded")
                if grade_id in tampered:
                    status = "tampering"
            result.cells[grade_id] = (score if status in ("passed", "needs manual grading") else 0.0, status)
        if outcome.get("errors"):
            result.notes.append("errors: " + ", ".join(f"{where} {name}" for where, name in outcome["errors"][:6]))
        if outcome.get("skipped"):
            result.notes.append("kernel ended in " + ", ".join(outcome["skipped"]) + " (skipped, rest graded)")
        if tampered:
            result.notes.append("tampering detected in " + ", ".join(tampered))
        timeouts = [g for g, (_, s) in result.cells.items() if s == "timeout"]
        if timeouts:
            result.notes.append("cell timeout in " + ", ".join(timeouts))
        if not outcome.get("success"):
            log = outcome.get("log", "")
            last = [line for line in log.strip().splitlines() if line.strip()][-1:] or ["no log"]
            result.status = "error: nbgrader autograde failed: " + last[0][:300]
        feedback = job / "course" / "feedback" / result.student / sheet.name / f"{sheet.name}.html"
        if feedback.exists():
            target = self.out / "feedback" / result.student / sheet.name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(feedback, target / feedback.name)
            result.feedback = target / feedback.name


def read_scores(db: Path, student: str, sheet: str) -> dict:
    """grade_id -> score (the manual score when there is one) in a job's gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    scores = {}
    with Gradebook(f"sqlite:///{db}", course_id="explaining-nn") as gradebook:
        try:  # nbgrader's API object for the job's own gradebook
            submission = gradebook.find_submission(sheet, student)
        except MissingEntry:
            return scores
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                scores[grade.name] = grade.manual_score if grade.manual_score is not None else grade.auto_score
    return scores


# ----------------------------------------------------------------------------- merging
def merge(master_db: Path, results: list):
    """Write every graded submission into the course-wide gradebook."""
    import warnings

    from nbgrader.api import Gradebook

    with warnings.catch_warnings(), Gradebook(f"sqlite:///{master_db}", course_id="explaining-nn") as gradebook:
        warnings.simplefilter("ignore")  # SQLAlchemy's autoflush notes inside nbgrader's API
        for result in results:
            if result.status.startswith("missing"):
                continue
            gradebook.update_or_create_student(result.student)
            submission = gradebook.update_or_create_submission(result.sheet, result.student)
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    score, status = result.cells.get(grade.name, (0.0, "not graded"))
                    grade.auto_score = None if status == "needs manual grading" else score
                    grade.needs_manual_grade = status == "needs manual grading"
            gradebook.db.commit()


def write_tables(out: Path, results: list, sheets: dict):
    with open(out / "grades.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["student", "sheet", "score", "max_score", "status"])
        for result in results:
            cells = sheets[result.sheet].cells
            score = sum(result.cells.get(g, (0.0, ""))[0] for g, _, _ in cells)
            status = result.status
            if status == "ok" and result.notes:
                status = "ok: " + "; ".join(result.notes)
            elif result.notes and not status.startswith(tuple(result.notes)):
                status += " (" + "; ".join(result.notes) + ")"
            writer.writerow([result.student, result.sheet, f"{score:g}", f"{sum(m for _, m, _ in cells):g}", status])
    with open(out / "cells.csv", "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["student", "sheet", "grade_id", "kind", "score", "max_score", "status"])
        for result in results:
            for grade_id, max_score, kind in sheets[result.sheet].cells:
                score, status = result.cells.get(grade_id, (0.0, "not graded"))
                writer.writerow([result.student, result.sheet, grade_id, kind, f"{score:g}", f"{max_score:g}", status])


# ----------------------------------------------------------------------------- command
def parse(argv):
    parser = argparse.ArgumentParser(prog="python -m autograder grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submissions", type=Path)
    parser.add_argument("--sheet", action="append", help="grade only this sheet (repeatable)")
    parser.add_argument("--jobs", type=int, default=1, help="submissions graded at once")
    parser.add_argument("--out", type=Path, default=ROOT / "grading" / "results")
    parser.add_argument("--source", type=Path, default=ROOT / "source", help="folder of the sheets' sources")
    parser.add_argument("--cell-timeout", type=int, default=Limits.cell_timeout)
    parser.add_argument("--timeout", type=int, default=Limits.timeout, help="wall-clock seconds per notebook")
    parser.add_argument("--memory-gb", type=float, default=Limits.memory_gb)
    parser.add_argument("--quiet", action="store_true")
    return parser.parse_args(argv)


def available_sheets(source: Path) -> list:
    return sorted(p.name for p in source.iterdir() if (p / f"{p.name}.ipynb").is_file()) if source.is_dir() else []


def grade(submissions: Path, out: Path, *, sheets=None, jobs: int = 1, source: Path = ROOT / "source",
          limits: Limits | None = None, log=print) -> list:
    """Grade every student × sheet under ``submissions``; returns the results."""
    limits = limits or Limits()
    submissions, out, source = Path(submissions), Path(out), Path(source)
    out.mkdir(parents=True, exist_ok=True)
    master_db = out / "gradebook.db"
    if master_db.exists():
        master_db.unlink()
    for stale in ("grades.csv", "cells.csv"):
        (out / stale).unlink(missing_ok=True)
    shutil.rmtree(out / "feedback", ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix="autograder-"))
    try:
        students = discover(submissions, work)
        (work / "unzipped").mkdir(mode=0o700)
        folders, notes = {}, {}
        names = sheets or available_sheets(source)
        for student, entry in students.items():
            if entry.is_file():
                try:
                    folders[student] = unpack(entry, work / "unzipped" / student, names)
                except (zipfile.BadZipFile, ValueError, OSError) as error:
                    folders[student], notes[student] = None, f"corrupt zip: {error}"
            else:
                folders[student] = entry
        if not sheets:  # every released sheet that at least one student handed in
            names = [s for s in names if any(f is not None and (f / s).is_dir() for f in folders.values())]
        prepared = {name: prepare_sheet(name, source, work, master_db) for name in names}
        grader = Grader(prepared, work, out, submissions, limits, max(1, jobs))
        tasks = [(student, sheet) for student in sorted(folders) for sheet in names]
        results = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {}
            for student, sheet in tasks:
                if folders[student] is None:
                    result = Result(student, sheet, status=notes[student])
                    for grade_id, _, _ in prepared[sheet].cells:
                        result.cells[grade_id] = (0.0, "not graded")
                    results.append(result)
                    continue
                futures[pool.submit(grader.grade, student, folders[student], prepared[sheet])] = (student, sheet)
            for future in concurrent.futures.as_completed(futures):
                result = future.result()
                results.append(result)
                if log:
                    score = sum(s for s, _ in result.cells.values())
                    log(f"{result.student:>16} {result.sheet:<18} {score:6g}  {result.seconds:5.1f}s  {result.status}"
                        + (f"  [{'; '.join(result.notes)}]" if result.notes else ""))
        results.sort(key=lambda r: (r.student, r.sheet))
        merge(master_db, results)
        write_tables(out, results, prepared)
        return results
    finally:
        if os.environ.get("AUTOGRADER_KEEP_WORK"):
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv):
    args = parse(argv)
    limits = Limits(cell_timeout=args.cell_timeout, timeout=args.timeout, memory_gb=args.memory_gb)
    if not args.submissions.is_dir():
        sys.exit(f"no such folder: {args.submissions}")
    if not sandbox.namespaces_available():
        print("note: no mount/network/pid namespaces here (needs root on Linux): grading without isolation",
              file=sys.stderr)
    results = grade(args.submissions, args.out, sheets=args.sheet, jobs=args.jobs, source=args.source,
                    limits=limits, log=None if args.quiet else print)
    print(f"graded {len(results)} notebook(s): {args.out / 'grades.csv'}, {args.out / 'cells.csv'}, "
          f"{args.out / 'gradebook.db'}, {args.out / 'feedback'}")
    return 0
