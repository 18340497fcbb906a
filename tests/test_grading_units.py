"""Fast tests of the grading layer's parts (no nbgrader run): notebook repair, feedback
sanitising, the kernel guard (in a separate interpreter, since it patches ``os``), the
hardened hidden-test helpers, and the corpus' own honesty (its cheats would work
without the sandbox)."""
import copy
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from autograder import grade, hidden, sandbox
from autograder.guard import cell_hash

sys.path.insert(0, str(Path(__file__).resolve().parent / "grading"))
import corpus  # noqa: E402

TOY = corpus.SOURCE / "toy" / "toy.ipynb"


@pytest.fixture(scope="module")
def release():
    """A stand-in for the toy's release: the source with hidden tests removed."""
    notebook = nbformat.read(TOY, as_version=4)
    for cell in notebook.cells:
        cell.source = sandbox.strip_hidden_tests(cell.source)
    return notebook


def _ids(notebook):
    return [c.metadata.get("nbgrader", {}).get("grade_id") for c in notebook.cells]


def test_repair_restores_edited_deleted_duplicated_and_retyped_tests(release):
    student = copy.deepcopy(release)
    tests = {c.metadata["nbgrader"]["grade_id"]: c for c in student.cells
             if c.metadata.get("nbgrader", {}).get("grade") and not c.metadata["nbgrader"].get("solution")}
    tests["test_square_sum"].source = "pass"
    tests["test_square_sum"].metadata["nbgrader"]["points"] = 100
    student.cells.remove(tests["test_normalize"])
    student.cells.append(copy.deepcopy(tests["test_derivative"]))
    index = student.cells.index(tests["test_derivative"])
    student.cells[index] = nbformat.v4.new_markdown_cell("gone", metadata=tests["test_derivative"].metadata)
    repaired, notes = grade.repair(student, release)
    assert _ids(repaired).count("test_derivative") == 1
    assert [i for i in _ids(repaired) if i] == [i for i in _ids(release) if i]
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in repaired.cells}
    original = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in release.cells}
    for grade_id in ("test_square_sum", "test_normalize", "test_derivative"):
        assert by_id[grade_id].source == original[grade_id].source
        assert by_id[grade_id].cell_type == "code"
        assert by_id[grade_id].metadata["nbgrader"]["points"] == original[grade_id].metadata["nbgrader"]["points"]
    assert any("missing" in n for n in notes) and any("duplicate" in n for n in notes)
    nbformat.validate(repaired)


def test_repair_keeps_answers_and_extra_cells(release):
    student = copy.deepcopy(release)
    answer = next(c for c in student.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "square_sum")
    answer.source = "def square_sum(x):\n    return 1.0"
    answer.metadata["nbgrader"]["grade"] = True
    answer.metadata["nbgrader"]["points"] = 50
    student.cells.insert(3, nbformat.v4.new_code_cell("helper = 1"))
    twin = copy.deepcopy(answer)
    twin.metadata["nbgrader"]["grade_id"] = "renamed"
    student.cells.append(twin)
    repaired, notes = grade.repair(student, release)
    fixed = next(c for c in repaired.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "square_sum")
    assert fixed.source.endswith("return 1.0") and fixed.metadata["nbgrader"]["grade"] is False
    assert any(c.source == "helper = 1" for c in repaired.cells)
    assert "renamed" not in _ids(repaired) and any("unknown grade_id" in n for n in notes)


