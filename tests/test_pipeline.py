"""The nbgrader pipeline from source/ to grades, on every sheet.

- the committed source notebooks, assignments/ and solutions/ are what source/ generates;
- every source notebook (the reference solution with its hidden tests) validates;
- every test cell fails on the blank release (``nbgrader validate --invert``);
- nothing of the hidden tests or the solutions reaches assignments/ or the student bundle;
- everything else of the source reaches assignments/: every line outside the solution,
  hidden-test and mark-scheme regions and outside whole solution cells, and the question
  of every answer graded by hand (asked in a cell of its own, or outside the solution
  region of the answer cell);
- graded with ``python -m autograder grade``, the reference scores full marks, the blank
  release 0 and the partly wrong submission something in between.
"""
import copy
import csv
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import jupytext
import nbformat
import pytest

from autograder import SHEETS, release, submissions

ROOT = Path(__file__).resolve().parent.parent
FAST = dict(os.environ, COURSE_FAST_MODE="1", PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def nbgrader(*args):
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=ROOT, env=FAST, capture_output=True, text=True)


def test_every_sheet_has_a_source():
    assert release.sheets_in(ROOT) == list(SHEETS)


def test_generated_files_do_not_drift_from_source():
    problems = release.drift(ROOT)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("sheet", SHEETS)
def test_reference_solution_validates(sheet):
    result = nbgrader("validate", f"source/{sheet}/{sheet}.ipynb")
    assert result.returncode == 0 and "Success!" in result.stdout, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sheet", SHEETS)
def test_blank_release_fails_every_test(sheet):
    result = nbgrader("validate", "--invert", f"assignments/{sheet}/{sheet}.ipynb")
    assert result.returncode == 0 and "Success!" in result.stdout, result.stdout + result.stderr


def _regions(text, begin, end):
    """(inside, outside): the lines between ``begin``/``end`` markers and the other lines."""
    inside, outside, within = [], [], False
    for line in text.splitlines():
        if line.strip() == begin:
            within = True
        elif line.strip() == end:
            within = False
        else:
            (inside if within else outside).append(line.strip())
    return inside, outside


def _secret_lines(sheet):
    """Distinctive lines of a sheet's reference answers and hidden tests that occur nowhere
    in the code students are given (the rest of the notebook and utils/)."""
    source = nbformat.read(ROOT / "source" / sheet / f"{sheet}.ipynb", as_version=4)
    secret, public = set(), set()
    for cell in source.cells:
        solution, rest = _regions(cell.source, "### BEGIN SOLUTION", "### END SOLUTION")
        hidden, rest = _regions("\n".join(rest), "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
        secret |= set(solution) | set(hidden)
        public |= set(rest)
    for module in (ROOT / "utils").rglob("*.py"):
        public |= {line.strip() for line in module.read_text().splitlines()}
    # Short lines ("return R", "else:") are too common to tell anything.
    return {line for line in secret - public if len(line) >= 25 and not line.startswith("#")}


@pytest.mark.parametrize("sheet", SHEETS)
def test_release_holds_no_solution_and_no_hidden_test(sheet):
    released = (ROOT / "assignments" / sheet / f"{sheet}.ipynb").read_text()
    for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "from autograder", "import autograder"):
        assert marker not in released
    notebook = nbformat.read(ROOT / "assignments" / sheet / f"{sheet}.ipynb", as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells)
    leaked = [line for line in _secret_lines(sheet) if line in code]
    assert not leaked, f"solution or hidden-test lines in the release: {leaked[:5]}"


