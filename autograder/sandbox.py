"""The sandbox one submission is graded in (used by :mod:`autograder.grade`).

Two entry points, both run as ``python -m autograder.sandbox ...``:

``job CONFIG.json``
    Runs inside ``unshare --mount --net --pid`` when the machine allows it (root on
    Linux): brings up a private loopback interface (the kernel talks to nbgrader over it;
    nothing else is reachable), hides the course repository's secrets (``source/``,
    ``solutions/``, ``grading/``, the tests, other submissions, the output folder) behind
    empty mounts, then runs nbgrader's autograde converter on the job's private course
    directory.  When the kernel dies in a cell, the cell is replaced by an error (answer
    cells) or marked as failed (test cells) and the notebook is graded again, so one
    ``os._exit`` costs one cell, not the whole sheet.  Afterwards it ends every process
    left in the namespace, removes hidden tests and tracebacks into the checks from the
    graded notebook, renders the feedback and writes ``result.json``.

``kernel CONNECTION_FILE [ARGS]``
    The kernel command of the job's kernelspec: applies the resource limits
    (address space, CPU time, processes, file size), drops to an unprivileged user id of
    its own when running as root, and starts IPython with :mod:`autograder.guard` as its
    prelude.
"""
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

# jsonschema (via nbformat) imports rfc3987_syntax when it is installed, which compiles a
# grammar for 2-3 s of CPU at import; notebooks never need its IRI format checks.
sys.modules.setdefault("rfc3987_syntax", None)
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
HIDDEN_NOTE = "# (hidden tests: not shown)"


# --------------------------------------------------------------------------- isolation
_NAMESPACES = None


def namespaces_available() -> bool:
    """True when ``unshare --mount --net --pid`` works here (root on Linux)."""
    global _NAMESPACES
    if _NAMESPACES is None:
        _NAMESPACES = False
        if sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("unshare"):
            try:
                probe = subprocess.run(["unshare", "-m", "-n", "-p", "-f", "--mount-proc", "true"],
                                       capture_output=True, timeout=20)
                _NAMESPACES = probe.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                _NAMESPACES = False
    return _NAMESPACES


def job_command(config_path: str, isolated: bool) -> list:
    command = [sys.executable, "-m", "autograder.sandbox", "job", config_path]
    if isolated:
        command = ["unshare", "-m", "-n", "-p", "-f", "--kill-child", "--mount-proc"] + command
    return command


def _enter_isolation(config: dict):
    """Inside fresh namespaces: loopback up, secrets hidden."""
    subprocess.run(["mount", "--make-rprivate", "/"], check=False, capture_output=True)
    if shutil.which("ip"):
        subprocess.run(["ip", "link", "set", "lo", "up"], check=False, capture_output=True)
    else:  # pragma: no cover - iproute2 is present on the course machines
        _loopback_up()
    _expose(os.path.realpath(sys.base_prefix))
    course_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    _private_scratch([os.path.dirname(config["course"]), sys.prefix, course_root])
    for path in config.get("hide", []):
        if os.path.isdir(path) and not os.path.islink(path):
            subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=16k,mode=0555", "hidden", path],
                           check=False, capture_output=True)
        elif os.path.isfile(path):
            subprocess.run(["mount", "--bind", "/dev/null", path], check=False, capture_output=True)


_MS_BIND = 4096


