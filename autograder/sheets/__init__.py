"""One folder per sheet: everything the instructor side knows about that sheet.

``autograder/sheets/<sheet>/`` holds

* ``reference.py`` — the reference solution of every task (slow and plain on purpose);
* ``challenges.py`` — one function per autograded test cell, ``test_x(rng) -> dict`` of
  named NumPy arrays: the inputs the student's code is run on;
* ``probes.py`` — one function per test, ``test_x(challenge, **student_objects) -> dict``:
  calls the student's objects on the challenge and returns what they gave back.  It is
  the only file of the folder that a grading kernel sees, so it imports nothing but
  numpy, torch, sympy and ``utils``, and holds no reference and no expected value;
* ``checks.py`` — one function per test, ``test_x(challenge, answer)``: compares the
  answer (plain data, :class:`autograder.engine.answers.Answer`) with the reference and
  raises :class:`autograder.checking.GradingError` with a message for the student;
* ``mutants.py`` — plausible wrong answers that every check must reject;
* anything else the sheet needs on the instructor side (sheet 2's ``train.py``).

:func:`load` finds a sheet's parts; a course maintainer's test sheet outside this package
(the grading corpus's toy sheet) is found through ``COURSE_SHEETS_DIR``.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
SHEETS_DIR_VARIABLE = "COURSE_SHEETS_DIR"


@dataclass(frozen=True)
class SheetParts:
    name: str
    folder: Path
    challenges: ModuleType
    checks: ModuleType

    @property
    def probes_file(self) -> Path:
        return self.folder / "probes.py"

    def probes(self) -> ModuleType:
        return _module(self.name, self.folder, "probes")

    def tests(self) -> list:
        """The autograded tests, in the order the checks module defines them."""
        return [name for name in vars(self.checks) if name.startswith("test_") and callable(getattr(self.checks, name))]


def folder_of(sheet: str, sheets_dir: str | os.PathLike | None = None) -> Path:
    for base in [sheets_dir, os.environ.get(SHEETS_DIR_VARIABLE), HERE]:
        if base and (Path(base) / sheet / "checks.py").is_file():
            return Path(base).resolve() / sheet
    raise LookupError(f"no instructor folder with checks.py for sheet {sheet!r}")


def load(sheet: str, sheets_dir: str | os.PathLike | None = None) -> SheetParts:
    folder = folder_of(sheet, sheets_dir)
    return SheetParts(sheet, folder, _module(sheet, folder, "challenges"), _module(sheet, folder, "checks"))


def _module(sheet: str, folder: Path, part: str) -> ModuleType:
    if folder.parent == HERE:
        return importlib.import_module(f"autograder.sheets.{sheet}.{part}")
    name = f"_course_sheet_{sheet}.{part}"
    if name in sys.modules:
        return sys.modules[name]
    package = f"_course_sheet_{sheet}"
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(package, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[package] = module
        if (folder / "__init__.py").exists():
            spec.loader.exec_module(module)
    return importlib.import_module(name)
