"""The Dask runner of grading jobs (autograder.engine.cluster), with a stand-in job function.

The stand-in reads what it should do from the job's notebook field, logs every attempt
(process id, start, end) to a file, sleeps briefly and returns a result whose score is a
function of the job's data, so that the tests can tell which job a result belongs to and
how often each job ran.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

from autograder.engine import cluster
from dask_cluster import dask_cluster
from autograder.engine.jobs import CellResult, CellStatus, Job, JobResult, Status

HERE = Path(__file__).resolve().parent


def expected_score(job: Job) -> float:
    """The score the stand-in gives a job: the number of letters of the student's name."""
    return float(sum(ch.isalpha() for ch in job.student))


def sleepy_run_job(job: Job) -> JobResult:
    """Stand-in for the grading worker: sleeps, logs the attempt, returns a fixed result."""
    plan = json.loads(job.notebook)
    log = Path(plan["log"])
    with open(log, "a") as stream:
        stream.write(f"start {job.student} {job.sheet} {os.getpid()}\n")
    if plan.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(plan.get("sleep", 0.2))
    with open(log, "a") as stream:
        stream.write(f"end {job.student} {job.sheet} {os.getpid()}\n")
    score = expected_score(job)
    return JobResult(student=job.student, sheet=job.sheet, digest=job.digest, status=Status.GRADED,
                     cells=[CellResult("test_a", "auto", score, 20.0, CellStatus.PASSED)])


def housekeeping_run_job(job: Job) -> JobResult:
    """Reports the worker's Dask settings named in ``cluster.HOUSEKEEPING``."""
    import dask

    seen = {name: dask.config.get(name) for name in cluster.HOUSEKEEPING}
    return JobResult(student=job.student, sheet=job.sheet, digest=job.digest, status=Status.GRADED,
                     detail=json.dumps(seen))


def make_jobs(log: Path, count: int, sleep: float = 0.2, dying=()) -> list:
    jobs = []
    for index in range(count):
        student = f"student{chr(ord('a') + index)}" + "x" * index
        plan = {"log": str(log), "sleep": sleep, "die": student in dying}
        jobs.append(Job(student=student, sheet="sheet1_analytic", notebook=json.dumps(plan), files={},
                        digest=f"{index:064x}", seed_secret="00"))
    return jobs


def attempts(log: Path) -> dict:
    """student -> number of times the stand-in started on that student's job."""
    counts = {}
    for line in log.read_text().splitlines():
        kind, student, _, _ = line.split()
        if kind == "start":
            counts[student] = counts.get(student, 0) + 1
    return counts


def summary_of(results: list) -> dict:
    return {r.key: (r.status, r.score, [(c.grade_id, c.score, c.status) for c in r.cells]) for r in results}


def test_every_job_comes_back_once_on_a_local_cluster(tmp_path):
    log = tmp_path / "attempts.log"
    jobs = make_jobs(log, 6)
    results = []
    summary = cluster.run(jobs, run_job=sleepy_run_job, cluster=None, workers=2, on_result=results.append,
                          progress=False)
    assert sorted(r.key for r in results) == sorted(j.key for j in jobs)
    for job in jobs:
        (result,) = [r for r in results if r.key == job.key]
        assert result.status is Status.GRADED and result.score == expected_score(job)
        assert result.worker  # the runner says where each job ran
    assert attempts(log) == {job.student: 1 for job in jobs}
    assert summary.jobs == 6 and summary.failed == 0 and summary.statuses[Status.GRADED] == 6
    # The jobs ran in worker processes, not in the coordinator.
    pids = {int(line.split()[3]) for line in log.read_text().splitlines()}
    assert os.getpid() not in pids and len(pids) >= 1


def test_a_job_function_given_by_name_and_a_lazy_job_list(tmp_path):
    log = tmp_path / "attempts.log"
    jobs = make_jobs(log, 3)
    results = []
    summary = cluster.run((job for job in jobs), run_job=f"{__name__}:sleepy_run_job", workers=1,
                          on_result=results.append, progress=True)
    assert sorted(r.key for r in results) == sorted(j.key for j in jobs)
    assert summary.jobs == 3


