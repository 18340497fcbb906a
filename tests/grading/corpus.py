"""The toy corpus of the grading command, and what every corpus needs: sources, releases,
reference submissions and the layout of a submissions folder.

Every toy case is a submission built from the toy sheet's release plus the answers a
student would write, then damaged in one specific way.  ``expected`` gives, per test
cell, the points it must get and the status ``cells.csv`` must show; ``status`` is how
``grades.csv`` must begin, ``status_contains`` a note it must hold.  Every submission
file must be byte-identical after grading.

The toy sheet (``tests/grading/source/toy``, instructor part in
``tests/grading/sheets/toy``) has three autograded tests — ``test_square_sum`` (2
points), ``test_normalize`` (2), ``test_derivative`` (1) — and one answer graded by hand,
``in_words``.

Under the grading design the kernel never holds a check: a cheat that patches numpy,
sympy or torch in its kernel, or edits the test cells, simply scores 0 on what it did not
answer correctly; there is no "tampering" verdict.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SHEET = "toy"
SOURCE = HERE / "source"
SHEETS_DIR = HERE / "sheets"
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")

ANSWERS = {
    "square_sum": "def square_sum(x):\n    x = np.asarray(x, dtype=float)\n    return float((x * x).sum())",
    "normalize": "def normalize(v):\n    v = np.asarray(v, dtype=float)\n    return v / np.sqrt((v ** 2).sum())",
    "derivative": "x = sympy.Symbol('x')\n\ndef derivative():\n    return (3 * x**2 + x**3) * sympy.exp(x)",
    "in_words": "The norm is homogeneous: ||v / ||v|| || = ||v|| / ||v|| = 1.",
}
FULL = {"test_square_sum": (2, "passed"), "test_normalize": (2, "passed"), "test_derivative": (1, "passed")}
NOT_GRADED = {test: (0, "not graded") for test in FULL}


@dataclass
class Case:
    name: str
    kind: str  # "cheat", "fault" or "control"
    what: str
    answers: dict = field(default_factory=dict)  # answer cell -> replacement source
    damage: object = None  # function(notebook) -> notebook, applied after the answers
    expected: dict = field(default_factory=dict)  # test cell -> (points, status); others as FULL
    status: str = "graded"  # grades.csv status must start with this
    status_contains: str = ""
    layout: str = "folder"  # folder, zip, corrupt, misnamed, missing
    fill: bool = True  # start from the right answers (False: the blank release)

    def expected_cells(self) -> dict:
        cells = dict(FULL)
        cells.update(self.expected)
        return cells


def _cells(notebook, grade_id):
    return [c for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id]


def _edit_test(grade_id, source):
    def damage(notebook):
        _cells(notebook, grade_id)[0].source = source
        return notebook
    return damage


def _delete(grade_id):
    def damage(notebook):
        notebook.cells = [c for c in notebook.cells if c not in _cells(notebook, grade_id)]
        return notebook
    return damage


def _duplicate(grade_id):
    def damage(notebook):
        cell = _cells(notebook, grade_id)[0]
        index = notebook.cells.index(cell)
        twin = copy.deepcopy(cell)
        twin["id"] = "duplicated-test"
        notebook.cells.insert(index + 1, twin)
        return notebook
    return damage


def _retype(grade_id):
    def damage(notebook):
        cell = _cells(notebook, grade_id)[0]
        index = notebook.cells.index(cell)
        markdown = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
        notebook.cells[index] = markdown
        return notebook
    return damage


def _metadata(target, **changes):
    def damage(notebook):
        for cell in _cells(notebook, target):
            cell.metadata["nbgrader"].update(changes)
        return notebook
    return damage


def _chain(*damages):
    def damage(notebook):
        for step in damages:
            notebook = step(notebook)
        return notebook
    return damage


WRONG_SQUARE_SUM = "def square_sum(x):\n    return float(np.sum(x))"
WRONG_NORMALIZE = "def normalize(v):\n    v = np.asarray(v, dtype=float)\n    return v / np.abs(v).sum()"
WRONG_DERIVATIVE = "x = sympy.Symbol('x')\n\ndef derivative():\n    return 3 * x**2 * sympy.exp(x)"
STEAL = '''import glob, json, os
def _steal():
    """Look for the solution in every place a grader has left files lying around."""
    here = os.getcwd()
    places = ["CHECKOUT/tests/grading/source/toy/toy.ipynb", "CHECKOUT/tests/grading/sheets/toy/checks.py",
              "CHECKOUT/source", "CHECKOUT/grading/results/gradebook.db", "CHECKOUT/solutions"]
    places += glob.glob("/tmp/autograder-*/*/source/*/*.ipynb") + glob.glob("/tmp/pytest-*/*/*/*/source/toy/*.ipynb")
    places += [os.path.join(here, "../" * k, "gradebook.db") for k in range(1, 6)]
    places += [os.path.join(here, "../" * k, "source/toy/toy.ipynb") for k in range(1, 6)]
    places += glob.glob(os.path.join(here, "../../../../../*/*/toy/*.ipynb"))
    for path in places:
        try:
            if path.endswith(".ipynb"):
                cells = json.load(open(path))["cells"]
                for cell in cells:
                    text = "".join(cell["source"])
                    if "def square_sum" in text and "raise NotImplementedError" not in text:
                        return text
            else:
                open(path, "rb").read(16)
                os.listdir(path) if os.path.isdir(path) else None
                return "def square_sum(x):\\n    return float(np.sum(np.square(x)))"
        except Exception:
            continue
    return "def square_sum(x):\\n    return 0.0"
exec(_steal())
'''.replace("CHECKOUT", str(ROOT))  # the checkout being graded

CASES = [
    Case("reference", "control", "all answers right", answers=ANSWERS),
    Case("blank", "control", "the release untouched", fill=False,
         expected={"test_square_sum": (0, "failed"), "test_normalize": (0, "failed"), "test_derivative": (0, "failed")}),
    # -- cheats: the kernel holds no check, so each scores 0 where its answer is wrong -------
    Case("patch_numpy", "cheat", "numpy comparison functions replaced, visible value returned",
         answers={"square_sum": "def square_sum(x):\n    return 5.0\n"
                                "np.testing.assert_allclose = lambda *a, **k: None\n"
                                "np.allclose = lambda *a, **k: True\nnp.all = lambda *a, **k: True\n"
                                "np.abs = lambda a, *r, **k: np.zeros_like(a)"},
         expected={"test_square_sum": (0, "failed")}),
    Case("patch_during_check", "cheat", "numpy patched by the student function while it is probed",
         answers={"normalize": "def normalize(v):\n    np.all = lambda *a, **k: True\n    np.array_equal = lambda *a: True\n"
                               "    return np.zeros(len(v))"},
         expected={"test_normalize": (0, "failed")}),
    Case("patch_sympy", "cheat", "sympy simplify/equals replaced, wrong derivative",
         answers={"derivative": WRONG_DERIVATIVE + "\nsympy.simplify = lambda e, **k: 0\n"
                                "sympy.Expr.equals = lambda a, b, **k: True\nsympy.expand = lambda e, **k: 0"},
         expected={"test_derivative": (0, "failed")}),
    Case("patch_torch", "cheat", "torch imported and its comparisons replaced",
         answers={"normalize": WRONG_NORMALIZE + "\nimport torch\ntorch.allclose = lambda *a, **k: True\n"
                                                 "torch.testing.assert_close = lambda *a, **k: None\n"
                                                 "torch.Tensor.__eq__ = lambda a, b: True"},
         expected={"test_normalize": (0, "failed")}),
    Case("patch_grader", "cheat", "the grader's checking module patched (it is not importable in the kernel)",
         answers={"normalize": WRONG_NORMALIZE + "\nimport autograder.checking as _c\n"
                                                 "_c.assert_close.__code__ = (lambda *a, **k: None).__code__"},
         expected={"test_normalize": (0, "failed")}),
    Case("always_equal", "cheat", "a float subclass whose == is always true",
         answers={"square_sum": "class _Yes(float):\n    def __eq__(self, other):\n        return True\n"
                                "    def __array__(self, *a, **k):\n        return np.array(float('nan'))\n"
                                "def square_sum(x):\n    return _Yes(-1.0)"},
         expected={"test_square_sum": (0, "failed")}),
    Case("ndarray_subclass", "cheat", "right values in an ndarray subclass (its methods are never trusted)",
         answers={"normalize": "class _Mine(np.ndarray):\n    def __array_finalize__(self, obj):\n"
                               "        print('SUBCLASS METHOD RAN')\n"
                               "def normalize(v):\n    v = np.asarray(v, dtype=float)\n"
                               "    return (v / np.sqrt((v ** 2).sum())).view(_Mine)"},
         expected={"test_normalize": (0, "failed")}),
    Case("nan_result", "cheat", "NaN-returning answer",
         answers={"normalize": "def normalize(v):\n    return np.full(len(v), np.nan)"},
         expected={"test_normalize": (0, "failed")}),
    Case("visible_values", "cheat", "returns the visible test's expected values",
         answers={"square_sum": "def square_sum(x):\n    return 5.0",
                  "normalize": "def normalize(v):\n    return np.array([0.6, 0.8])"},
         expected={"test_square_sum": (0, "failed"), "test_normalize": (0, "failed")}),
    Case("in_place", "cheat", "right values, computed by overwriting the input",
         answers={"normalize": "def normalize(v):\n    v /= np.sqrt((v ** 2).sum())\n    return v"},
         expected={"test_normalize": (0, "failed")}),
    Case("edit_test", "cheat", "test cell replaced by `pass`, wrong answer",
         answers={"square_sum": WRONG_SQUARE_SUM}, damage=_edit_test("test_square_sum", "pass"),
         expected={"test_square_sum": (0, "failed")}, status_contains="restored from the release"),
    Case("delete_test", "cheat", "test cell deleted, wrong answer",
         answers={"normalize": WRONG_NORMALIZE}, damage=_delete("test_normalize"),
         expected={"test_normalize": (0, "failed")}, status_contains="missing and was put back"),
    Case("duplicate_test", "cheat", "test cell duplicated (nbgrader #1083)",
         answers=ANSWERS, damage=_duplicate("test_square_sum"), status_contains="duplicate of test_square_sum"),
    Case("retype_test", "cheat", "test cell turned into markdown, wrong answer",
         answers={"derivative": WRONG_DERIVATIVE}, damage=_retype("test_derivative"),
         expected={"test_derivative": (0, "failed")}, status_contains="test_derivative restored from the release"),
    Case("change_metadata", "cheat", "points raised to 100, grade_id renamed, wrong answers",
         answers={"square_sum": WRONG_SQUARE_SUM, "normalize": WRONG_NORMALIZE},
         damage=_chain(_metadata("test_square_sum", points=100), _metadata("test_normalize", grade_id="test_mine")),
         expected={"test_square_sum": (0, "failed"), "test_normalize": (0, "failed")},
         status_contains="test_normalize was missing and was put back"),
    Case("read_files", "cheat", "reads the source, gradebooks and other students' notebooks",
         answers={"square_sum": STEAL}, expected={"test_square_sum": (0, "failed")}),
    Case("fake_success", "cheat", "prints fake success messages, wrong answer",
         answers={"square_sum": WRONG_SQUARE_SUM + "\nprint('test_square_sum: 2/2 points, all tests passed')\n"
                                                  "print('Success! Your notebook passes all the tests.')"},
         expected={"test_square_sum": (0, "failed")}),
    Case("stderr_warning", "control", "right answers that warn on stderr",
         answers={"square_sum": ANSWERS["square_sum"].replace(
             "    x = np", "    import sys, warnings\n    warnings.warn('slow path')\n"
                          "    print('progress', file=sys.stderr)\n    x = np")}),
    # -- faults: each costs the cell it happens in, not the sheet ---------------------------
    Case("infinite_loop", "fault", "an infinite loop in a tested function (the cell is interrupted)",
         answers={"normalize": "def normalize(v):\n    while True:\n        pass"},
         expected={"test_normalize": (0, "failed")}),
    Case("os_exit", "fault", "os._exit in a tested function",
         answers={"normalize": "import os\ndef normalize(v):\n    os._exit(0)"},
         expected={"test_normalize": (0, "failed")}, status_contains="1 cell(s) ended the kernel and were skipped"),
    Case("hard_exit_answer", "fault", "libc _exit in an answer cell",
         answers={"square_sum": ANSWERS["square_sum"] + "\nimport ctypes\nctypes.CDLL(None)._exit(3)"},
         expected={"test_square_sum": (0, "failed")}, status_contains="1 cell(s) ended the kernel and were skipped"),
    Case("sigkill_in_test", "fault", "the kernel kills itself while being tested",
         answers={"normalize": "import os, signal\ndef normalize(v):\n    os.kill(os.getpid(), signal.SIGKILL)"},
         expected={"test_normalize": (0, "failed")}, status_contains="1 cell(s) ended the kernel and were skipped"),
    Case("huge_allocation", "fault", "a 20 GB allocation in a tested function",
         answers={"normalize": "def normalize(v):\n    big = np.ones(20 * 2**30 // 8)\n    return v / big[:len(v)]"},
         expected={"test_normalize": (0, "failed")}),
    Case("fork_bomb", "fault", "2,000 child processes (bounded by the job's process limit)",
         answers={"square_sum": "import subprocess\n_kids = [subprocess.Popen(['sleep', '30']) for _ in range(2000)]\n"
                                + ANSWERS["square_sum"]},
         expected={"test_square_sum": (0, "failed")}),
    Case("syntax_error", "fault", "a syntax error in one answer",
         answers={"square_sum": "def square_sum(x)\n    return x"}, expected={"test_square_sum": (0, "failed")}),
    Case("corrupt_ipynb", "fault", "the .ipynb is not JSON", layout="corrupt", status="corrupt: corrupt notebook",
         expected=NOT_GRADED),
    Case("wrong_file_name", "fault", "the notebook is called Toy (1).ipynb", answers=ANSWERS, layout="misnamed",
         status_contains="wrong file name"),
    Case("zip_submission", "control", "handed in as a zip", answers=ANSWERS, layout="zip"),
    Case("missing_sheet", "fault", "no toy/ folder at all", layout="missing", status="missing", expected=NOT_GRADED),
]


# ----------------------------------------------------------------------------- notebooks
def build_source(sheet: str, target: Path) -> Path:
    """``target/<sheet>/<sheet>.ipynb``: the sheet's source notebook, converted from its
    jupytext script as the release command converts it (the toy sheet is copied)."""
    folder = target / sheet
    folder.mkdir(parents=True, exist_ok=True)
    if sheet == SHEET:
        shutil.copyfile(SOURCE / SHEET / f"{SHEET}.ipynb", folder / f"{SHEET}.ipynb")
        return folder / f"{SHEET}.ipynb"
    import jupytext

    notebook = jupytext.read(ROOT / "source" / sheet / f"{sheet}.nb.py")
    notebook.metadata.pop("jupytext", None)
    notebook.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    notebook.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index:03d}"
    nbformat.write(notebook, folder / f"{sheet}.ipynb")
    return folder / f"{sheet}.ipynb"


def release_of(source_root: Path, sheet: str):
    """The student version, as the grader derives it from the source (nbgrader's own
    preprocessors)."""
    from autograder.engine import notebooks

    return copy.deepcopy(notebooks.plan(str(source_root), sheet).release)


def solutions(source_root: Path, sheet: str) -> dict:
    """answer cell -> the source's solution, marker lines removed (as a student writes it)."""
    source = nbformat.read(source_root / sheet / f"{sheet}.ipynb", as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: "\n".join(
                line for line in cell.source.splitlines() if line.strip() not in SOLUTION_MARKERS)
            for cell in source.cells if cell.metadata.get("nbgrader", {}).get("solution")}


