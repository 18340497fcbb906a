"""Plain ``nbgrader autograde`` under the course's configuration refuses to grade.

It would run the students' code outside a sandbox and take the grade from the kernel's
own outputs; the course's ``nbgrader_config.py`` stops it at its first step with a
message naming the command to use.  The attack: a submission whose test would pass only
because the student's notebook says so, graded by plain nbgrader.
"""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.nbgrader_plugins import REFUSAL

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _nbgrader(course: Path, *arguments):
    environment = dict(os.environ, PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ["PATH"])
    return subprocess.run([sys.executable, "-m", "nbgrader", *arguments], cwd=course, env=environment,
                          capture_output=True, text=True, timeout=600)


def test_plain_nbgrader_autograde_refuses_with_the_command_to_use(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "toy").mkdir(parents=True)
    (course / "grading").mkdir()
    shutil.copyfile(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    answer = {"grade": False, "grade_id": "f", "locked": False, "schema_version": 3, "solution": True, "task": False}
    test = {"grade": True, "grade_id": "test_f", "locked": True, "points": 1, "schema_version": 3,
            "solution": False, "task": False}
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION",
                                  metadata={"nbgrader": answer}),
        nbformat.v4.new_code_cell("assert f() == 1", metadata={"nbgrader": test}),
    ])
    nbformat.write(notebook, course / "source" / "toy" / "toy.ipynb")
    assert _nbgrader(course, "generate_assignment", "toy", "--force").returncode == 0
    submitted = course / "grading" / "submitted" / "alice" / "toy"
    submitted.mkdir(parents=True)
    released = nbformat.read(course / "assignments" / "toy" / "toy.ipynb", as_version=4)
    released.cells[0].source = "import builtins\nbuiltins.AssertionError = type('Never', (Exception,), {})\ndef f():\n    return 2"
    nbformat.write(released, submitted / "toy.ipynb")

    run = _nbgrader(course, "autograde", "toy", "--create")

    assert run.returncode != 0
    assert REFUSAL[:60] in run.stdout + run.stderr
    assert not (course / "grading" / "autograded" / "alice" / "toy" / "toy.ipynb").exists()