def _bind_back(directories, cover):
    """Run ``cover()`` (which mounts something over a parent of ``directories``), then
    mount the original directories back at their paths.  The originals are held by open
    file descriptors meanwhile, since their paths no longer lead to them."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    directories = [directories] if isinstance(directories, str) else list(directories)
    handles = [os.open(directory, os.O_RDONLY | os.O_DIRECTORY) for directory in directories]
    try:
        cover()
        for directory, handle in zip(directories, handles):
            os.makedirs(directory, exist_ok=True)
            if libc.mount(f"/proc/self/fd/{handle}".encode(), directory.encode(), None, _MS_BIND, None) != 0:
                raise OSError(ctypes.get_errno(), f"cannot mount {directory} back")
    finally:
        for handle in handles:
            os.close(handle)


def _tmpfs(path: str, options: str):
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "sandbox", path], check=True, capture_output=True)


def _expose(path: str):
    """Make ``path`` reachable for the kernel's unprivileged user: an ancestor that others
    cannot enter (``/root`` when Python lives in root's pyenv) is covered with an empty
    tmpfs into which only ``path``'s branch is mounted back, which also keeps the rest of
    that folder out of the student's sight."""
    parts = path.strip(os.sep).split(os.sep)
    for depth in range(1, len(parts)):
        ancestor = os.sep + os.path.join(*parts[:depth])
        if os.stat(ancestor).st_mode & 0o001:
            continue
        branch = os.path.join(ancestor, parts[depth])
        _bind_back(branch, lambda: _tmpfs(ancestor, "mode=0755,size=64k"))
        return


def _private_scratch(keep):
    """Fresh, empty world-writable folders (/tmp, /var/tmp, /dev/shm, /run/lock): nothing
    one student's code leaves there can be read by the next student graded under the
    same user id.  The folders in ``keep`` that lie in one of them (the job's own folder;
    the course checkout and its virtual environment when they live under /tmp, as in a
    CI clone) are mounted back into the new one."""
    keep = sorted({os.path.realpath(path) for path in keep})
    for scratch in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
        if not os.path.isdir(scratch) or os.path.islink(scratch):
            continue
        inside = [path for path in keep if path.startswith(scratch.rstrip(os.sep) + os.sep)]
        outermost = [path for path in inside if not any(path.startswith(other + os.sep) for other in inside)]
        if not outermost:
            _tmpfs(scratch, "mode=1777,size=2g")
            continue
        _bind_back(outermost, lambda: _tmpfs(scratch, "mode=1777,size=2g"))
        for path in outermost:
            parent = os.path.dirname(path)
            while len(parent) > len(scratch):
                os.chmod(parent, 0o711)
                parent = os.path.dirname(parent)


def _loopback_up():  # pragma: no cover
    import fcntl
    import socket
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, 0x8913, request))[1]  # SIOCGIFFLAGS
        fcntl.ioctl(sock, 0x8914, struct.pack("16sH", b"lo", flags | 1))  # SIOCSIFFLAGS, IFF_UP


# --------------------------------------------------------------------------- nbgrader
def nbgrader_config(course: str, sheet: str, student: str | None = None, *, cell_timeout: int = 60):
    """The traitlets configuration of a private course directory."""
    from traitlets.config import Config

    config = Config()
    config.CourseDirectory.root = course
    config.CourseDirectory.course_id = "explaining-nn"
    config.CourseDirectory.db_url = "sqlite:///" + os.path.join(course, "gradebook.db")
    config.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.nb.py"]
    config.CourseDirectory.assignment_id = sheet
    if student:
        config.CourseDirectory.student_id = student
    config.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    config.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    config.Execute.timeout = cell_timeout
    config.Execute.interrupt_on_timeout = True
    config.Execute.kernel_name = "python3"
    config.KernelSpecManager.ensure_native_kernel = False
    config.Exchange.root = os.path.join(course, "exchange")
    return config


def run_converter(kind: str, config) -> tuple[bool, str]:
    """Run an nbgrader converter in this process; (success, log text)."""
    import io
    import logging

    from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
    from nbgrader.coursedir import CourseDirectory

    converter_class = {"generate": GenerateAssignment, "autograde": Autograde, "feedback": GenerateFeedback}[kind]
    coursedir = CourseDirectory(config=config)
    converter = converter_class(coursedir=coursedir, config=config)
    converter.force = True
    if kind == "autograde":
        converter.create_student = True
    if kind == "generate":
        converter.create_assignment = True
    if kind == "feedback":
        converter.config.HTMLExporter.template_name = "feedback"
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    converter.log.addHandler(handler)
    try:
        converter.start()
        success = True
    except Exception as error:  # noqa: BLE001 - reported in the job's status
        success = False
        stream.write(f"\n{type(error).__name__}: {error}\n")
    finally:
        converter.log.removeHandler(handler)
    return success, stream.getvalue()


def _grade_ignoring_stderr():
    """nbgrader gives 0 to a test cell that wrote to stderr (a warning, a progress bar);
    only an error output should cost the points."""
    import nbgrader.preprocessors.saveautogrades as saveautogrades
    from nbgrader import utils

    original = utils.determine_grade

    def determine_grade(cell, log=None):
        if cell.cell_type == "code" and cell.get("outputs"):
            cell = cell.copy()
            cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.get("name") == "stderr")]
        return original(cell, log)

    utils.determine_grade = determine_grade
    saveautogrades.utils.determine_grade = determine_grade


# --------------------------------------------------------------------------- notebook care
def strip_hidden_tests(source: str) -> str:
    """Source of a test cell without the hidden-test region."""
    pattern = re.compile(re.escape(HIDDEN_BEGIN) + r".*?" + re.escape(HIDDEN_END), re.S)
    source = pattern.sub(HIDDEN_NOTE, source)
    if HIDDEN_BEGIN in source:  # an unterminated region: drop the rest of the cell
        source = source.split(HIDDEN_BEGIN)[0] + HIDDEN_NOTE
    return source


