"""The sandbox a student's notebook runs in: bubblewrap, an unprivileged user, a cgroup.

:func:`run` starts a command inside a fresh set of namespaces made by bubblewrap
(``bwrap``, a Debian package): its own mount, PID, network (loopback only), IPC and UTS
namespaces; a root file system assembled from read-only binds of what Python needs (the
system's ``/usr`` and ``/etc``, the interpreter, the virtual environment, the course's
``utils`` package) plus the job's few folders; a private ``/tmp``.  Inside, ``setpriv``
drops to the job's own user id, with no capabilities and ``no_new_privs``, before the
command runs.  The course checkout beyond ``utils/`` — the instructor package
``autograder``, the sources and solutions, other students' work, the gradebook — is
simply not in that file system.

The whole process tree is placed in a memory cgroup and a pids cgroup (cgroup v1 here;
v2 where its controllers are available), so that every process of the job and the pages
of its ``/tmp`` count against one memory limit, and forks against one process limit.
Where no cgroup can be had, per-process ``setrlimit`` bounds are the fallback, and
:attr:`Isolation.memory` says so.

Nothing here is hand-written namespace code; bubblewrap does that.  Without bubblewrap
(or without the privileges it needs) :func:`isolation` reports it, and the grading
command refuses to run unless it is told ``--no-isolation``.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_V1 = Path("/sys/fs/cgroup")
CGROUP_V2 = Path("/sys/fs/cgroup/unified")
GROUP = "autograder"
SYSTEM_DIRECTORIES = ("/usr", "/etc")
SYSTEM_LINKS = {"/bin": "usr/bin", "/sbin": "usr/sbin", "/lib": "usr/lib", "/lib64": "usr/lib64"}
TMP_BYTES = 2 * 2**30
FILE_BYTES = 1 * 2**30  # the largest file a job may write (its output log included)
OUTPUT_TAIL = 20000


@dataclass(frozen=True)
class Isolation:
    """What this machine gives a grading job; :attr:`summary` is printed by ``grade``."""

    sandbox: str  # "bubblewrap" or "" (none)
    memory: str  # "cgroup v1", "cgroup v2" or "per process (setrlimit)"
    detail: str = ""

    @property
    def available(self) -> bool:
        return bool(self.sandbox)

    @property
    def summary(self) -> str:
        if not self.available:
            return f"no sandbox: {self.detail}"
        return f"{self.sandbox} sandbox, unprivileged user per worker, job memory and processes bounded by {self.memory}"


@dataclass(frozen=True)
class Bind:
    source: str
    target: str
    writable: bool = False


@dataclass
class Outcome:
    returncode: int | None
    output: str
    seconds: float
    timed_out: bool = False
    cpu_seconds: float = 0.0  # user + system time of every process of the job (where a cgroup measures it)
    memory_peak_bytes: int = 0
    memory_limit_hit: bool = False
    notes: list = field(default_factory=list)


# ----------------------------------------------------------------------------- probing
_ISOLATION: Isolation | None = None


def isolation() -> Isolation:
    """Probe once per process whether bubblewrap works here and which cgroups exist."""
    global _ISOLATION
    if _ISOLATION is None:
        _ISOLATION = _probe()
    return _ISOLATION


def _probe() -> Isolation:
    remove_stale_groups()
    memory = _cgroup_kind() or "per process (setrlimit)"
    if not sys.platform.startswith("linux"):
        return Isolation("", memory, "bubblewrap needs Linux")
    if os.geteuid() != 0:
        return Isolation("", memory, "grading runs each kernel as its own user, which needs root")
    if shutil.which("bwrap") is None:
        return Isolation("", memory, "bubblewrap (bwrap) is not installed: apt-get install bubblewrap")
    try:
        probe = subprocess.run(_bwrap_prefix([], "/") + ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                         "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Isolation("", memory, f"bubblewrap did not start: {error}")
    if probe.returncode != 0:
        return Isolation("", memory, "bubblewrap cannot create namespaces here: "
                         + probe.stderr.decode(errors="replace").strip()[-200:])
    return Isolation("bubblewrap", memory)


def _cgroup_kind() -> str:
    if os.geteuid() != 0:
        return ""
    if all(os.access(CGROUP_V1 / controller, os.W_OK) for controller in ("memory", "pids")):
        return "cgroup v1"
    controllers = CGROUP_V2 / "cgroup.controllers"
    if controllers.exists() and {"memory", "pids"} <= set(controllers.read_text().split()):
        return "cgroup v2"
    return ""


# ----------------------------------------------------------------------------- cgroups
def remove_stale_groups():
    """Remove the job groups of workers that died in the middle of a job (a group's name
    holds the PID of the worker that made it): kill what is left in them, then rmdir."""
    if os.geteuid() != 0:
        return
    for base in (CGROUP_V1 / "memory" / GROUP, CGROUP_V1 / "pids" / GROUP, CGROUP_V1 / "cpuacct" / GROUP,
                 CGROUP_V2 / GROUP):
        for path in base.glob("job-*-*") if base.is_dir() else ():
            try:
                os.kill(int(path.name.split("-")[1]), 0)
                continue  # its worker is alive: the group may be in use
            except ProcessLookupError:
                pass
            except (ValueError, PermissionError):
                continue
            try:
                for pid in (path / "cgroup.procs").read_text().split():
                    os.kill(int(pid), signal.SIGKILL)
                path.rmdir()
            except OSError:
                pass



#: Run by ``sh`` before the sandbox starts: write its own PID into each cgroup.procs file
#: named before ``--``, then exec the rest (no Python code runs between fork and exec).
_ENTER_GROUPS = 'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; exec "$@"'


class _JobGroup:
    """A memory and a pids cgroup for one job."""

    def __init__(self, kind: str, memory_bytes: int, processes: int):
        self.kind, self.paths = kind, []
        name = f"job-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        if kind == "cgroup v1":
            self.paths = [CGROUP_V1 / "memory" / GROUP / name, CGROUP_V1 / "pids" / GROUP / name]
            self.paths[0].mkdir(parents=True)
            (self.paths[0] / "memory.limit_in_bytes").write_text(str(memory_bytes))
            swap = self.paths[0] / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(memory_bytes))
            self.paths[1].mkdir(parents=True)
            (self.paths[1] / "pids.max").write_text(str(processes))
            accounting = CGROUP_V1 / "cpuacct"
            if os.access(accounting, os.W_OK):  # only measures: the job's CPU time
                self.paths.append(accounting / GROUP / name)
                self.paths[2].mkdir(parents=True)
        elif kind == "cgroup v2":
            parent = CGROUP_V2 / GROUP
            parent.mkdir(exist_ok=True)
            (parent / "cgroup.subtree_control").write_text("+memory +pids")
            self.paths = [parent / name]
            self.paths[0].mkdir()
            (self.paths[0] / "memory.max").write_text(str(memory_bytes))
            (self.paths[0] / "memory.swap.max").write_text("0")
            (self.paths[0] / "pids.max").write_text(str(processes))
        self.procs_files = [str(path / "cgroup.procs") for path in self.paths]

    def kill_all(self):
        """SIGKILL every process still in the job's groups, until none is left."""
        for _ in range(100):
            pids = set()
            for procs in self.procs_files:
                try:
                    pids |= {int(line) for line in Path(procs).read_text().split()}
                except OSError:
                    continue
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        if self.kind == "cgroup v1" and len(self.paths) > 2:
            return int((self.paths[2] / "cpuacct.usage").read_text()) / 1e9
        if self.kind == "cgroup v2":
            stat = dict(line.split() for line in (self.paths[0] / "cpu.stat").read_text().splitlines())
            return int(stat.get("usage_usec", 0)) / 1e6
        return 0.0

    def memory_report(self) -> tuple[int, bool]:
        """(peak bytes, whether the limit was hit)."""
        if self.kind == "cgroup v1":
            memory = self.paths[0]
            peak = int((memory / "memory.max_usage_in_bytes").read_text())
            # The failure counters can stay at 0 while the OOM killer ends processes of the
            # job (seen with memory+swap accounting): its kills count as hitting the limit.
            failures = [int(path.read_text()) for path in (memory / "memory.failcnt", memory / "memory.memsw.failcnt")
                        if path.exists()]
            control = dict(line.split() for line in (memory / "memory.oom_control").read_text().splitlines())
            return peak, any(failures) or int(control.get("oom_kill", 0)) > 0
        if self.kind == "cgroup v2":
            events = dict(line.split() for line in (self.paths[0] / "memory.events").read_text().splitlines())
            peak_file = self.paths[0] / "memory.peak"
            peak = int(peak_file.read_text()) if peak_file.exists() else 0
            return peak, int(events.get("oom_kill", 0)) > 0 or int(events.get("max", 0)) > 0
        return 0, False

    def remove(self):
        self.kill_all()
        for path in self.paths:
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


