"""nbgrader configuration of the course.

source/ releases into assignments/ (student versions) and solutions/ (reference
solutions); everything produced while grading (submissions, autograded copies, feedback,
the gradebook) lives in the git-ignored folder grading/.
"""
import os

from autograder.course import CODE_STUB, COURSE_ID, Limits, TEXT_STUB
from autograder.nbgrader_plugins import RefusePlainAutograde

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "assignments"
c.CourseDirectory.solution_directory = "solutions"
c.CourseDirectory.submitted_directory = "grading/submitted"
c.CourseDirectory.autograded_directory = "grading/autograded"
c.CourseDirectory.feedback_directory = "grading/feedback"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "grading", "gradebook.db")
# *.nb.py are the jupytext sources the notebooks are generated from: they hold solutions.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "*.nb.py"]

c.ClearSolutions.code_stub = {"python": CODE_STUB}
c.ClearSolutions.text_stub = TEXT_STUB
c.ExecutePreprocessor.timeout = Limits.cell_timeout
c.Execute.timeout = Limits.cell_timeout

# Grades come from `python -m autograder grade` (sandboxed kernel, separate checker):
# plain `nbgrader autograde` stops at its first step with a message saying so.
c.Autograde.sanitize_preprocessors = [RefusePlainAutograde]

# Reference solutions are committed without outputs: running them is the nbval test's
# job, and outputs (timings, progress bars) would make the generated files drift.
from nbgrader.preprocessors import ClearMarkScheme, ClearOutput, IncludeHeaderFooter, LockCells  # noqa: E402

c.GenerateSolution.preprocessors = [IncludeHeaderFooter, LockCells, ClearOutput, ClearMarkScheme]