def test_student_bundle_holds_only_what_students_get():
    bundle = release.pack_bundle(ROOT)
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        text = {n: archive.read(n).decode("utf-8", "replace") for n in names if n.endswith((".ipynb", ".py", ".md"))}
    top = {name.split("/")[1] for name in names}
    assert top == {"README.md", "assignments", "utils", "environment.yml", "requirements.txt", "pyproject.toml"}
    assert all(f"explaining-nn/assignments/{sheet}/{sheet}.ipynb" in names for sheet in SHEETS)
    for name, content in text.items():
        for marker in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "import autograder", "from autograder"):
            assert marker not in content, f"{marker!r} in {name}"
    everything = "\n".join(text.values())
    for sheet in SHEETS:
        leaked = [line for line in _secret_lines(sheet) if line in everything]
        assert not leaked, f"{sheet}: solution or hidden-test lines in the bundle: {leaked[:5]}"


# Regions nbgrader removes from the release; like nbgrader, a line holding a delimiter
# anywhere opens or closes a region.
REMOVED_REGIONS = (
    ("### BEGIN SOLUTION", "### END SOLUTION"),
    ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
    ("=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ==="),
)


def _nbgrader_flags(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def _has_solution_region(cell):
    return any(REMOVED_REGIONS[0][0] in line for line in cell.source.splitlines())


def student_lines(cell):
    """The non-blank lines of a source cell that its released version must show, in order:
    nothing of a solution cell without solution regions (nbgrader replaces it whole by a
    stub), and otherwise every line outside the removed regions."""
    if _nbgrader_flags(cell).get("solution") and not _has_solution_region(cell):
        return []
    kept, closing = [], None
    for line in cell.source.splitlines():
        if closing is None:
            opening = next((end for begin, end in REMOVED_REGIONS if begin in line), None)
            if opening is not None:
                closing = opening
            elif line.strip():
                kept.append(line.rstrip())
        elif closing in line:
            closing = None
    return kept


def missing_from_release(source, released):
    """What of ``source`` (an nbgrader source notebook) students do not see in ``released``
    (its release): one message per cell whose student lines are not all there, in order."""
    if len(source.cells) != len(released.cells):
        return [f"the source has {len(source.cells)} cells, the release {len(released.cells)}"]
    problems = []
    for index, (cell, out) in enumerate(zip(source.cells, released.cells)):
        shown = iter(line.rstrip() for line in out.source.splitlines())
        # each expected line must come after the previous one: a subsequence test
        lost = [line for line in student_lines(cell) if not any(line == seen for seen in shown)]
        if cell.cell_type != out.cell_type or lost:
            problems.append(f"cell {index} ({cell.cell_type}): not in the release: {lost[:3] or 'its type'}")
    return problems


def unseen_questions(source):
    """Answer cells graded by hand whose question students cannot see.

    nbgrader replaces such a cell (a markdown solution cell) whole by "YOUR ANSWER HERE"
    unless it has solution regions, so its question must stand either in the markdown cell
    right before it or, as in sheet 4, outside the solution region of the cell itself."""
    problems = []
    for index, cell in enumerate(source.cells):
        if cell.cell_type != "markdown" or not _nbgrader_flags(cell).get("solution"):
            continue
        name = _nbgrader_flags(cell).get("grade_id", index)
        if _has_solution_region(cell):
            if not student_lines(cell):
                problems.append(f"{name}: nothing outside its solution region, so no question")
            continue
        before = source.cells[index - 1] if index else None
        if before is None or before.cell_type != "markdown" or _nbgrader_flags(before).get("solution"):
            problems.append(f"{name}: replaced whole in the release and not preceded by a question cell")
    return problems


@pytest.mark.parametrize("sheet", SHEETS)
def test_release_shows_everything_but_solutions_and_hidden_tests(sheet):
    source = nbformat.read(ROOT / "source" / sheet / f"{sheet}.ipynb", as_version=4)
    released = nbformat.read(ROOT / "assignments" / sheet / f"{sheet}.ipynb", as_version=4)
    problems = missing_from_release(source, released)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("sheet", SHEETS)
def test_every_question_graded_by_hand_is_visible(sheet):
    problems = unseen_questions(jupytext.read(ROOT / "source" / sheet / f"{sheet}.nb.py"))
    assert not problems, "\n".join(problems)


def _synthetic_source(answer_cells):
    """A small nbgrader source notebook: a question, a code answer with a solution region,
    a test with hidden tests, then ``answer_cells`` (markdown answers graded by hand)."""
    def flags(**values):
        base = {"grade": False, "locked": False, "schema_version": 3, "solution": False, "task": False}
        return {"nbgrader": {**base, **values}}

    kernel = {"name": "python3", "language": "python", "display_name": "Python 3"}
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": kernel})
    notebook.cells = [
        nbformat.v4.new_markdown_cell("## Exercise\n\nWrite `double(x)`."),
        nbformat.v4.new_code_cell(
            "def double(x):\n    # x is a number\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION",
            metadata=flags(solution=True, grade_id="double"),
        ),
        nbformat.v4.new_code_cell(
            "assert double(1) == 2\n### BEGIN HIDDEN TESTS\nassert double(5) == 10\n### END HIDDEN TESTS",
            metadata=flags(grade=True, locked=True, points=1, grade_id="test_double"),
        ),
    ]
    for grade_id, text, question in answer_cells:
        if question:
            notebook.cells.append(nbformat.v4.new_markdown_cell(question))
        answer_flags = flags(grade=True, solution=True, points=1, grade_id=grade_id)
        notebook.cells.append(nbformat.v4.new_markdown_cell(text, metadata=answer_flags))
    return notebook


def _nbgrader_release(source):
    """The release of ``source`` by nbgrader's own preprocessors, in process."""
    from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions

    released = copy.deepcopy(source)
    for preprocessor in (ClearSolutions(), ClearHiddenTests(), ClearMarkScheme()):
        released, _ = preprocessor.preprocess(released, {})
    return released


def test_the_release_checks_fail_on_a_lost_line_and_a_hidden_question():
    good = _synthetic_source([
        ("why", "Because the reference says so.", "**(b)** Why? Answer in the next cell."),
        ("how", "**(c)** How?\n\n### BEGIN SOLUTION\nLike this.\n### END SOLUTION", None),
    ])
    released = _nbgrader_release(good)
    assert missing_from_release(good, released) == [] and unseen_questions(good) == []
    assert "return 2 * x" not in released.cells[1].source and "double(5)" not in released.cells[2].source

    # a line students should see is lost on the way (here: the comment of the stub)
    damaged = copy.deepcopy(released)
    damaged.cells[1].source = damaged.cells[1].source.replace("    # x is a number\n", "")
    assert missing_from_release(good, damaged) == ["cell 1 (code): not in the release: ['    # x is a number']"]
    # a line of the question that the release does not show at all
    damaged = copy.deepcopy(released)
    damaged.cells[0].source = "## Exercise"
    assert missing_from_release(good, damaged) == ["cell 0 (markdown): not in the release: ['Write `double(x)`.']"]
    # lines out of order count as lost
    damaged = copy.deepcopy(released)
    damaged.cells[0].source = "Write `double(x)`.\n## Exercise"
    assert missing_from_release(good, damaged) != []

    # the question asked inside an answer cell that nbgrader replaces whole
    hidden = _synthetic_source([("why", "**(d)** Why?\n\nBecause the reference says so.", None)])
    assert unseen_questions(hidden) == ["why: replaced whole in the release and not preceded by a question cell"]
    assert "Why?" not in _nbgrader_release(hidden).cells[-1].source
    only_solution = _synthetic_source([("how", "### BEGIN SOLUTION\nLike this.\n### END SOLUTION", None)])
    assert unseen_questions(only_solution) == ["how: nothing outside its solution region, so no question"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Reference, blank and partly wrong submissions of every sheet, graded once."""
    folder = tmp_path_factory.mktemp("grading")
    for sheet in SHEETS:
        for kind in submissions.KINDS:
            submissions.write(kind, sheet, folder / "submitted")
    out = folder / "results"
    result = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(folder / "submitted"), "--jobs", "2", "--out", str(out)],
        cwd=ROOT, env=dict(FAST, COURSE_FAST_MODE="0"), capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    with open(out / "grades.csv", newline="") as f:
        grades = {(row["student"], row["sheet"]): row for row in csv.DictReader(f)}
    with open(out / "cells.csv", newline="") as f:
        cells = list(csv.DictReader(f))
    return grades, cells


def _auto_points(cells, student, sheet):
    """Score and maximum over the autograded test cells of one submission."""
    rows = [r for r in cells if r["student"] == student and r["sheet"] == sheet and r["kind"] == "auto"]
    return sum(float(r["score"]) for r in rows), sum(float(r["max_score"]) for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("sheet", SHEETS)
def test_reference_full_marks_blank_zero_partly_wrong_between(graded, sheet):
    grades, cells = graded
    for student in ("reference", "blank", "partly_wrong"):
        # every notebook ran; what it earned is the checker's verdict, cell by cell
        assert grades[(student, sheet)]["status"].startswith("graded"), grades[(student, sheet)]
    reference, maximum = _auto_points(cells, "reference", sheet)
    assert maximum > 0 and reference == maximum
    assert _auto_points(cells, "blank", sheet)[0] == 0
    assert 0 < _auto_points(cells, "partly_wrong", sheet)[0] < maximum


def _statements(source: str) -> list:
    """(names bound, names read) of each top-level statement of a cell, in order."""
    import ast

    code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp,
              ast.GeneratorExp)
    statements = []
    for statement in ast.parse(code).body:
        bound, loaded, local = set(), set(), set()
        for node in ast.walk(statement):
            if isinstance(node, ast.Name):
                (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                bound |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
            if isinstance(node, scopes):  # names a nested scope binds are its own, not the cell's
                local |= {inner.arg for inner in ast.walk(node) if isinstance(inner, ast.arg)}
                local |= {inner.id for inner in ast.walk(node)
                          if isinstance(inner, ast.Name) and not isinstance(inner.ctx, ast.Load)}
        statements.append((bound - local, loaded - local))
    return statements


def skipped_cells_feeding_later_cells(notebook) -> list:
    """(cell index, names) of every run cell that reads a name whose latest binding is in a
    cell the grader skips (tag ``SKIPPED_WHEN_GRADING``)."""
    from autograder.course import SKIPPED_WHEN_GRADING

    last_bound_by_skipped, problems = set(), []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        statements = _statements(cell.source)
        if SKIPPED_WHEN_GRADING in cell.metadata.get("tags", []):
            for bound, _ in statements:
                last_bound_by_skipped |= bound
            continue
        read = set()
        for bound, loaded in statements:
            read |= loaded & last_bound_by_skipped
            last_bound_by_skipped -= bound
        if read:
            problems.append((index, sorted(read)))
    return problems


@pytest.mark.parametrize("sheet", SHEETS)
def test_cells_skipped_when_grading_feed_no_cell_that_runs(sheet):
    """The grader does not run illustration cells; nothing it does run may read what they define."""
    notebook = nbformat.read(ROOT / "source" / sheet / f"{sheet}.ipynb", as_version=4)
    assert skipped_cells_feeding_later_cells(notebook) == []


def test_the_skipped_cell_check_finds_a_name_defined_only_where_the_grader_skips():
    from autograder.course import SKIPPED_WHEN_GRADING

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("model = make()\nx = 1"),
        nbformat.v4.new_code_cell("y = model(x)", metadata={"tags": [SKIPPED_WHEN_GRADING]}),
        nbformat.v4.new_code_cell("print(y)"),
        nbformat.v4.new_code_cell("x = 2", metadata={"tags": [SKIPPED_WHEN_GRADING]}),
        nbformat.v4.new_code_cell("x = 3\nprint(x)"),
    ])
    assert skipped_cells_feeding_later_cells(notebook) == [(2, ["y"])]