def sanitize_for_feedback(notebook, test_ids: set):
    """Feedback copy: no hidden-test source, no tracebacks reaching into the checks."""
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id not in test_ids:
            continue
        cell.source = strip_hidden_tests(cell.source)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    return notebook


def cell_outcomes(notebook, test_ids: set) -> dict:
    """grade_id -> passed / failed / tampering / timeout, from a graded notebook."""
    outcomes = {}
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id not in test_ids or cell.cell_type != "code":
            continue
        status = "passed"
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            name = output.get("ename", "")
            if name == "TamperingDetected":
                status = "tampering"
            elif name in ("CellTimeoutError", "KeyboardInterrupt"):
                status = "timeout"
            elif name == "KernelEnded":
                status = "kernel ended"
            else:
                status = "failed"
            break
        outcomes.setdefault(grade_id, status)
    return outcomes


#: Errors that are the ordinary way a test fails (a wrong or missing answer, or a
#: consequence of an error reported where it happened); anything else is worth a note.
ORDINARY_FAILURES = ("GradingError", "AssertionError", "TamperingDetected", "KernelEnded", "CellTimeoutError",
                     "KeyboardInterrupt", "NotImplementedError", "NameError")


def cell_errors(notebook, test_ids: set) -> list:
    """[(where, exception name)] of the errors a student should hear about: any error
    outside the test cells, unusual ones inside them (MemoryError, ForbiddenCall, ...)."""
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error":
                continue
            name = output.get("ename", "Error")
            if grade_id in test_ids and name in ORDINARY_FAILURES:
                break
            found.append((grade_id or f"cell {index + 1}", name))
            break
    return found


# --------------------------------------------------------------------------- the job
def run_job(config: dict) -> dict:
    started = time.monotonic()
    import nbformat

    from autograder.guard import cell_hash

    if config.get("isolated"):
        _enter_isolation(config)
    _grade_ignoring_stderr()
    course, sheet, student = config["course"], config["sheet"], config["student"]
    os.chdir(course)
    submitted = os.path.join(course, "submitted", student, sheet, sheet + ".ipynb")
    graded = os.path.join(course, "autograded", student, sheet, sheet + ".ipynb")
    guard_path = config["guard_config"]
    with open(guard_path, encoding="utf-8") as stream:
        guard = json.load(stream)
    test_cells = guard["test_cells"]  # hash -> grade_id
    notes, skipped = [], []
    nb_config = nbgrader_config(course, sheet, student, cell_timeout=config["cell_timeout"])
    deadline = time.monotonic() + config["timeout"]
    success, log = False, ""
    for attempt in range(config.get("attempts", 4)):
        _reset_progress(config)
        success, log = _autograde_with_deadline(nb_config, deadline)
        died = (not success) and re.search(r"DeadKernel|Kernel died|kernel.*(died|dead)|Timeout", log, re.I)
        if success or not died or time.monotonic() > deadline:
            break
        digest = _last_started(config["progress"])
        if digest is None:
            break
        if digest in test_cells:
            guard["dead_cells"] = sorted(set(guard.get("dead_cells", [])) | {digest})
            with open(guard_path, "w", encoding="utf-8") as stream:
                json.dump(guard, stream)
            skipped.append(test_cells[digest])
        else:
            where = _disable_cell(submitted, digest, cell_hash)
            if where is None:
                break
            skipped.append(where)
        _kill_leftovers()
    _kill_leftovers()  # nothing the student started may outlive the run
    result = {"success": success, "log": log[-4000:], "skipped": skipped, "notes": notes,
              "seconds": {"autograde": round(time.monotonic() - started, 2)}}
    if success and os.path.exists(graded):
        notebook = nbformat.read(graded, as_version=4)
        result["outcomes"] = cell_outcomes(notebook, set(test_cells.values()))
        result["errors"] = cell_errors(notebook, set(test_cells.values()))
        nbformat.write(sanitize_for_feedback(notebook, set(test_cells.values())), graded)
        feedback_started = time.monotonic()
        ok, feedback_log = run_converter("feedback", nb_config)
        result["seconds"]["feedback"] = round(time.monotonic() - feedback_started, 2)
        result["feedback"] = ok
        if not ok:
            result["log"] += "\n" + feedback_log[-2000:]
        result["tampering"] = _read_reports(config.get("report"))
    return result


