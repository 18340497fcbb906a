"""Runs grading jobs on Dask: the one runner of ``python -m autograder grade``.

Every :class:`~autograder.engine.jobs.Job` is sent as data, together with a reference to an
importable top-level function (by default :func:`autograder.engine.worker.run_job`), to a
worker process; the :class:`~autograder.engine.jobs.JobResult` comes back to the
coordinator, which hands each one to ``on_result`` as soon as it arrives.

Where the jobs run:

* ``cluster="tcp://HOST:8786"``: the workers of a Dask cluster that is already running
  (``dask scheduler`` on one machine, ``dask worker tcp://HOST:8786 --nthreads 1`` on each
  grading machine; every worker needs the course's environment and checkout).
* ``cluster=None``: an embedded :class:`distributed.LocalCluster` with ``workers`` worker
  processes of one thread each.  Each worker process is watched by a nanny that starts a
  new one when it dies, exactly as on a real cluster, so both cases share one code path.

A worker that dies in the middle of a job (killed, out of memory, machine lost) costs
nothing but time: the scheduler runs the job again on another worker, up to
``allowed_failures`` times; after that the job comes back as a ``Status.ERROR`` result that
says so.  ``on_result`` is called exactly once per job, in the coordinator's own thread,
whatever happened to the job.

Only a bounded number of jobs is in flight at once (twice the cluster's threads), so a
class of a thousand students never sits in the scheduler's memory at once, and ``jobs``
may be a lazy iterable: the coordinator can claim each job in the shared gradebook just
before it is sent (see :meth:`autograder.engine.gradebook.CourseRecords.claimed`).
"""
from __future__ import annotations

import collections
import importlib
import itertools
import socket
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable

from autograder.engine.jobs import Job, JobResult, Status

#: How often a job may lose its worker before it is given up (Dask's ``allowed-failures``).
ALLOWED_FAILURES = 3
#: Statuses that mean the grading itself did not finish (counted as "failed" in the bar).
FAILED = (Status.ERROR, Status.TIMEOUT)
DEFAULT_RUN_JOB = "autograder.engine.worker:run_job"
#: Dask's housekeeping, scaled to jobs that take seconds rather than milliseconds.  With
#: Dask's defaults an idle local cluster of two workers used 0.16 of a core (7 % of this
#: two-core machine, taken from the sandboxes whenever every core grades); with these, 0.02.
#: The settings reach the local cluster's workers; workers of a running cluster read the
#: same names from their environment (docs/capacity.md).
HOUSEKEEPING = {
    "distributed.admin.tick.interval": "1s",  # event-loop watchdog (20 ms): it warns of a loop blocked for seconds
    "distributed.admin.system-monitor.interval": "5s",  # psutil samples for the dashboard (500 ms), which is off
    "distributed.worker.profile.enabled": False,  # a sampling profiler of every task, every 10 ms
}


@dataclass
class RunSummary:
    """What :func:`run` reports once every job is back (the caller prints the table)."""

    jobs: int = 0
    statuses: collections.Counter = field(default_factory=collections.Counter)  # Status -> count
    failed: int = 0
    seconds: float = 0.0
    workers: int = 0  # worker threads the cluster had when the run ended


def housekeeping_environment() -> dict:
    """:data:`HOUSEKEEPING` as the environment variables Dask reads at start-up, for the
    ``dask scheduler`` and ``dask worker`` processes of a running cluster."""
    return {"DASK_" + name.upper().replace(".", "__").replace("-", "_"): str(value)
            for name, value in HOUSEKEEPING.items()}


def main(argv=None) -> int:
    """``python -m autograder dask-env``: shell lines that export :data:`HOUSEKEEPING`;
    ``eval "$(python -m autograder dask-env)"`` before starting Dask's scheduler and workers."""
    if argv:
        raise SystemExit("usage: python -m autograder dask-env")
    for name, value in housekeeping_environment().items():
        print(f"export {name}={value}")
    return 0


def resolve(run_job) -> Callable[[Job], JobResult]:
    """The job function itself, from a callable or from ``"module:function"``."""
    if callable(run_job):
        return run_job
    module, _, name = str(run_job).partition(":")
    return getattr(importlib.import_module(module), name)


def run_on_worker(run_job: Callable[[Job], JobResult], job: Job) -> JobResult:
    """Runs one job in a worker process and labels its result with the worker.

    ``run_job`` is meant never to raise; should it raise all the same, the job still comes
    back as an ``ERROR`` result rather than as a task failure that Dask would retry."""
    try:
        result = run_job(job)
    except Exception as error:  # noqa: BLE001 - reported as the job's status
        result = failure(job, f"the grading function raised {type(error).__name__}: {error}\n"
                              + traceback.format_exc(limit=-3))
    if not result.worker:
        result.worker = _worker_name()
    return result


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return f"{socket.gethostname()} {get_worker().address}"
    except ValueError:  # not inside a Dask worker (a direct call)
        return socket.gethostname()


