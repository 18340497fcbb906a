"""One grading job, start to end: :func:`run_job` (a :class:`Job` in, a :class:`JobResult` out).

1. The student's notebook is repaired against the release and given the sheet's probe
   calls; every test's challenge is drawn from its secret seed and written, with the
   sheet's ``probes.py`` and the executor, into a read-only probe folder.
2. The notebook runs in the sandbox (:mod:`.sandbox`, :mod:`.executor`) as this worker's
   own unprivileged user; the probes write the student's answers as data.
3. After the sandbox has ended — every process of the job is gone — the worker reads the
   answer files (no links followed, sizes capped) and hands their bytes to the checker
   process (:mod:`.checker`), which scores every test.  The grade is the checker's: the
   kernel's outputs, its errors and the executor's report decide nothing.
4. The graded notebook and the feedback page show each test cell as the release shows it
   with the checker's verdict below it, never the hidden code.

A job never raises: a fault of the grader or of the submission comes back as a status.
Only the coordinator writes the gradebook.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import nbformat

from autograder import sheets
from autograder.course import ROOT, SKIPPED_WHEN_GRADING
from autograder.engine import challenges, feedback, notebooks, sandbox
from autograder.engine.jobs import CellResult, CellStatus, Job, JobResult, Status

FIRST_UID = 61000
MAX_ANSWER_BYTES = 64 * 2**20
MAX_EXECUTED_BYTES = 64 * 2**20
ATTEMPTS = 3
INSIDE = Path("/course")  # where the job's folders appear inside the sandbox


def run_job(job: Job) -> JobResult:
    """Grade one (student, sheet).  Safe to call again for the same job: it has no side
    effect outside its own temporary folder."""
    started = time.monotonic()
    result = JobResult(job.student, job.sheet, job.digest, Status.ERROR, worker=_worker_name())
    try:
        _grade(job, result)
    except Exception as error:  # noqa: BLE001 - one broken job never stops the others
        result.status = Status.ERROR
        result.detail = f"the grader failed: {type(error).__name__}: {str(error)[:300]}"
        print(traceback.format_exc(), file=sys.stderr)
    _fill_missing_cells(job, result)
    result.seconds["total"] = round(time.monotonic() - started, 2)
    return result


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _fill_missing_cells(job: Job, result: JobResult):
    try:
        sheet_plan = notebooks.plan(job.source_dir or str(ROOT / "source"), job.sheet)
    except Exception:  # noqa: BLE001 - no plan, no cells to fill
        return
    present = {cell.grade_id for cell in result.cells}
    for identifier, points in sheet_plan.tests:
        if identifier not in present:
            result.cells.append(CellResult(identifier, "auto", 0.0, points, CellStatus.NOT_GRADED))
    for identifier, points in sheet_plan.manual:
        if identifier not in present:
            result.cells.append(CellResult(identifier, "manual", 0.0, points, CellStatus.MANUAL))


# ----------------------------------------------------------------------------- the job
def _grade(job: Job, result: JobResult):
    clock = time.monotonic()
    source_dir = job.source_dir or str(ROOT / "source")
    sheet_plan = notebooks.plan(source_dir, job.sheet)
    parts = sheets.load(job.sheet, job.sheets_dir or None)
    try:
        student_nb = nbformat.reads(job.notebook, as_version=4)
        if not isinstance(student_nb.get("cells"), list):
            raise ValueError
    except Exception:  # noqa: BLE001 - the content is never quoted back
        result.status, result.detail = Status.CORRUPT, "corrupt notebook: not a readable Jupyter notebook"
        return
    repaired, notes = notebooks.repair(student_nb, sheet_plan.release)
    result.notes.extend(job.notes)
    result.notes.extend(notes)
    runnable = notebooks.with_probes(repaired, sheet_plan)
    secret = bytes.fromhex(job.seed_secret)
    tests = [identifier for identifier, _ in sheet_plan.tests]
    result.seconds["prepare"] = round(time.monotonic() - clock, 2)

    isolation = sandbox.isolation()
    if job.isolation and not isolation.available:
        result.detail = f"this worker cannot sandbox the notebook ({isolation.summary}); nothing was run"
        return
    isolated = job.isolation
    uid = _kernel_uid() if isolated else None
    base = Path(tempfile.mkdtemp(prefix="autograder-job-"))
    try:
        folders = _lay_out(base, job, runnable, parts, secret, tests, uid, isolated)
        clock = time.monotonic()
        outcome = _execute(job, folders, uid, isolated)
        result.seconds["run"] = round(time.monotonic() - clock, 2)
        result.seconds["run_cpu"] = round(outcome.cpu_seconds, 2)
        if outcome.memory_limit_hit:
            result.notes.append(f"the job reached its memory limit ({job.limits.memory_gb:g} GB)")
        answer_files = {test: _answer_files(folders["answers"], test) for test in tests}
        executed = notebooks.read_executed(_read_no_follow(folders["output"] / "executed.ipynb", MAX_EXECUTED_BYTES))
        status = _read_status(folders["output"] / "status.json")
    finally:
        shutil.rmtree(base, ignore_errors=True)  # rmtree never follows the kernel's links

    clock = time.monotonic()
    verdicts = checker().check(job, tests, answer_files)
    result.seconds["check"] = round(time.monotonic() - clock, 2)
    points = dict(sheet_plan.tests)
    for identifier in tests:
        verdict = verdicts[identifier]
        passed = bool(verdict["passed"])
        result.cells.append(CellResult(identifier, "auto", points[identifier] if passed else 0.0, points[identifier],
                                       CellStatus.PASSED if passed else CellStatus.FAILED, verdict["message"]))
    if outcome.timed_out:
        result.status = Status.TIMEOUT
        result.detail = f"the notebook ran longer than {job.limits.timeout} s; tests reached before that were graded"
    else:
        result.status = Status.GRADED
    if status.get("skipped"):
        result.notes.append(f"{len(status['skipped'])} cell(s) ended the kernel and were skipped")
    if not isolated:
        result.notes.append("graded WITHOUT isolation (--no-isolation)")

    _fill_missing_cells(job, result)
    clock = time.monotonic()
    graded = notebooks.graded_notebook(repaired, executed, verdicts)
    result.autograded = notebooks.to_json(graded)
    result.feedback = feedback.page(job, result)
    result.seconds["feedback"] = round(time.monotonic() - clock, 2)


def _lay_out(base: Path, job: Job, runnable, parts, secret: bytes, tests: list, uid, isolated: bool) -> dict:
    """The job's folders: work (the student's files and notebook; the kernel's cwd),
    home, output and answers belong to the kernel's user; probe (probes, challenges,
    executor) is read-only for it."""
    os.chmod(base, 0o700)
    folders = {name: base / name for name in ("work", "home", "output", "probe")}
    for folder in folders.values():
        folder.mkdir()
    folders["answers"] = folders["probe"] / "answers"
    folders["answers"].mkdir()
    for relative, encoded in job.files.items():
        target = folders["work"].joinpath(*Path(relative).parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(base64.b64decode(encoded))
    nbformat.write(runnable, folders["work"] / f"{job.sheet}.ipynb")
    (folders["probe"] / "challenges").mkdir()
    for test in tests:
        drawn = challenges.draw(parts.challenges, test, challenges.seed(secret, job.student, job.sheet, test))
        (folders["probe"] / "challenges" / f"{test}.npz").write_bytes(challenges.encode(drawn))
    shutil.copyfile(parts.probes_file, folders["probe"] / "probes.py")
    shutil.copyfile(Path(__file__).with_name("executor.py"), folders["probe"] / "executor.py")
    inside = _inside(folders, isolated)
    settings = {"notebook": str(inside["work"] / f"{job.sheet}.ipynb"), "workdir": str(inside["work"]),
                "output": str(inside["output"] / "executed.ipynb"), "status": str(inside["output"] / "status.json"),
                "answers": str(inside["answers"]), "cell_timeout": job.limits.cell_timeout,
                "budget_seconds": max(10, job.limits.timeout - 15), "attempts": ATTEMPTS,
                "skip_tag": SKIPPED_WHEN_GRADING}
    (folders["probe"] / "execution.json").write_text(json.dumps(settings))
    for path in [folders["probe"], *folders["probe"].rglob("*")]:
        if path != folders["answers"] and path.parent != folders["answers"]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
    fonts = folders["home"] / "matplotlib"
    fonts.mkdir()
    for cached in _matplotlib_font_lists():
        shutil.copyfile(cached, fonts / cached.name)
    if uid is not None:
        for name in ("work", "home", "output", "answers"):
            for path in [folders[name], *folders[name].rglob("*")]:
                os.lchown(path, uid, uid)
            os.chmod(folders[name], 0o700)
    return folders


_FONT_LISTS = None


def _matplotlib_font_lists() -> list:
    """matplotlib's list of the machine's fonts, made once per worker.  The kernel's
    matplotlib folder is new in every job, and building the list there scans every font
    file of the system (a third of a second per notebook); the fonts it lists are the same
    read-only files the sandbox shows.  Made by a separate interpreter, as plain JSON."""
    global _FONT_LISTS
    if _FONT_LISTS is None:
        folder = Path(tempfile.mkdtemp(prefix="autograder-fonts-"))
        environment = dict(os.environ, MPLCONFIGDIR=str(folder), MPLBACKEND="Agg")
        made = subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=environment,
                              capture_output=True, timeout=120).returncode == 0
        _FONT_LISTS = sorted(folder.glob("fontlist-*.json")) if made else []
    return _FONT_LISTS


def _inside(folders: dict, isolated: bool) -> dict:
    if not isolated:
        return folders
    return {"work": INSIDE / "work", "home": INSIDE / "home", "output": INSIDE / "output",
            "probe": INSIDE / "probe", "answers": INSIDE / "probe" / "answers"}


def _execute(job: Job, folders: dict, uid, isolated: bool) -> sandbox.Outcome:
    inside = _inside(folders, isolated)
    environment = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(inside["home"]),
        "COURSE_PROBE_DIR": str(inside["probe"]), "COURSE_FAST_MODE": "1", "COURSE_DEVICE": "cpu",
        "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(inside["home"] / "matplotlib"),
        "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1", "JUPYTER_PLATFORM_DIRS": "1",
        "LANG": "C.UTF-8", "TMPDIR": "/tmp" if isolated else str(folders["home"]),
    }
    for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):  # this machine's OpenBLAS needs them to compute right
        if name in os.environ:
            environment[name] = os.environ[name]
    binds = sandbox.python_binds() + [sandbox.Bind(str(ROOT / "utils"), str(ROOT / "utils"))]
    binds += [sandbox.Bind(str(folders["probe"]), str(inside["probe"])),
              sandbox.Bind(str(folders["answers"]), str(inside["answers"]), writable=True)]
    binds += [sandbox.Bind(str(folders[name]), str(inside[name]), writable=True) for name in ("work", "home", "output")]
    command = [sys.executable, str(inside["probe"] / "executor.py"), str(inside["probe"] / "execution.json")]
    return sandbox.run(command, binds=binds, cwd=str(inside["work"]), environment=environment, uid=uid,
                       memory_bytes=int(job.limits.memory_gb * 2**30), processes=job.limits.processes,
                       timeout=job.limits.timeout, isolated=isolated)


# ----------------------------------------------------------------------------- reading back
def _read_no_follow(path: Path, limit: int) -> bytes | None:
    """The bytes of a regular file written by the kernel's user, or None: links are not
    followed, anything but a regular file or a file over ``limit`` bytes is ignored."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        return stream.read(limit + 1)[:limit]


