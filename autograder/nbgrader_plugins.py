"""nbgrader plug-ins that the course's ``nbgrader_config.py`` installs."""
from nbconvert.preprocessors import Preprocessor

REFUSAL = (
    "This course is not graded with plain `nbgrader autograde`: it would run the students' code outside a "
    "sandbox and take grades from the kernel's own outputs, which the student's code controls. Grade with "
    "`python -m autograder grade SUBMISSIONS --out OUT` (see the README, instructors' section); OUT is an "
    "nbgrader course folder in which formgrader, generate_feedback and export work as usual."
)


class RefusePlainAutograde(Preprocessor):
    """The first step of ``nbgrader autograde`` under this course's configuration: stop."""

    enabled = True  # nbconvert skips preprocessors that are not enabled

    def preprocess(self, nb, resources):
        raise RuntimeError(REFUSAL)