# ----------------------------------------------------------------------------- running
def _directories_for(paths) -> list:
    """``--dir`` arguments (mode 0755) for every ancestor of ``paths``: bubblewrap would
    otherwise create them with mode 0700, closed to the unprivileged user."""
    made, arguments = set(SYSTEM_DIRECTORIES) | {"/", "/tmp", "/proc", "/dev"}, []
    for path in paths:
        parts = Path(path).parts
        for depth in range(2, len(parts)):
            ancestor = str(Path(*parts[:depth]))
            if ancestor not in made:
                made.add(ancestor)
                arguments += ["--perms", "0755", "--dir", ancestor]
    return arguments


def _bwrap_prefix(binds, cwd: str, environment: dict | None = None) -> list:
    arguments = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev"]
    for directory in SYSTEM_DIRECTORIES:
        arguments += ["--ro-bind", directory, directory]
    for link, target in SYSTEM_LINKS.items():
        if os.path.islink(link):
            arguments += ["--symlink", target, link]
        elif os.path.isdir(link):
            arguments += ["--ro-bind", link, link]
    arguments += ["--perms", "1777", "--size", str(TMP_BYTES), "--tmpfs", "/tmp"]
    arguments += _directories_for([bind.target for bind in binds])
    for bind in binds:
        arguments += ["--bind" if bind.writable else "--ro-bind", bind.source, bind.target]
    if environment is not None:
        arguments.append("--clearenv")
        for key, value in environment.items():
            arguments += ["--setenv", key, value]
    return arguments + ["--chdir", cwd, "--"]


