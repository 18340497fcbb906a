"""Notebook surgery of the grading engine (trusted side; nothing here executes a cell).

* :class:`SheetPlan` — what grading a sheet needs, derived once from its source
  notebook: the release (solutions and hidden tests cleared, as nbgrader releases it),
  the autograded test cells with their points and probe code, the hand-graded cells.
* :func:`repair` — a copy of a student's notebook that can always be run: the cells the
  release locks (instructions, tests) come from the release whatever the student did to
  them, answer cells keep the student's source, missing cells are put back.
* :func:`with_probes` — the repaired notebook with each test cell's hidden probe call.
* :func:`graded_notebook` — the notebook kept for the gradebook and the feedback: the
  student's cells and outputs, each test cell as the student sees it (never its hidden
  code) followed by the checker's verdict.

Cell predicates are nbgrader's own (``nbgrader.utils.is_grade`` and friends).
"""
from __future__ import annotations

import copy
import json
import re
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

# jsonschema (imported by nbformat) loads rfc3987_syntax when it is installed, which
# compiles a grammar for seconds of CPU; notebooks never need its IRI checks.
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat  # noqa: E402
from nbgrader import utils as nbgrader_utils  # noqa: E402

from autograder.course import CODE_STUB, SKIPPED_WHEN_GRADING, TEXT_STUB  # noqa: E402

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
_HIDDEN = re.compile(re.escape(HIDDEN_BEGIN) + r".*?" + re.escape(HIDDEN_END) + r"\n?", re.S)


def grade_id(cell) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def is_autograded_test(cell) -> bool:
    return cell.get("cell_type") == "code" and nbgrader_utils.is_grade(cell) and not nbgrader_utils.is_solution(cell)


def is_manual(cell) -> bool:
    return nbgrader_utils.is_grade(cell) and nbgrader_utils.is_solution(cell)


def visible_source(source: str) -> str:
    """A test cell as the release shows it: the hidden region removed."""
    return _HIDDEN.sub("", source).rstrip() + "\n" if HIDDEN_BEGIN in source else source


@dataclass
class SheetPlan:
    name: str
    source: object  # the source notebook (nbformat node): solutions and probes
    release: object  # the student version
    tests: list = field(default_factory=list)  # [(grade_id, points)] autograded, in notebook order
    manual: list = field(default_factory=list)  # [(grade_id, points)] graded by hand
    probe_sources: dict = field(default_factory=dict)  # grade_id -> the test cell's full source


@lru_cache(maxsize=16)
def plan(source_dir: str, sheet: str) -> SheetPlan:
    """The plan of ``sheet`` from ``source_dir/<sheet>/<sheet>.ipynb`` (cached per process)."""
    source = nbformat.read(Path(source_dir) / sheet / f"{sheet}.ipynb", as_version=4)
    sheet_plan = SheetPlan(sheet, source, release_of(source))
    for cell in source.cells:
        if is_autograded_test(cell):
            sheet_plan.tests.append((grade_id(cell), float(cell.metadata.nbgrader.get("points", 0))))
            sheet_plan.probe_sources[grade_id(cell)] = cell.source
        elif is_manual(cell):
            sheet_plan.manual.append((grade_id(cell), float(cell.metadata.nbgrader.get("points", 0))))
    return sheet_plan


def release_of(source):
    """The student version of a source notebook, with nbgrader's own preprocessors."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearOutput, ClearSolutions
    from traitlets.config import Config

    config = Config()
    config.ClearSolutions.code_stub = {"python": CODE_STUB}
    config.ClearSolutions.text_stub = TEXT_STUB
    release = copy.deepcopy(source)
    resources = {"language": "python"}
    for step in (ClearSolutions(config=config), ClearHiddenTests(config=config), ClearOutput(config=config)):
        release, resources = step.preprocess(release, resources)
    return release


# ----------------------------------------------------------------------------- repair
def repair(student_nb, release_nb):
    """(notebook, notes): a copy of the student's notebook that can always be run."""
    released, order = {}, []
    for cell in release_nb.cells:
        if grade_id(cell):
            released[grade_id(cell)] = cell
            order.append(grade_id(cell))
    notes, cells, seen = [], [], set()
    for cell in student_nb.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        identifier = grade_id(cell)
        if identifier in released:
            reference = released[identifier]
            locked = nbgrader_utils.is_locked(reference) and not nbgrader_utils.is_solution(reference)
            if identifier in seen:
                if locked:
                    notes.append(f"duplicate of {identifier} removed")
                    continue
                notes.append(f"duplicate of {identifier} kept as an ordinary cell")
                cells.append(_plain(cell))
                continue
            seen.add(identifier)
            fixed = copy.deepcopy(reference)
            if locked:
                if _differs(cell, reference):
                    notes.append(f"{identifier} restored from the release")
            else:
                fixed.source = _text(cell.get("source", ""))
            cells.append(fixed)
        else:
            if isinstance(cell.get("metadata"), dict) and "nbgrader" in cell["metadata"]:
                notes.append(f"unknown grade_id {str(identifier)[:40]!r}: graded as an ordinary cell")
            cells.append(_plain(cell))
    for index, identifier in enumerate(order):
        if identifier in seen:
            continue
        notes.append(f"{identifier} was missing and was put back")
        previous = [g for g in order[:index] if g in seen]
        position = 0
        if previous:
            position = next(i for i, c in enumerate(cells) if grade_id(c) == previous[-1]) + 1
        cells.insert(position, copy.deepcopy(released[identifier]))
        seen.add(identifier)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = copy.deepcopy(release_nb.metadata)
    for index, cell in enumerate(cells):
        cell["id"] = f"cell-{index}"
        if cell.cell_type == "code":
            cell["outputs"], cell["execution_count"] = [], None
    notebook.cells = cells
    return notebook, notes


