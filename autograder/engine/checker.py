"""The checker process: scores a job's answers, and never runs student code.

    python -m autograder.engine.checker      # requests on stdin, verdicts on stdout

A worker keeps one checker process and sends it one JSON line per job: the sheet, the
student, the course secret, and for every test the bytes of the two answer files the
probe wrote (read by the worker after the sandbox ended; ``null`` when missing).  The
checker draws each test's challenge again from its seed — it never reads a challenge
back from the job folder, which the kernel could write — parses the answer with the
strict reader of :mod:`autograder.engine.answers`, runs the sheet's check on it, and
answers one JSON line: ``{"verdicts": {test: {"passed": bool, "message": str}}}``.

Each check runs under a time budget (``SIGALRM``); a check that runs out of it fails
with a message rather than holding up the job.  Output of the checks themselves goes to
stderr, so stdout carries the protocol only.
"""
from __future__ import annotations

import base64
import json
import signal
import sys
import traceback

from autograder import sheets
from autograder.checking import GradingError
from autograder.engine import answers, challenges


class CheckTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise CheckTimeout()


def _bytes(text):
    return None if text is None else base64.b64decode(text, validate=True)


def judge(parts, test: str, seed: int, files: dict, budget: int) -> dict:
    """The verdict of one test: ``{"passed": bool, "message": str}``."""
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(budget)
    try:
        challenge = challenges.draw(parts.challenges, test, seed)
        answer = answers.read(_bytes(files.get("manifest")), _bytes(files.get("arrays")))
        if answer.error is not None:
            raise GradingError(answer.error)
        getattr(parts.checks, test)(challenge, answer)
        return {"passed": True, "message": "passed"}
    except GradingError as failure:
        return {"passed": False, "message": str(failure)[:4000]}
    except CheckTimeout:
        return {"passed": False, "message": f"the check could not decide within {budget} s: "
                                            "simplify the answer (or make it faster) and try again"}
    except Exception:  # noqa: BLE001 - a crash of a check is the grader's fault: say so, score 0
        print(traceback.format_exc(), file=sys.stderr)
        return {"passed": False, "message": "the grader's check failed on this answer (an error in the grader, "
                                            "not in your code): ask the course staff to look at it"}
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def handle(request: dict) -> dict:
    parts = sheets.load(request["sheet"], request.get("sheets_dir") or None)
    secret = bytes.fromhex(request["secret"])
    verdicts = {}
    for test in request["tests"]:
        seed = challenges.seed(secret, request["student"], request["sheet"], test)
        verdicts[test] = judge(parts, test, seed, request["answers"].get(test, {}), int(request["check_timeout"]))
    return {"verdicts": verdicts}


def main():
    protocol = sys.stdout
    sys.stdout = sys.stderr  # anything a check prints stays off the protocol stream
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = handle(json.loads(line))
        except Exception as error:  # noqa: BLE001 - a malformed request is answered, not fatal
            reply = {"error": f"{type(error).__name__}: {error}"}
        protocol.write(json.dumps(reply) + "\n")
        protocol.flush()


if __name__ == "__main__":
    main()
