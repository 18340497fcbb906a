"""Instructor-side code of the course: the sheets' references and checks, the grading
engine, the release builder and the demo.  It never ships to students, and a grading
sandbox can neither import nor read it.

    python -m autograder release [--check]   # source/ -> assignments/, solutions/, dist/
    python -m autograder grade SUBMISSIONS    # sandboxed execution, separate checker, gradebook
    python -m autograder demo                 # sample submissions, graded, score table
    python -m autograder sample [ROOT]        # cut the CIFAR-10 sample from a full copy
"""
from autograder.course import SHEETS  # noqa: F401 - the sheets, in order