def _text(source) -> str:
    if isinstance(source, list):
        return "".join(str(part) for part in source)
    return source if isinstance(source, str) else ""


def _plain(cell):
    kind, source = cell.get("cell_type"), _text(cell.get("source", ""))
    if kind == "code":
        return nbformat.v4.new_code_cell(source)
    if kind == "markdown":
        return nbformat.v4.new_markdown_cell(source)
    return nbformat.v4.new_raw_cell(source)


def _differs(cell, reference) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    reference_meta = reference.metadata["nbgrader"]
    return (cell.get("cell_type") != reference.cell_type or _text(cell.get("source", "")).strip() != reference.source.strip()
            or not isinstance(meta, dict) or meta.get("points") != reference_meta.get("points"))


def with_probes(repaired, sheet_plan: SheetPlan):
    """The notebook the sandbox runs: every autograded test cell with its probe call, and
    the release's illustration cells (tagged ``SKIPPED_WHEN_GRADING``) marked to be
    skipped — only where the student left such a cell exactly as released; the student's
    own tags count for nothing."""
    notebook = copy.deepcopy(repaired)
    illustrations = {cell.source.strip() for cell in sheet_plan.release.cells
                     if cell.cell_type == "code" and SKIPPED_WHEN_GRADING in cell.metadata.get("tags", [])}
    for cell in notebook.cells:
        if is_autograded_test(cell) and grade_id(cell) in sheet_plan.probe_sources:
            cell.source = sheet_plan.probe_sources[grade_id(cell)]
        tags = [tag for tag in cell.metadata.get("tags", []) if tag != SKIPPED_WHEN_GRADING]
        if cell.cell_type == "code" and cell.source.strip() in illustrations:
            tags.append(SKIPPED_WHEN_GRADING)
        cell.metadata["tags"] = tags
    return notebook


# ----------------------------------------------------------------------------- results
def read_executed(data: bytes | None):
    """The executed notebook the sandbox wrote, or None when it is unusable (it is the
    student's process's output: parsed strictly, never trusted for a grade)."""
    if not data:
        return None
    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
        nbformat.validate(notebook)
        return notebook
    except Exception:  # noqa: BLE001 - any defect makes it unusable
        return None


def graded_notebook(repaired, executed, verdicts: dict):
    """The repaired notebook with the kernel's outputs (matched by cell id), each test
    cell shown as released plus the checker's verdict, and nbgrader's score metadata."""
    outputs = {}
    if executed is not None:
        outputs = {cell.get("id"): cell for cell in executed.cells if cell.get("cell_type") == "code"}
    notebook = copy.deepcopy(repaired)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        ran = outputs.get(cell.get("id"))
        if ran is not None:
            cell.outputs = copy.deepcopy(ran.get("outputs", []))
            cell.execution_count = ran.get("execution_count")
        identifier = grade_id(cell)
        if is_autograded_test(cell):
            cell.source = visible_source(cell.source)
            verdict = verdicts.get(identifier, {"passed": False, "message": "not graded"})
            cell.outputs = _visible_outputs(cell.outputs) + [_verdict_output(verdict)]
    try:
        nbformat.validate(notebook)
    except nbformat.ValidationError:  # outputs of a hostile kernel: keep the cells, drop the outputs
        for cell in notebook.cells:
            if cell.cell_type == "code" and not is_autograded_test(cell):
                cell.outputs = []
    return notebook


def _visible_outputs(outputs: list) -> list:
    """What the visible part of a test cell printed or raised; a traceback is cut to its
    last line, since IPython quotes the lines around the error — the probe call among them."""
    kept = []
    for output in outputs:
        if output.get("output_type") == "stream":
            kept.append(output)
        elif output.get("output_type") == "error":
            name, value = str(output.get("ename", "Error")), str(output.get("evalue", ""))
            kept.append(nbformat.v4.new_output("error", ename=name, evalue=value, traceback=[f"{name}: {value}"]))
    return kept


def _verdict_output(verdict: dict):
    if verdict["passed"]:
        return nbformat.v4.new_output("stream", name="stdout", text="Test passed.\n")
    return nbformat.v4.new_output("error", ename="TestFailed", evalue=verdict["message"],
                                  traceback=[f"TestFailed: {verdict['message']}"])


def to_json(notebook) -> str:
    return json.dumps(notebook, ensure_ascii=False)
