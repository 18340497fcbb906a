"""The student's feedback page: the graded notebook rendered with nbgrader's feedback
template, scores per cell from the job's result (the numbers the gradebook gets), no
hidden code.

nbconvert's :class:`~nbconvert.exporters.HTMLExporter` ends every page with an
accessibility pass: it parses the whole rendered page again with BeautifulSoup to give
each ``<img>`` without an ``alt`` attribute a default one, and to make the cells of the
JupyterLab template focusable.  On a graded sheet that pass took more than half of the
page's time (0.5–1 s: pygments' highlighting makes ten thousand tags), while the feedback
template, which extends the classic one, has no JupyterLab cells and a graded notebook
seldom holds an image.  :class:`FeedbackExporter` therefore renders the template alone and
runs nbconvert's full path only for a page that has an image without alternative text.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import nbformat

from autograder.engine import notebooks
from autograder.engine.jobs import Job, JobResult

#: An ``<img>`` tag that has no ``alt`` attribute.  A false alarm (a ``>`` inside an
#: attribute's value) only costs the slower, complete rendering.
IMAGE_WITHOUT_ALT = re.compile(r"<img\b(?![^>]*\balt\s*=)[^>]*>", re.IGNORECASE)

@functools.cache
def _exporter_class():
    from nbconvert import HTMLExporter
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class FeedbackExporter(HTMLExporter):
        """HTMLExporter without the closing BeautifulSoup pass where the page does not need it."""

        def from_notebook_node(self, nb, resources=None, **kw):
            # The two filters HTMLExporter registers before rendering; the classic template uses both.
            language = nb.metadata.get("language_info", {})
            lexer = language.get("pygments_lexer", language.get("name"))
            self.register_filter("highlight_code",
                                 self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)))
            prepared = self._init_resources(resources)
            self.register_filter("filter_data_type",
                                 WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata, parent=self,
                                                       resources=prepared))
            body, prepared = TemplateExporter.from_notebook_node(self, nb, prepared, **kw)
            if IMAGE_WITHOUT_ALT.search(body):
                return super().from_notebook_node(nb, resources, **kw)
            return body, prepared

    return FeedbackExporter


def configuration():
    """nbconvert's configuration for nbgrader's feedback template."""
    import nbgrader
    from traitlets.config import Config

    package = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
    config = Config()
    config.HTMLExporter.template_name = "feedback"
    config.HTMLExporter.extra_template_basedirs = [str(package / "templates")]
    config.HTMLExporter.extra_template_paths = [str(package / "static" / "node_modules" / "bootstrap" / "dist" / "css")]
    return config


@functools.cache
def exporter():
    """This process's exporter, made once."""
    return _exporter_class()(config=configuration())


def template_input(job: Job, result: JobResult) -> tuple:
    """The notebook and resources the feedback template renders: the graded notebook of
    the result (``result.autograded``) with each grade cell's score and points, and the
    student's total."""
    notebook = nbformat.from_dict(json.loads(result.autograded))
    scores = {cell.grade_id: cell for cell in result.cells}
    for cell in notebook.cells:
        identifier = notebooks.grade_id(cell)
        if identifier in scores and cell.metadata.nbgrader.get("grade"):
            cell.metadata.nbgrader["score"] = scores[identifier].score if scores[identifier].kind == "auto" else None
            cell.metadata.nbgrader["points"] = scores[identifier].max_score
            cell.metadata.nbgrader["comment"] = None
    resources = {"nbgrader": {"notebook": job.sheet, "assignment": job.sheet, "student": job.student,
                              "score": result.score, "max_score": result.max_score, "late_penalty": 0}}
    return notebook, resources


def page(job: Job, result: JobResult) -> str:
    """The HTML feedback page of the result's graded notebook."""
    notebook, resources = template_input(job, result)
    body, _ = exporter().from_notebook_node(notebook, resources=resources)
    return body