def failure(job: Job, detail: str) -> JobResult:
    """An ``ERROR`` result for a job whose worker never gave one back."""
    return JobResult(student=job.student, sheet=job.sheet, digest=job.digest, status=Status.ERROR,
                     detail=detail, notes=list(job.notes))


def run(jobs: Iterable[Job], *, run_job=DEFAULT_RUN_JOB, cluster: str | None = None, workers: int = 1,
        on_result: Callable[[JobResult], None], progress: bool = True, total: int | None = None,
        allowed_failures: int = ALLOWED_FAILURES) -> RunSummary:
    """Run every job on Dask and call ``on_result`` once per job, in this thread.

    ``run_job``: an importable top-level function (or ``"module:function"``) taking a
    :class:`Job` and returning a :class:`JobResult`.  ``cluster``: the address of a running
    Dask scheduler, or None for an embedded local cluster of ``workers`` processes.
    ``total``: the number of jobs when ``jobs`` has no length (for the progress bar).

    The progress bar (on stderr, unless ``progress`` is False) counts the jobs done, the
    jobs failed (``ERROR`` or ``TIMEOUT``: grading did not finish) and the jobs left, with
    an estimate of the time left; the caller prints the summary table."""
    import dask
    from distributed import Client, LocalCluster

    function = resolve(run_job)
    if total is None and hasattr(jobs, "__len__"):
        total = len(jobs)
    started = time.monotonic()
    summary = RunSummary()
    pending = iter(jobs)
    first = next(pending, None)
    if first is None:  # nothing to grade (a rerun after a finished run): no cluster to start
        return summary
    pending = itertools.chain([first], pending)
    local = None
    with dask.config.set({**HOUSEKEEPING, "distributed.scheduler.allowed-failures": allowed_failures}):
        if cluster:
            client = Client(cluster, timeout="60s")
        else:
            # memory_limit=0: each job's sandbox bounds its own memory; the worker process
            # holds one job at a time, and a nanny limit would kill it for its kernel's use.
            # No dashboard; the scheduler's small HTTP server (health checks) on any free port
            # of the loopback, rather than on 8787, which another program may hold.
            local = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                                 dashboard_address=None, host="127.0.0.1", memory_limit=0,
                                 scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
            client = Client(local)
    try:
        _run(client, pending, function, on_result, progress, total, summary, allowed_failures)
        summary.workers = sum(client.nthreads().values())
    finally:
        client.close()
        if local is not None:
            local.close()
    summary.seconds = time.monotonic() - started
    return summary


def _run(client, jobs, function, on_result, progress, total, summary, allowed_failures):
    from distributed import as_completed
    from tqdm.auto import tqdm

    run_token = uuid.uuid4().hex[:8]  # two coordinators on one cluster never share a task key
    in_flight = {}
    completed = as_completed()
    exhausted = False
    submitted = 0

    def fill():
        nonlocal exhausted, submitted
        window = max(2, 2 * sum(client.nthreads().values()))
        while not exhausted and len(in_flight) < window:
            job = next(jobs, None)
            if job is None:
                exhausted = True
                if bar.total != submitted:
                    bar.total = submitted
                    bar.refresh()
                return
            submitted += 1
            key = f"grade-{job.student}-{job.sheet}-{run_token}-{submitted}"
            future = client.submit(run_on_worker, function, job, key=key, pure=False)
            in_flight[future.key] = (job, future)
            completed.add(future)

    with tqdm(total=total, unit="job", desc="grading", disable=not progress, dynamic_ncols=True,
              bar_format="{desc}: {n_fmt}/{total_fmt} |{bar}| {postfix} [{elapsed}<{remaining}]") as bar:
        bar.set_postfix_str(f"done 0, failed 0, left {total if total is not None else '?'}")
        fill()
        try:
            for future in completed:
                job, _ = in_flight.pop(future.key)
                result = _result_of(future, job, allowed_failures)
                future.release()
                summary.jobs += 1
                summary.statuses[result.status] += 1
                if result.status in FAILED:
                    summary.failed += 1
                on_result(result)
                fill()
                left = (bar.total - summary.jobs) if bar.total is not None else "?"
                bar.set_postfix_str(f"done {summary.jobs - summary.failed}, failed {summary.failed}, left {left}",
                                    refresh=False)
                bar.update(1)
        finally:
            for _, future in in_flight.values():  # interrupted: take back what was not finished
                future.cancel()


def _result_of(future, job: Job, allowed_failures: int) -> JobResult:
    from distributed import KilledWorker

    try:
        result = future.result()
    except KilledWorker:
        return failure(job, f"the worker process died each time it ran this job ({allowed_failures + 1} tries "
                            "on a local cluster; killed or out of memory): it was not graded")
    except Exception as error:  # noqa: BLE001 - the scheduler lost the task, or it could not be sent
        return failure(job, f"the cluster could not run this job: {type(error).__name__}: {error}")
    if not isinstance(result, JobResult) or result.key != job.key:
        return failure(job, f"the grading function returned {type(result).__name__} for another job")
    return result
