"""The feedback page against nbconvert's own HTMLExporter, which the course's exporter
shortens: the same page, parsed, for a sheet as graded; the same page, with alternative
text on every image, where the notebook shows images; and the short path taken where the
page needs no accessibility fixes."""
from __future__ import annotations

import base64
import copy
import dataclasses

import nbformat
import pytest
from bs4 import BeautifulSoup

from autograder.course import ROOT
from autograder.engine import feedback, notebooks
from autograder.engine.jobs import CellResult, CellStatus, Job, JobResult, Status

SHEET = "sheet3_vgg"
# A 1×1 PNG, written out so that the test needs no image library.
PIXEL = base64.b64encode(bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082")).decode()


def _graded():
    notebook = nbformat.read(ROOT / "source" / SHEET / f"{SHEET}.ipynb", as_version=4)
    job = Job(student="ada", sheet=SHEET, notebook="", files={}, digest="0" * 64, seed_secret="00")
    result = JobResult("ada", SHEET, job.digest, Status.GRADED)
    for number, cell in enumerate(notebook.cells):
        identifier = notebooks.grade_id(cell)
        if identifier and cell.metadata.nbgrader.get("grade"):
            automatic = cell.cell_type == "code"
            passed = automatic and number % 2 == 0
            result.cells.append(CellResult(identifier, "auto" if automatic else "manual", 1.0 if passed else 0.0, 1.0,
                                           CellStatus.PASSED if passed else CellStatus.FAILED, "checked"))
    return notebook, job, result


def _nbconvert_page(notebook, job, result) -> str:
    """The page as nbconvert's HTMLExporter makes it, with the same configuration."""
    from nbconvert import HTMLExporter

    page_notebook, resources = feedback.template_input(job, _with_notebook(result, notebook))
    body, _ = HTMLExporter(config=feedback.configuration()).from_notebook_node(page_notebook, resources=resources)
    return body


def _with_notebook(result: JobResult, notebook) -> JobResult:
    return dataclasses.replace(result, autograded=notebooks.to_json(notebook))


def _ours(notebook, job, result) -> str:
    return feedback.page(job, _with_notebook(result, notebook))


def _parsed(page: str) -> str:
    return str(BeautifulSoup(page, features="html.parser"))


@pytest.fixture
def soup_calls(monkeypatch):
    """Counts nbconvert's BeautifulSoup passes."""
    import nbconvert.exporters.html as html

    calls = []
    real = html.BeautifulSoup

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(html, "BeautifulSoup", counting)
    return calls


def test_a_graded_sheet_renders_as_nbconvert_renders_it_without_the_second_parse(soup_calls):
    notebook, job, result = _graded()
    ours = _ours(notebook, job, result)
    assert soup_calls == []
    theirs = _nbconvert_page(notebook, job, result)
    assert soup_calls == [1]
    assert _parsed(ours) == theirs
    assert ours.count("Score:") >= len(result.cells)


def test_images_without_alternative_text_get_nbconvert_s_text():
    notebook, job, result = _graded()
    figure = nbformat.v4.new_code_cell("show()", outputs=[nbformat.v4.new_output(
        "display_data", data={"image/png": PIXEL, "text/plain": "<Figure>"})])
    described = nbformat.v4.new_code_cell("show()", outputs=[nbformat.v4.new_output(
        "display_data", data={"image/png": PIXEL}, metadata={"image/png": {"alt": "a pixel"}})])
    raw_html = nbformat.v4.new_markdown_cell(f'Drawn by hand: <img src="data:image/png;base64,{PIXEL}">')
    for extra in ([figure], [raw_html], [figure, described, raw_html]):
        page_notebook = copy.deepcopy(notebook)
        page_notebook.cells[1:1] = extra
        ours = _ours(page_notebook, job, result)
        images = BeautifulSoup(ours, features="html.parser").find_all("img")
        assert images and all(image.get("alt") for image in images)
        assert _parsed(ours) == _nbconvert_page(page_notebook, job, result)


def test_described_images_keep_the_short_path(soup_calls):
    notebook, job, result = _graded()
    notebook.cells.insert(1, nbformat.v4.new_code_cell("show()", outputs=[nbformat.v4.new_output(
        "display_data", data={"image/png": PIXEL}, metadata={"image/png": {"alt": "a pixel"}})]))
    ours = _ours(notebook, job, result)
    assert soup_calls == []
    assert 'alt="a pixel"' in ours


@pytest.mark.parametrize("tag, lacks_alt", [
    ('<img src="x.png">', True),
    ('<IMG SRC="x.png" />', True),
    ('<img src="x.png" alt="">', False),
    ('<img alt = "a" src="x.png">', False),
    ('<img src="a>b" alt="a">', True),  # a false alarm: only the slower path
    ('<image src="x.png">', False),
])
def test_images_without_alternative_text_are_recognised(tag, lacks_alt):
    assert bool(feedback.IMAGE_WITHOUT_ALT.search(f"<p>{tag}</p>")) is lacks_alt