def test_feedback_copy_hides_hidden_tests_and_tracebacks():
    notebook = nbformat.read(TOY, as_version=4)
    test = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_normalize")
    test.outputs = [nbformat.v4.new_output("error", ename="GradingError", evalue="normalize(v) differs",
                                           traceback=["File /work/main/autograder/hidden.py, line 3", "secret"])]
    sandbox.sanitize_for_feedback(notebook, {"test_normalize"})
    assert "BEGIN HIDDEN TESTS" not in test.source and "_rng(8)" not in test.source
    assert test.source.startswith("assert np.allclose")
    assert test.outputs[0]["traceback"] == ["GradingError: normalize(v) differs"]
    assert sandbox.cell_outcomes(notebook, {"test_normalize"}) == {"test_normalize": "failed"}
    assert sandbox.cell_errors(notebook, {"test_normalize"}) == []
    test.outputs[0]["ename"] = "MemoryError"
    answer = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "square_sum")
    answer.outputs = [nbformat.v4.new_output("error", ename="SyntaxError", evalue="", traceback=[])]
    assert sandbox.cell_errors(notebook, {"test_normalize"}) == [("square_sum", "SyntaxError"),
                                                                ("test_normalize", "MemoryError")]


def test_zip_paths_cannot_escape(tmp_path):
    archive = tmp_path / "eve.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../../escaped.txt", "x")
        bundle.writestr("/abs.txt", "x")
        bundle.writestr("eve/toy/toy.ipynb", "{}")
    folder = grade.unpack(archive, tmp_path / "out", ["toy"])
    assert (folder / "toy" / "toy.ipynb").exists()
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path.parent / "escaped.txt").exists()


def test_find_notebook_names(tmp_path):
    (tmp_path / "toy").mkdir()
    assert grade.find_notebook(tmp_path / "toy", "toy") == (None, "wrong file name: no toy.ipynb")
    (tmp_path / "toy" / "mine.ipynb").write_text("{}")
    path, note = grade.find_notebook(tmp_path / "toy", "toy")
    assert path.name == "mine.ipynb" and "wrong file name" in note


GUARD_SCRIPT = textwrap.dedent('''
    import json, os, sys
    from IPython.core.interactiveshell import InteractiveShell
    from autograder.guard import cell_hash
    TEST = "from autograder.hidden import assert_close\\nassert_close(f(), [1.0, 2.0])"
    json.dump({"test_cells": {cell_hash(TEST): "t"}, "preload": ["sympy"]}, open(sys.argv[1], "w"))
    shell = InteractiveShell.instance()
    import autograder.guard
    autograder.guard.install(sys.argv[1])
    def run(code):
        result = shell.run_cell(code, silent=False)
        error = result.error_in_exec or result.error_before_exec
        return type(error).__name__ if error else "ok"
    out = {}
    out["honest"] = run("import numpy as np\\ndef f():\\n    return np.array([1.0, 2.0])") + run(TEST)
    out["patched"] = run("def f():\\n    return [0.0, 0.0]\\nnp.all = lambda *a, **k: True") + run(TEST)
    out["restored"] = run("def f():\\n    return [1.0, 2.0]") + run(TEST)
    out["in_check"] = run("def f():\\n    import numpy\\n    numpy.abs = lambda a: 0 * a\\n    return [1.0, 2.0]") + run(TEST)
    out["sympy"] = run("import sympy\\nsympy.Expr.equals = lambda a, b: True\\ndef f():\\n    return [1.0, 2.0]") + run(TEST)
    out["exit"] = run("import os\\nos._exit(3)")
    out["fork"] = run("os.fork()")
    out["after"] = run("def f():\\n    return [1.0, 2.0]") + run(TEST)
    print(json.dumps(out))
''')


