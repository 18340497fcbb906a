"""What crosses the process boundaries of grading, as typed, JSON-serialisable data.

The coordinator (``python -m autograder grade``) turns every (student, sheet) into a
:class:`Job`; a worker — a process of the embedded local cluster or of a Dask cluster on
another machine — runs it (sandboxed kernel, then the separate checker) and returns a
:class:`JobResult`; only the coordinator writes the gradebook.  Both types are plain
data: they travel through Dask's serialisation and are written to and read from JSON.
"""
from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass, field, fields

from autograder.course import Limits


class Status(str, enum.Enum):
    """How a job ended.  Only ``GRADED`` carries checker scores; every other status gives
    0 points to the job's autograded cells and says why in ``detail``."""

    GRADED = "graded"  # the notebook ran (possibly with errors) and the checker scored every test
    MISSING = "missing"  # the student handed in no folder or notebook for this sheet
    REFUSED = "refused"  # the submission breaks a rule (symlink, bad name, too large, ...)
    CORRUPT = "corrupt"  # the notebook or zip cannot be read
    TIMEOUT = "timeout"  # the whole notebook ran past the wall-clock limit
    ERROR = "error"  # the grader itself failed on this job (a bug: the detail says where)


class CellStatus(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    MANUAL = "needs manual grading"
    NOT_GRADED = "not graded"


@dataclass(frozen=True)
class Job:
    """One (student, sheet): everything a worker needs, and nothing it must not see."""

    student: str
    sheet: str
    notebook: str  # the student's notebook, as JSON text (read and size-checked by the coordinator)
    files: dict  # other files of the student's sheet folder: relative path -> base64 of the bytes
    digest: str  # SHA-256 of the submitted sheet folder: with student and sheet, the job's identity
    seed_secret: str  # hex of the course secret from which challenge seeds are derived
    limits: Limits = field(default_factory=Limits)
    source_dir: str = ""  # the sheets' source folder (the worker reads the sheet's source notebook)
    sheets_dir: str = ""  # the instructor folders of the sheets ("" = autograder/sheets)
    notes: tuple = ()  # what the coordinator noticed on intake (a renamed notebook, ...)
    isolation: bool = True  # False only when the instructor asked for --no-isolation

    @property
    def key(self) -> tuple:
        return (self.student, self.sheet, self.digest)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "Job":
        data = json.loads(text)
        data["limits"] = Limits(**data["limits"])
        data["notes"] = tuple(data.get("notes", ()))
        return cls(**data)


@dataclass
class CellResult:
    grade_id: str
    kind: str  # "auto" or "manual"
    score: float
    max_score: float
    status: CellStatus
    message: str = ""  # the checker's message, shown under the test cell in the feedback


@dataclass
class JobResult:
    student: str
    sheet: str
    digest: str
    status: Status
    detail: str = ""
    cells: list = field(default_factory=list)  # [CellResult]
    notes: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)  # phase -> wall-clock seconds
    autograded: str = ""  # the graded notebook (JSON text) for the gradebook's course folder
    feedback: str = ""  # the feedback page (HTML)
    worker: str = ""

    @property
    def key(self) -> tuple:
        return (self.student, self.sheet, self.digest)

    @property
    def score(self) -> float:
        return sum(cell.score for cell in self.cells)

    @property
    def max_score(self) -> float:
        return sum(cell.max_score for cell in self.cells)

    def to_json(self) -> str:
        data = asdict(self)
        data["status"] = self.status.value
        for cell in data["cells"]:
            cell["status"] = CellStatus(cell["status"]).value
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> "JobResult":
        data = json.loads(text)
        data["status"] = Status(data["status"])
        data["cells"] = [CellResult(**{**cell, "status": CellStatus(cell["status"])}) for cell in data["cells"]]
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
