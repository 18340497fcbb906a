"""nbval on the reference solutions: they run, and the numbers students rely on stay put.

``tests/nbval/<sheet>.ipynb`` is the solution notebook of each sheet with the outputs of
its cells marked ``# NBVAL_CHECK_OUTPUT``, recorded by ``python -m autograder
nbval-record`` (see ``autograder/nbval_record.py``).  Here

- every recorded copy has the code of the current solution notebook (no stale copies),
  checks at least one cell, and holds outputs only where they are checked, as the
  recording command writes them;
- the sanitize file removes what changes between runs and machines and keeps the rest;
- a recorded number that moves fails nbval, run with the options and the sanitize file
  of the real check, while float round-off below the kept digits does not;
- every solution notebook passes ``pytest --nbval-lax`` in fast mode: all cells run
  (the hidden test cells judge the reference with the sheet's checks) and the marked
  cells print what was recorded.
"""
import copy
import re
from pathlib import Path

import nbformat
import pytest

from autograder import SHEETS
from autograder import nbval_record as nbval

RECORD_AGAIN = "python -m autograder release && python -m autograder nbval-record"


def recorded(sheet):
    path = nbval.recorded_path(sheet)
    assert path.is_file(), f"{path} is missing: run {RECORD_AGAIN} {sheet}"
    return nbformat.read(path, as_version=4)


@pytest.mark.parametrize("sheet", SHEETS)
def test_recorded_copy_has_the_code_of_the_solution(sheet):
    solution = nbformat.read(nbval.solution_path(sheet), as_version=4)
    mine, theirs = nbval.code_cells(recorded(sheet)), nbval.code_cells(solution)
    differing = [index for index, (a, b) in enumerate(zip(mine, theirs)) if a != b]
    assert mine == theirs, (
        f"tests/nbval/{sheet}.ipynb is stale ({len(mine)} code cells recorded, {len(theirs)} in the solution; "
        f"first differing code cell: {differing[:1] or 'beyond the shorter'}): run {RECORD_AGAIN} {sheet}"
    )


@pytest.mark.parametrize("sheet", SHEETS)
def test_recorded_copy_checks_marked_cells_only(sheet):
    notebook = recorded(sheet)
    assert set(notebook.metadata) == {"kernelspec", "language_info"}, "execution metadata (widget states) kept"
    checked = [cell for cell in notebook.cells if nbval.is_checked(cell)]
    assert checked, f"{sheet}: no cell is marked # {nbval.MARKER}"
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if nbval.is_checked(cell):
            assert cell.outputs and cell.execution_count is not None, f"{sheet}: a checked cell without output:\n{cell.source}"
        else:
            assert not cell.outputs and cell.execution_count is None, f"{sheet}: output kept in an unchecked cell"


@pytest.mark.parametrize("sheet", SHEETS)
def test_recorded_outputs_are_as_the_recording_writes_them(sheet):
    """Outputs go through the sanitize file on recording; a hand-edited number that is not
    in that form (more digits, a raw time or path) shows up here."""
    patterns = nbval.sanitize_patterns()
    for cell in recorded(sheet).cells:
        for output in cell.get("outputs", []):
            texts = [output.text] if output.output_type == "stream" else list(output.get("data", {}).values())
            for text in texts:
                assert nbval.sanitize(text, patterns) == text, f"{sheet}: unsanitized output {text!r}"
            if output.output_type != "stream":
                assert set(output.data) <= set(nbval.TEXT_TYPES), f"{sheet}: non-text output kept"


