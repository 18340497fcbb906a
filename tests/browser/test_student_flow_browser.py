"""Every sheet as a student meets it: JupyterLab 4 with nbgrader, in chromium.

For each sheet, in a temporary copy of the student bundle:

1. open the released notebook and run every cell: the only errors are the answer
   stubs' ``NotImplementedError`` and, in later cells, ``NameError`` for a value that a
   stopped cell would have defined;
2. put the reference answers into the answer cells (the file is rewritten and reloaded
   from disk), restart and run all without an error, press nbgrader's Validate button
   and read its success dialog;
3. for the sheets with relevance heatmaps, check that image outputs are there and are
   not blank;
4. keep screenshots in ``tests/browser/artifacts/`` (git-ignored).

``COURSE_FAST_MODE=1`` is set for the server and its kernels, so the sheets run short.
"""
from __future__ import annotations

import nbformat
import pytest

import student_lab
from notebook_page import (VALIDATION_SUCCESS, NotebookPage, errors_in, is_stub_consequence, stub_consequences,
                           unexecuted_cells)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("sheet", student_lab.SHEETS)
def test_student_flow(sheet, student_copy, lab, page, artifacts):
    released = student_lab.released_notebook(student_copy, sheet)
    solution = student_lab.solution_notebook(sheet)
    if not released.is_file():
        pytest.skip(f"{sheet} is not released yet (no assignments/{sheet}/{sheet}.ipynb)")
    if not solution.is_file():
        pytest.skip(f"{sheet} has no reference solution yet (no {solution})")
    answered = student_lab.answered_notebook(released, solution)

    notebook = NotebookPage(page, lab, released.relative_to(student_copy).as_posix(), released)
    notebook.open()

    # 1. The released sheet: only the answer stubs fail, and they fail as announced.
    notebook.run_each_cell()
    notebook.save()
    page.screenshot(path=artifacts / f"{sheet}-released.png")
    assert not unexecuted_cells(released), f"cells left unexecuted: {unexecuted_cells(released)}"
    errors = errors_in(released)
    owed = stub_consequences(errors, answered)
    unexpected = [e for e in errors if e.ename != "NotImplementedError" and not is_stub_consequence(e, owed)]
    assert not unexpected, "the released sheet fails for other reasons than the answer stubs:\n" + "\n".join(map(str, unexpected))
    assert errors, "no answer stub raised NotImplementedError: the released sheet seems to contain answers"

    # 2. The reference answers, as a student who solved the sheet has them.
    nbformat.write(answered, released)
    notebook.reload_from_disk()
    notebook.restart_and_run_all()
    result = notebook.validate()
    page.screenshot(path=artifacts / f"{sheet}.png")
    notebook.close_dialog()
    errors = errors_in(released)  # Validate saved the notebook before validating
    assert not errors, "the sheet with the reference answers fails:\n" + "\n".join(map(str, errors))
    assert not unexecuted_cells(released), f"cells left unexecuted: {unexecuted_cells(released)}"
    assert VALIDATION_SUCCESS in result, f"nbgrader's Validate did not succeed:\n{result[:3000]}"

    # 3. The heatmaps are drawn.
    if sheet in student_lab.SHEETS_WITH_HEATMAPS:
        reports = notebook.image_reports()
        assert reports, f"{sheet} shows no image output"
        blank = [text for is_blank, text in reports if is_blank]
        assert not blank, "blank figures:\n" + "\n".join(blank)
        notebook.output_images().first.scroll_into_view_if_needed()
        page.screenshot(path=artifacts / f"{sheet}-figure.png")