def python_binds() -> list:
    """Read-only binds of the interpreter and its virtual environment, at their paths."""
    places = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix), sys.prefix}
    return [Bind(path, path) for path in sorted(places) if not path.startswith(SYSTEM_DIRECTORIES)]


def run(command: list, *, binds: list, cwd: str, environment: dict, uid: int | None, memory_bytes: int,
        processes: int, timeout: float, isolated: bool = True) -> Outcome:
    """Run ``command`` in the sandbox (or, with ``isolated=False``, as a plain child
    process with per-process limits) and wait at most ``timeout`` seconds."""
    started = time.monotonic()
    kind = _cgroup_kind() if isolated else ""
    group = _JobGroup(kind, memory_bytes, processes) if kind else None
    if isolated:
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--inh-caps=-all",
                "--bounding-set=-all", "--no-new-privs"]
        argv = _bwrap_prefix(binds, cwd, environment) + drop + list(command)
        child_environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    else:
        argv, child_environment = list(command), environment

    limits = ["--core=0", f"--fsize={FILE_BYTES}"]
    if group is None:  # the fallback: bounds per process, not per job
        limits.append(f"--as={memory_bytes}")
        if isolated:
            limits.append(f"--nproc={processes}")
    argv = ["prlimit"] + limits + ["--"] + argv
    if group is not None:  # join the job's cgroups before anything else starts
        argv = ["sh", "-c", _ENTER_GROUPS, "sh"] + group.procs_files + ["--"] + argv

    outcome = Outcome(None, "", 0.0)
    # The output goes to an unlinked file, not a pipe: whatever the student prints to the
    # kernel's own stdout, the worker only ever reads the last OUTPUT_TAIL bytes.
    log = tempfile.TemporaryFile()
    try:
        process = subprocess.Popen(argv, cwd=None if isolated else cwd, env=child_environment,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            outcome.timed_out = True
            _kill_tree(process, group)
            process.wait()
        outcome.returncode = process.returncode
        _kill_tree(process, group)  # nothing the job started outlives it (without a PID namespace: its session)
        size = log.seek(0, os.SEEK_END)
        log.seek(max(0, size - OUTPUT_TAIL))
        outcome.output = log.read().decode("utf-8", "replace")
    finally:
        log.close()
        if group is not None:
            outcome.memory_peak_bytes, outcome.memory_limit_hit = group.memory_report()
            outcome.cpu_seconds = group.cpu_seconds()
            group.remove()
    outcome.seconds = time.monotonic() - started
    return outcome


def _kill_tree(process, group):
    if group is not None:
        group.kill_all()
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
