"""The course's constants, stated once (``nbgrader_config.py`` imports them too)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

COURSE_ID = "explaining-nn"
SHEETS = ("sheet1_analytic", "sheet2_cifar", "sheet3_vgg", "sheet4_influence")
ROOT = Path(__file__).resolve().parent.parent

#: What nbgrader writes into a cleared answer cell (the release and the grader agree on it).
CODE_STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
TEXT_STUB = "YOUR ANSWER HERE"

#: Cells with this tag only illustrate (plots, comparisons, timings): the grader does not run
#: them, since no answer and no probe depends on them (tests/test_pipeline.py checks that).
SKIPPED_WHEN_GRADING = "skip-when-grading"

#: Submissions larger than these are refused before anything parses them.
MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_SHEET_FOLDER_BYTES = 50 * 2**20
MAX_ZIP_BYTES = 200 * 2**20
MAX_ZIP_ENTRIES = 2000


@dataclass(frozen=True)
class Limits:
    """Resource limits of one grading job (one student's notebook of one sheet)."""

    cell_timeout: int = 300  # seconds a cell may run before the kernel is interrupted
    timeout: int = 900  # wall-clock seconds for the whole notebook
    memory_gb: float = 8.0  # the job's memory: every process and its /tmp together
    processes: int = 256  # tasks (processes and threads) the job may hold at once
    check_timeout: int = 120  # seconds the checker may spend on one test
