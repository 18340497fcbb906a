"""Probe and check in one process: for the instructor's own notebooks and the mutants.

When the solution notebook runs outside a grading sandbox (``nbgrader validate``, nbval,
an instructor at JupyterLab), its hidden test cells call :func:`probe_and_check`: the
probe runs on the instructor challenge, its answer goes through the very encoding and
strict reading a graded answer goes through, and the sheet's check judges it here.  The
mutant runner uses the same path, so a mutant is killed exactly as a student's wrong
answer would be.
"""
from __future__ import annotations

from autograder import sheets
from autograder.checking import GradingError
from autograder.engine import answers, challenges
from utils import probing


def judge(sheet: str, test: str, objects: dict, *, secret: bytes = challenges.INSTRUCTOR_SECRET,
          student: str = "instructor") -> str | None:
    """None when the check accepts the answer, else the message the student would read."""
    parts = sheets.load(sheet)
    challenge = challenges.draw(parts.challenges, test, challenges.seed(secret, student, sheet, test))
    given = {name: value.copy() for name, value in challenge.items()}  # the probe may not alter the checker's copy
    manifest, arrays = probing.run_probe(getattr(parts.probes(), test), given, objects)
    manifest_bytes, arrays_bytes = probing.pack(manifest, arrays)
    try:
        answer = answers.read(manifest_bytes, arrays_bytes)
        if answer.error is not None:
            raise GradingError(answer.error)
        getattr(parts.checks, test)(challenge, answer)
    except GradingError as failure:
        return str(failure)
    return None


def probe_and_check(sheet: str, test: str, objects: dict) -> None:
    """Raise ``AssertionError`` with the check's message when the answer is wrong."""
    message = judge(sheet, test, objects)
    if message is not None:
        raise AssertionError(message)
