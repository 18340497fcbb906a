"""How long the notebooks may take.

Training loops, VGG passes and optimisations shrink in *fast mode*, which is on when
nbgrader executes a notebook (it sets ``NBGRADER_EXECUTION``) or when the environment
variable ``COURSE_FAST_MODE`` is ``1``.  Results computed in fast mode are only used to
show that the code runs; the graded checks never depend on them.
"""
import os


def fast_mode() -> bool:
    """True while nbgrader validates or autogrades, or when ``COURSE_FAST_MODE=1``."""
    if os.environ.get("NBGRADER_EXECUTION"):
        return True
    return os.environ.get("COURSE_FAST_MODE", "0") not in ("", "0", "false", "False")


def pick(full, fast):
    """Return ``fast`` in fast mode and ``full`` otherwise (iteration counts, image counts)."""
    return fast if fast_mode() else full
