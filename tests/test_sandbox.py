"""The grading sandbox from the inside: each test runs a short hostile script as a
student's kernel would run (bubblewrap, the job's own unprivileged user, the job's
cgroups, the same binds as a grading job) and reads back what it could reach.

Skipped where the sandbox cannot run (not root, no bubblewrap): there grading itself
refuses to run, which ``tests/test_grading_units.py`` checks.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from autograder.engine import sandbox, worker

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not sandbox.isolation().available,
                                reason=f"no grading sandbox here: {sandbox.isolation().summary}")


def _inside(script: str, *, memory_bytes=2 * 2**30, processes=128, timeout=120):
    """Run ``script`` with the sandbox's Python as a grading job runs its kernel; returns
    (its JSON report or None, the outcome)."""
    base = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    uid = worker._kernel_uid()
    try:
        (base / "work").mkdir()
        (base / "work" / "script.py").write_text(textwrap.dedent(script))
        os.chown(base / "work", uid, uid)
        os.chmod(base, 0o755)
        binds = sandbox.python_binds() + [sandbox.Bind(str(ROOT / "utils"), str(ROOT / "utils")),
                                          sandbox.Bind(str(base / "work"), "/course/work", writable=True)]
        environment = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": "/course/work",
                       "PYTHONDONTWRITEBYTECODE": "1", "LANG": "C.UTF-8"}
        outcome = sandbox.run([sys.executable, "/course/work/script.py"], binds=binds, cwd="/course/work",
                              environment=environment, uid=uid, memory_bytes=memory_bytes, processes=processes,
                              timeout=timeout)
        report = base / "work" / "report.json"
        data = json.loads(report.read_text()) if report.is_file() and not report.is_symlink() else None
        return data, outcome
    finally:
        import shutil

        shutil.rmtree(base, ignore_errors=True)


def test_no_network_but_loopback():
    """Attack: send the answers (or fetch a solution) over the network."""
    report, outcome = _inside("""
        import json, socket
        found = {}
        for host, port in (("1.1.1.1", 53), ("8.8.8.8", 443), ("pypi.org", 443)):
            try:
                socket.create_connection((host, port), timeout=3).close()
                found[host] = "connected"
            except OSError as error:
                found[host] = type(error).__name__
        server = socket.socket()
        server.bind(("127.0.0.1", 0))
        found["loopback"] = "bound"
        json.dump(found, open("report.json", "w"))
    """)
    assert report is not None, outcome.output
    assert "connected" not in report.values(), report
    assert report["loopback"] == "bound"


def test_the_grader_and_the_checkout_beyond_utils_are_not_there():
    """Attack: import the grader, read the reference, the sources, the solutions, the
    gradebook or another job's folder."""
    report, outcome = _inside(f"""
        import glob, json, os
        found = {{}}
        try:
            import autograder
            found["import autograder"] = "imported"
        except ImportError as error:
            found["import autograder"] = type(error).__name__
        root = {str(ROOT)!r}
        for name in ("autograder", "source", "solutions", "assignments", "grading", "tests", ".git", "utils"):
            found[name] = os.path.exists(os.path.join(root, name))
        found["listing"] = sorted(os.listdir(root))
        found["jobs"] = glob.glob("/tmp/autograder-*") + glob.glob({str(Path(tempfile.gettempdir()))!r} + "/autograder-job-*")
        json.dump(found, open("report.json", "w"))
    """)
    assert report is not None, outcome.output
    assert report["import autograder"] == "ModuleNotFoundError"
    assert report["utils"] is True and set(report["listing"]) <= {"utils", ".venv"}  # the interpreter's own venv
    for name in ("autograder", "source", "solutions", "assignments", "grading", "tests", ".git"):
        assert report[name] is False, name
    assert report["jobs"] == []