def _autograde_with_deadline(nb_config, deadline):
    """Autograde; SIGALRM ends it when the job's wall-clock budget is spent."""
    remaining = max(1, int(deadline - time.monotonic()))

    def expire(signum, frame):
        raise TimeoutError(f"the notebook ran longer than the grader's wall-clock limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(remaining)
    try:
        return run_converter("autograde", nb_config)
    except TimeoutError as error:
        return False, f"Timeout: {error}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _reset_progress(config):
    path = config["progress"]
    with open(path, "w", encoding="ascii"):
        pass
    os.chown(path, config.get("uid", os.getuid()), config.get("gid", os.getgid()))


def _last_started(path: str):
    try:
        with open(path, encoding="ascii", errors="replace") as stream:
            lines = [line.split() for line in stream if line.startswith("start ")]
    except OSError:
        return None
    return lines[-1][1] if lines and len(lines[-1]) == 2 else None


def _disable_cell(path: str, digest: str, cell_hash) -> bool:
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and cell_hash(cell.source) == digest:
            cell.source = ("raise RuntimeError('the grader skipped this cell: it ended the kernel "
                           "(os._exit, a crash or the memory limit) when it ran')")
            nbformat.write(notebook, path)
            return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
    return None


def _kill_leftovers():
    """As PID 1 of the job's namespace, end every other process in it."""
    if os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        try:
            while True:
                os.waitpid(-1, os.WNOHANG)
                break
        except ChildProcessError:
            pass


def _read_reports(path):
    found = []
    if path and os.path.exists(path):
        with open(path, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
    return found


# --------------------------------------------------------------------------- the kernel
def start_kernel(connection_file: str, extra: list):
    """Limits, an unprivileged user id, then IPython with the guard as prelude."""
    settings = json.loads(os.environ["AUTOGRADER_KERNEL"])
    home = settings["home"]
    uid, gid = settings.get("uid"), settings.get("gid")
    _clean_home(home, uid, gid)
    private = os.path.join(home, "connection.json")
    shutil.copyfile(connection_file, private)
    if uid is not None:
        os.chown(private, uid, gid)
    os.chmod(private, 0o600)
    limits = [(resource.RLIMIT_AS, settings["memory_bytes"]), (resource.RLIMIT_CPU, settings["cpu_seconds"]),
              (resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, settings["file_bytes"])]
    if uid is not None:
        limits.append((resource.RLIMIT_NPROC, settings["processes"]))
    for kind, value in limits:
        try:
            resource.setrlimit(kind, (value, value))
        except (ValueError, OSError):
            pass
    if uid is not None:
        cwd = os.path.realpath(os.getcwd())
        if cwd.startswith(os.path.realpath(settings["autograded"]) + os.sep):
            os.chmod(cwd, 0o1777)  # the student's code may write files next to the notebook
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    environment = {key: value for key, value in os.environ.items() if not key.startswith("AUTOGRADER_KERNEL")}
    for name in ("PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONHOME", "PYTHONUSERBASE"):
        environment.pop(name, None)
    environment.update(HOME=home, MPLCONFIGDIR=os.path.join(home, "mpl"), IPYTHONDIR=os.path.join(home, "ipython"),
                       PYTHONNOUSERSITE="1",
                       JUPYTER_RUNTIME_DIR=os.path.join(home, "runtime"), OMP_NUM_THREADS="1",
                       MKL_NUM_THREADS="1", TMPDIR=os.path.join(home, "tmp"))
    for folder in ("mpl", "runtime", "tmp", "ipython"):
        os.makedirs(os.path.join(home, folder), exist_ok=True)
    # the prelude is given on the command line: a profile the student could write to
    # (startup files, config) was wiped above and cannot override it
    argv = [sys.executable, "-s", "-m", "ipykernel_launcher", "-f", private,
            "--IPKernelApp.exec_lines=import autograder.guard as _g; _g.install(); del _g",
            "--HistoryManager.enabled=False"] + [a for a in extra if "exec_lines" not in a]
    os.execve(sys.executable, argv, environment)


def _clean_home(home: str, uid, gid):
    """Start every kernel (retries included) from an empty home: nothing a previous
    attempt wrote there (IPython startup files, user site-packages) may run before the
    guard.  The progress and tampering logs are kept."""
    for entry in os.listdir(home):
        path = os.path.join(home, entry)
        if entry in ("progress.log", "tampering.log") and os.path.isfile(path) and not os.path.islink(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    if uid is not None:
        os.chown(home, uid, gid)
        os.chmod(home, 0o700)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["job"]:
        with open(argv[1], encoding="utf-8") as stream:
            config = json.load(stream)
        result = run_job(config)
        with open(config["result"], "w", encoding="utf-8") as stream:
            json.dump(result, stream)
        return 0
    if argv[:1] == ["kernel"]:
        start_kernel(argv[1], argv[2:])
        return 0
    sys.exit("usage: python -m autograder.sandbox {job CONFIG | kernel CONNECTION_FILE}")


if __name__ == "__main__":
    sys.exit(main())
