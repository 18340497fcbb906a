"""Sample submissions made from a sheet's release: what a student would hand in.

- :func:`reference` fills every answer cell of the student version with the source's
  solution (the solution markers removed): it must score full marks;
- :func:`blank` is the student version untouched: it must score 0;
- :func:`partly_wrong` is the reference with some answers replaced by the plausible
  mistakes listed in ``autograder.mutants.<sheet>.PARTLY_WRONG``.
"""
import copy
import importlib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _notebook(folder: str, sheet: str, root: Path = ROOT):
    return nbformat.read(root / folder / sheet / f"{sheet}.ipynb", as_version=4)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _is_answer(cell):
    return bool(cell.metadata.get("nbgrader", {}).get("solution"))


def strip_solution_markers(source: str) -> str:
    """The solution code as a student would write it: marker lines removed."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in SOLUTION_MARKERS)


def blank(sheet: str, root: Path = ROOT):
    """The student version as released."""
    return _notebook("assignments", sheet, root)


def reference(sheet: str, root: Path = ROOT):
    """The student version with every answer cell filled in from the source notebook."""
    answers = {_grade_id(c): c.source for c in _notebook("source", sheet, root).cells if _is_answer(c)}
    notebook = copy.deepcopy(blank(sheet, root))
    for cell in notebook.cells:
        if _is_answer(cell) and _grade_id(cell) in answers:
            cell.source = strip_solution_markers(answers[_grade_id(cell)])
    return notebook


def partly_wrong(sheet: str, root: Path = ROOT):
    """The reference with the answers named in the sheet's ``PARTLY_WRONG`` replaced."""
    wrong = importlib.import_module(f"autograder.sheets.{sheet}.mutants").PARTLY_WRONG
    notebook = reference(sheet, root)
    replaced = set()
    for cell in notebook.cells:
        if _grade_id(cell) in wrong:
            cell.source = wrong[_grade_id(cell)]
            replaced.add(_grade_id(cell))
    missing = set(wrong) - replaced
    if missing:
        raise KeyError(f"PARTLY_WRONG of {sheet} names answer cells that do not exist: {sorted(missing)}")
    return notebook


KINDS = {"reference": reference, "blank": blank, "partly_wrong": partly_wrong}


def write(kind: str, sheet: str, folder: Path, root: Path = ROOT) -> Path:
    """Write the submission of ``kind`` in nbgrader's layout ``folder/<kind>/<sheet>/<sheet>.ipynb``."""
    target = Path(folder) / kind / sheet / f"{sheet}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(KINDS[kind](sheet, root), target)
    return target