def _answer_files(folder: Path, test: str) -> dict:
    files = {}
    for key, suffix in (("manifest", ".json"), ("arrays", ".npz")):
        data = _read_no_follow(folder / f"{test}{suffix}", MAX_ANSWER_BYTES)
        files[key] = None if data is None else base64.b64encode(data).decode("ascii")
    return files


def _read_status(path: Path) -> dict:
    data = _read_no_follow(path, 65536)
    try:
        status = json.loads(data) if data else {}
        return status if isinstance(status, dict) and isinstance(status.get("skipped", []), list) else {}
    except ValueError:
        return {}


# ----------------------------------------------------------------------------- the checker
class CheckerProcess:
    """This worker's checker: a separate Python process that only ever receives bytes."""

    def __init__(self):
        self.process = None
        self.lock = threading.Lock()

    def _start(self):
        environment = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        self.process = subprocess.Popen([sys.executable, "-m", "autograder.engine.checker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=environment, text=True, cwd=str(ROOT))

    def check(self, job: Job, tests: list, answer_files: dict) -> dict:
        request = {"sheet": job.sheet, "sheets_dir": job.sheets_dir, "student": job.student,
                   "secret": job.seed_secret, "tests": tests, "answers": answer_files,
                   "check_timeout": job.limits.check_timeout}
        with self.lock:
            for attempt in range(2):
                if self.process is None or self.process.poll() is not None:
                    self._start()
                try:
                    self.process.stdin.write(json.dumps(request) + "\n")
                    self.process.stdin.flush()
                    line = self.process.stdout.readline()
                    reply = json.loads(line)
                    if "verdicts" in reply and set(reply["verdicts"]) == set(tests):
                        return reply["verdicts"]
                except (OSError, ValueError):
                    pass
                self.close()
        failure = {"passed": False, "message": "the grader's checker failed on this notebook: ask the course staff"}
        return {test: failure for test in tests}

    def close(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


_CHECKER = None


def checker() -> CheckerProcess:
    global _CHECKER
    if _CHECKER is None:
        _CHECKER = CheckerProcess()
    return _CHECKER


# ----------------------------------------------------------------------------- users
_UID = None
_UID_LOCK = None


def _kernel_uid() -> int:
    """A kernel user id that no other grading process on this machine holds: one per
    worker process, so that concurrent jobs cannot touch each other's files.  Held
    (an advisory lock) until this process exits."""
    global _UID, _UID_LOCK
    if _UID is None:
        folder = Path(tempfile.gettempdir()) / "autograder-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        for uid in range(FIRST_UID, FIRST_UID + 4000):
            handle = open(folder / f"{uid}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.close()
                continue
            _UID, _UID_LOCK = uid, handle
            break
        else:
            raise RuntimeError("no free kernel user id")
    return _UID