# ----------------------------------------------------------------------------- sanitize file
@pytest.mark.parametrize("raw, sanitized", [
    ("took 1.53 s, 120ms per image, 3 seconds", "took TIME, TIME per image, TIME"),
    ("elapsed 00:01 and 1:02:03", "elapsed TIME and TIME"),
    (" 45%|████▌     | 9/20 [00:01<00:02, 5.31it/s]", " PROGRESS"),
    ("<torch.nn.Module object at 0x7f3a2b1c9d30>", "<torch.nn.Module object at 0xADDRESS>"),
    ("saved to /tmp/tmpab_12/cnn/c1-5x5x3x10.npy", "saved to PATH"),
    ("R1 = 3/2, log(M)/gamma, 240/161", "R1 = 3/2, log(M)/gamma, 240/161"),
    ("largest |network - o(x)| = 8.9e-16, on the grid 0.0e+00, 0.00e+00", "largest |network - o(x)| = ~0, on the grid ~0, ~0"),
    ("|IG - x * chi| = 2.384185791015625e-07", "|IG - x * chi| = ~0"),
    ("gap 1.52e-05 (bound 1.79e-04), 6.75e-02", "gap 1.52e-05 (bound 1.79e-04), 6.75e-02"),
    ("largest |chi(f_c1 - f_c2) - (chi(f_c1) - chi(f_c2))|: 0.0, gradient [-0.0, 0.000]", "largest |chi(f_c1 - f_c2) - (chi(f_c1) - chi(f_c2))|: ~0, gradient [~0, ~0]"),
    ("sum of relevance 12.345678, logit -3.14159265, in: 866.8392", "sum of relevance 12.34, logit -3.141, in: 866.8"),
    ("0.0123456 and 0.85239 and accuracy = 0.852, sum 0.5000, gamma = 10000.0", "0.01234 and 0.8523 and accuracy = 0.852, sum 0.5000, gamma = 10000"),
    ("[ 4.40601147 11.20968938 -6.49631106]", "[4.406 11.20 -6.496]"),
    ("z: [1.64363545 1.1554056 ] x: [ 0.21675721  2.45816668]", "z: [1.643 1.155] x: [0.2167 2.458]"),
    ("class 3 of 10, 50 images of shape (32, 32, 3), sheet2_cifar", "class 3 of 10, 50 images of shape (32, 32, 3), sheet2_cifar"),
])
def test_sanitize_file_removes_what_varies_and_keeps_the_rest(raw, sanitized):
    patterns = nbval.sanitize_patterns()
    assert nbval.sanitize(raw, patterns) == sanitized
    assert nbval.sanitize(sanitized, patterns) == sanitized  # recorded outputs stay as they are


# ----------------------------------------------------------------------------- the mechanism
TINY_CELLS = [
    "import numpy\n\nvalues = numpy.random.default_rng(0).random(1000, dtype=numpy.float32)",
    # NBVAL_CHECK_OUTPUT cell: a number, a sum with round-off, a time and an address
    "# NBVAL_CHECK_OUTPUT\n"
    "import time\n"
    "print('accuracy = %.3f' % 0.852)\n"
    "print('sum of relevance', float(values.sum()), 'in %.3f s' % time.perf_counter(), object())\n"
    "len(values);  # nbval shows the value despite the ';', and so does the recording",
    "print('not checked:', time.time())",
]


def _tiny_notebook():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in TINY_CELLS]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return notebook


def _with_recorded_text(notebook, old, new):
    changed = copy.deepcopy(notebook)
    output = changed.cells[1].outputs[0]
    assert old in output.text
    output.text = output.text.replace(old, new, 1)
    return changed


@pytest.mark.slow
def test_a_moved_number_fails_nbval_and_round_off_does_not(tmp_path):
    folder = tmp_path / "check"
    assert nbval.record_notebook(_tiny_notebook(), folder / "intact.ipynb") == 1
    intact = nbformat.read(folder / "intact.ipynb", as_version=4)
    assert "accuracy = 0.852\n" in intact.cells[1].outputs[0].text and "TIME" in intact.cells[1].outputs[0].text
    assert intact.cells[1].outputs[-1].data == {"text/plain": "1000"}
    assert not intact.cells[2].outputs

    # the float sum as recorded elsewhere with different last digits: cut away by the sanitize file
    total = re.search(r"sum of relevance (\S+)", intact.cells[1].outputs[0].text).group(1)
    nbformat.write(_with_recorded_text(intact, total, total + "97"), folder / "round_off.ipynb")
    nbformat.write(_with_recorded_text(intact, "0.852", "0.853"), folder / "moved.ipynb")

    result = nbval.run_nbval(sorted(folder.glob("*.ipynb")), folder)
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    failed = re.findall(r"^FAILED (.+?) - ", report, flags=re.MULTILINE)
    assert failed == ["moved.ipynb::Cell 1"], report
    assert "Cell outputs differ" in report and "0.853" in report, report
    assert re.search(r"\b8 passed\b", report), report  # 3 cells of intact, of round_off, 2 of moved


@pytest.mark.slow
@pytest.mark.parametrize("sheet", SHEETS)
def test_solution_notebook_passes_nbval(sheet):
    result = nbval.check([sheet])
    report = result.stdout + result.stderr
    assert result.returncode == 0, f"{report}\nIf the sheet changed on purpose: {RECORD_AGAIN} {sheet}"
    assert re.search(r"\b\d+ passed\b", report) and "failed" not in report, report