def test_runs_as_an_unprivileged_user_without_capabilities():
    """Attack: read root's files, become root again, change the job's limits."""
    report, outcome = _inside("""
        import json, os
        found = {"uid": os.getuid(), "euid": os.geteuid(), "groups": os.getgroups()}
        status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
        found["CapEff"] = status["CapEff"].strip()
        found["NoNewPrivs"] = status["NoNewPrivs"].strip()
        for path in ("/etc/shadow",):
            try:
                open(path).read()
                found[path] = "read"
            except OSError as error:
                found[path] = type(error).__name__
        try:
            os.setuid(0)
            found["setuid"] = "root"
        except OSError as error:
            found["setuid"] = type(error).__name__
        for path in ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/usr/bin/new-file"):
            try:
                open(path, "w").write("1")
                found[path] = "written"
            except OSError as error:
                found[path] = type(error).__name__
        json.dump(found, open("report.json", "w"))
    """)
    assert report is not None, outcome.output
    assert report["uid"] == report["euid"] == worker._kernel_uid() and report["uid"] >= worker.FIRST_UID
    assert report["groups"] == [] and report["CapEff"] == "0000000000000000" and report["NoNewPrivs"] == "1"
    assert report["/etc/shadow"] in ("PermissionError", "FileNotFoundError")
    assert report["setuid"] == "PermissionError"
    assert "written" not in report.values(), report


def test_memory_of_every_process_and_tmp_together_is_bounded():
    """Attack: children that each stay under a per-process limit and a file in /tmp,
    together well over the job's 512 MB."""
    report, outcome = _inside("""
        import json, os, time
        with open("/tmp/ballast", "wb") as stream:
            for _ in range(200):
                stream.write(b"\\1" * 2**20)
        children = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                block = bytearray(200 * 2**20)
                for i in range(0, len(block), 4096):
                    block[i] = 1
                time.sleep(2)
                os._exit(0)
            children.append(pid)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
        json.dump({"children": codes}, open("report.json", "w"))
    """, memory_bytes=512 * 2**20)
    assert outcome.memory_limit_hit
    assert outcome.memory_peak_bytes <= 512 * 2**20 + 2**20
    if report is not None:  # the script survived: at least one child was killed
        assert any(code != 0 for code in report["children"]), report


def test_forks_are_bounded_by_the_process_limit():
    """Attack: a fork bomb."""
    report, outcome = _inside("""
        import json, os, time
        children = []
        while len(children) < 10000:
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(2)
                os._exit(0)
            children.append(pid)
        json.dump({"forked": len(children)}, open("report.json", "w"))
        for pid in children:
            os.waitpid(pid, 0)
    """, processes=64)
    assert report is not None, outcome.output
    assert 0 < report["forked"] < 64


def test_nothing_the_job_started_outlives_it():
    """Attack: a daemon that keeps running after the notebook ends (to rewrite what
    the grader reads back)."""
    report, outcome = _inside("""
        import json, os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
            os._exit(0)
        json.dump({"pid": os.getpid()}, open("report.json", "w"))
    """, timeout=60)
    assert report is not None, outcome.output
    assert outcome.seconds < 30
    uid = worker._kernel_uid()
    survivors = [pid for pid in os.listdir("/proc") if pid.isdigit() and _owner(pid) == uid]
    assert survivors == []


def _owner(pid):
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


@pytest.mark.skipif(not os.access(sandbox.CGROUP_V1 / "memory", os.W_OK), reason="no writable cgroup v1 memory controller")
def test_the_groups_of_a_worker_that_died_mid_job_are_removed():
    """A worker killed in the middle of a job leaves its job's group behind; the next
    worker's start removes it, and leaves the groups of living workers alone."""
    import subprocess

    finished = subprocess.Popen(["true"])
    finished.wait()  # a PID that no longer runs
    base = sandbox.CGROUP_V1 / "memory" / sandbox.GROUP
    base.mkdir(exist_ok=True)
    stale, living = base / f"job-{finished.pid}-stale", base / f"job-{os.getpid()}-living"
    stale.mkdir()
    living.mkdir()
    try:
        sandbox.remove_stale_groups()
        assert not stale.exists() and living.exists()
    finally:
        for path in (stale, living):
            if path.exists():
                path.rmdir()