def test_killing_a_worker_mid_job_reruns_that_job_and_reports_it_once(tmp_path):
    log = tmp_path / "attempts.log"
    jobs = make_jobs(log, 6, sleep=1.5)
    results, killed = [], []

    def kill_a_busy_worker():
        """Kill a worker process while it is in the middle of a job (started, not ended)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            running = {}
            if log.exists():
                for line in log.read_text().splitlines():
                    kind, student, _, pid = line.split()
                    if kind == "start":
                        running[student] = int(pid)
                    else:
                        running.pop(student, None)
            if running:
                student, pid = sorted(running.items())[0]
                os.kill(pid, signal.SIGKILL)
                killed.append(student)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    summary = cluster.run(jobs, run_job=sleepy_run_job, workers=2, on_result=results.append, progress=False)
    killer.join()
    assert killed, "no worker was found in the middle of a job"
    assert sorted(r.key for r in results) == sorted(j.key for j in jobs)  # each job exactly once
    assert all(r.status is Status.GRADED for r in results)
    counts = attempts(log)
    assert counts[killed[0]] == 2  # the interrupted job ran again
    assert summary.failed == 0


def test_a_job_that_kills_every_worker_comes_back_as_an_error(tmp_path):
    log = tmp_path / "attempts.log"
    doomed = make_jobs(log, 3)[1].student
    jobs = make_jobs(log, 3, dying={doomed})
    results = []
    summary = cluster.run(jobs, run_job=sleepy_run_job, workers=2, on_result=results.append, progress=False,
                          allowed_failures=1)
    assert sorted(r.key for r in results) == sorted(j.key for j in jobs)
    by_student = {r.student: r for r in results}
    assert by_student[doomed].status is Status.ERROR
    assert "died" in by_student[doomed].detail
    assert attempts(log)[doomed] == 2  # first run and one retry
    assert [r.status for r in results if r.student != doomed] == [Status.GRADED, Status.GRADED]
    assert summary.failed == 1


def test_a_running_dask_cluster_gives_the_same_results(tmp_path):
    """A scheduler and workers started as separate `dask` processes on 127.0.0.1."""
    # the workers import this module (the job function) and what it imports
    with dask_cluster(tmp_path, workers=2, pythonpath=[HERE, HERE / "services", os.environ.get("PYTHONPATH", "")]) as address:
        assert address.startswith("tcp://127.0.0.1:")
        remote_log, local_log = tmp_path / "remote.log", tmp_path / "local.log"
        remote, local = [], []
        cluster.run(make_jobs(remote_log, 4), run_job=sleepy_run_job, cluster=address, workers=1,
                    on_result=remote.append, progress=False)
        cluster.run(make_jobs(local_log, 4), run_job=sleepy_run_job, cluster=None, workers=2,
                    on_result=local.append, progress=False)
        settings = []
        for address_or_local in (address, None):
            cluster.run(make_jobs(tmp_path / "settings.log", 1), run_job=housekeeping_run_job,
                        cluster=address_or_local, workers=1, on_result=settings.append, progress=False)
    assert len(remote) == 4 and summary_of(remote) == summary_of(local)
    # Dask's housekeeping is slowed down on the workers of both kinds of cluster.
    assert [json.loads(result.detail) for result in settings] == [cluster.HOUSEKEEPING] * 2
    # The remote jobs ran in the dask-worker processes, not in this one.
    assert os.getpid() not in {int(line.split()[3]) for line in remote_log.read_text().splitlines()}


def test_run_on_worker_turns_an_exception_into_an_error_result():
    job = make_jobs(Path("/nonexistent/log"), 1)[0]
    result = cluster.run_on_worker(sleepy_run_job, job)  # the log folder does not exist: it raises
    assert result.status is Status.ERROR and "FileNotFoundError" in result.detail
    assert result.key == job.key


def test_no_jobs_start_no_cluster():
    def never(result):
        raise AssertionError("no job, no result")

    summary = cluster.run(iter(()), run_job=sleepy_run_job, cluster="tcp://127.0.0.1:1", on_result=never)
    assert summary.jobs == 0  # no scheduler listens there: it was never dialled


def test_resolve_reads_module_colon_function():
    assert cluster.resolve("autograder.engine.jobs:Job") is Job
    assert cluster.resolve(sleepy_run_job) is sleepy_run_job