def grade_id(cell):
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta.get("grade_id") if isinstance(meta, dict) else None


def student_notebook(release, case: Case):
    notebook = copy.deepcopy(release)
    answers = {**(ANSWERS if case.fill else {}), **case.answers}
    for cell in notebook.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    if case.damage is not None:
        notebook = case.damage(notebook)
    return notebook


def write(cases, release, root: Path, sheet: str = SHEET):
    """Write every toy case as a student under ``root`` (nbgrader's submitted layout)."""
    root.mkdir(parents=True, exist_ok=True)
    for case in cases:
        folder = root / case.name / sheet
        if case.layout == "missing":
            (root / case.name / "other_sheet").mkdir(parents=True, exist_ok=True)
            (root / case.name / "other_sheet" / "notes.txt").write_text("nothing here")
            continue
        text = nbformat.writes(student_notebook(release, case))
        if case.layout == "zip":
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as bundle:
                # sheet folders at the top: the intake finds a wrapping folder only by
                # the course's sheet names ("sheet*"), which the toy sheet does not have
                bundle.writestr(f"{sheet}/{sheet}.ipynb", text)
            (root / f"{case.name}.zip").write_bytes(buffer.getvalue())
            continue
        folder.mkdir(parents=True, exist_ok=True)
        if case.layout == "corrupt":
            (folder / f"{sheet}.ipynb").write_text(text[: len(text) // 2])
        elif case.layout == "misnamed":
            (folder / "Toy (1).ipynb").write_text(text)
        else:
            (folder / f"{sheet}.ipynb").write_text(text)


def digest_tree(root: Path) -> dict:
    """Path -> SHA-256 of every regular file under ``root`` (links recorded, not followed)."""
    found = {}
    for current, folders, files in os.walk(root, followlinks=False):
        for name in folders + files:
            path = Path(current) / name
            if path.is_symlink():
                found[str(path.relative_to(root))] = "link:" + os.readlink(path)
            elif path.is_file():
                found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def dumps(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