def _run_guarded_shell(script_text, tmp_path) -> dict:
    """Run a script that installs the guard in an IPython shell (in its own interpreter,
    since the guard patches ``os``) and prints a JSON summary as its last line."""
    import json

    script = tmp_path / "guarded_shell.py"
    script.write_text(script_text)
    run = subprocess.run([sys.executable, str(script), str(tmp_path / "guard.json")], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_guard_detects_and_restores(tmp_path):
    out = _run_guarded_shell(GUARD_SCRIPT, tmp_path)
    assert out == {"honest": "okok", "patched": "okTamperingDetected", "restored": "okok",
                   "in_check": "okTamperingDetected", "sympy": "okTamperingDetected",
                   "exit": "ForbiddenCall", "fork": "ForbiddenCall", "after": "okok"}


BORROW_SCRIPT = textwrap.dedent('''
    import json, sys
    from IPython.core.interactiveshell import InteractiveShell
    from autograder.guard import cell_hash
    RELU = "from autograder.sheets.sheet2_cifar import reference as _grader\\n_grader.check_relu_relprop(ReLU)"
    NETWORK = "from autograder.sheets.sheet2_cifar import reference as _grader\\n_grader.check_network_relprop(Network)"
    json.dump({"test_cells": {cell_hash(RELU): "relu", cell_hash(NETWORK): "network"}}, open(sys.argv[1], "w"))
    shell = InteractiveShell.instance()
    import autograder.guard
    autograder.guard.install(sys.argv[1])
    HONEST = "class ReLU(md.ReLU):\\n    def relprop(self, R):\\n        return R"
    CASES = {
        "honest": ["from utils import modules as md", HONEST, RELU],
        "subclass": ["from autograder.sheets.sheet2_cifar.reference import RefReLU\\nclass ReLU(RefReLU):\\n    pass", RELU],
        "method": ["class ReLU(md.ReLU):\\n    relprop = RefReLU.relprop", RELU],
        "wrapper": ["class ReLU(md.ReLU):\\n    def relprop(self, R):\\n        return RefReLU.relprop(self, R)", RELU],
        "after": [HONEST, RELU],
        "fixtures": ["class Network(md.Network):\\n    def relprop(self, R):\\n        for layer in self.layers[::-1]:\\n"
                     "            R = layer.relprop(R)\\n        return R", NETWORK],
    }
    out = {}
    # top-level loops, no function: below a test cell the guard expects only top-level code and libraries
    for case, cells in CASES.items():
        out[case] = ""
        for code in cells:
            result = shell.run_cell(code, silent=False)
            error = result.error_in_exec or result.error_before_exec
            out[case] += type(error).__name__ if error else "ok"
    print(json.dumps(out))
''')


def test_guard_fails_tests_whose_answer_runs_the_graders_reference(tmp_path):
    """Subclassing a reference class, borrowing one of its methods or calling it from the
    answer costs the test; calling the grader's fixtures (the layers a test hands to the
    student's Network) and honest answers do not."""
    out = _run_guarded_shell(BORROW_SCRIPT, tmp_path)
    assert out == {"honest": "okokok", "subclass": "okBorrowedGraderCode", "method": "okBorrowedGraderCode",
                   "wrapper": "okBorrowedGraderCode", "after": "okok", "fixtures": "okok"}


def test_cell_hash_ignores_surrounding_whitespace():
    assert cell_hash("\nx = 1\n") == cell_hash("x = 1")


def test_hidden_helpers_ignore_patched_numpy_and_tensor_subclasses(monkeypatch):
    torch = pytest.importorskip("torch")

    class Liar(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            return torch.zeros(3, dtype=torch.float64)

    value = torch.ones(3).as_subclass(Liar)
    assert hidden.as_array(value).tolist() == [1.0, 1.0, 1.0]
    monkeypatch.setattr(np, "all", lambda *a, **k: True)
    monkeypatch.setattr(np, "abs", lambda a, *r, **k: np.zeros_like(a))
    with pytest.raises(hidden.GradingError):
        hidden.assert_close([1.0, 2.0], [1.0, 3.0])

    class AlwaysEqual:
        def __eq__(self, other):
            return True

    with pytest.raises(hidden.GradingError):
        hidden.as_array(AlwaysEqual())
    with pytest.raises(hidden.GradingError):
        hidden.as_array([np.nan, 1.0])


def test_the_file_reading_cheat_works_without_the_sandbox(tmp_path):
    """The read_files case is honest: outside the sandbox its answer finds the solution."""
    namespace = {"np": np}
    exec(corpus.STEAL, namespace)  # noqa: S102 - the corpus' own cheat, run on purpose
    assert namespace["square_sum"](np.array([1.0, 2.0, 2.0])) == 9.0
