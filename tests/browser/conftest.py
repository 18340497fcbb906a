"""Fixtures of the browser tests: the student copy, JupyterLab in it, and chromium; for
the graders' side, a class graded into a course folder with a PostgreSQL gradebook, and
JupyterLab (with formgrader) in that folder.

Without Debian's chromium or Playwright for Python the tests skip, saying how to install
them (``bash tests/browser/install.sh``); with ``COURSE_REQUIRE_BROWSER=1`` (set by
``make test-browser``) they fail instead, so that a missing install cannot pass quietly.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import instructor_lab  # noqa: E402
import student_lab  # noqa: E402

BROWSER_REQUIRED = os.environ.get("COURSE_REQUIRE_BROWSER", "0") not in ("", "0")


def _missing(reason: str):
    message = f"{reason}; install with: bash tests/browser/install.sh"
    if BROWSER_REQUIRED:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = student_lab.find_chromium()
    if path is None:
        _missing("Debian's chromium is not installed (/usr/bin/chromium)")
    return path


@pytest.fixture(scope="session")
def playwright_api():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed")
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="session")
def browser(playwright_api, chromium_path):
    # The test machines run as root, where chromium's sandbox cannot start.
    browser = playwright_api.chromium.launch(
        executable_path=chromium_path, headless=True,
        args=["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    student_lab.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return student_lab.ARTIFACTS


@pytest.fixture(scope="session")
def student_copy(tmp_path_factory) -> Path:
    """A temporary copy of the student bundle; notebooks are edited only there."""
    try:
        root, origin = student_lab.make_student_copy(tmp_path_factory.mktemp("student"))
    except RuntimeError as error:
        pytest.skip(f"no student material to test yet: {error}")
    print(f"\nstudent copy at {root}, made from {origin}")
    return root


@pytest.fixture(scope="session")
def lab(student_copy, tmp_path_factory, artifacts, browser):
    # Depends on `browser` so that a missing browser skips before a server starts.
    server = student_lab.JupyterLab(
        student_copy, tmp_path_factory.mktemp("jupyterlab"),
        env={"COURSE_FAST_MODE": "1"}, log_path=artifacts / "jupyterlab.log",
    )
    started = time.monotonic()
    with server:
        print(f"\nJupyterLab answered after {time.monotonic() - started:.1f} s on {server.base_url}")
        yield server


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so that fixtures can see a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def page(request, browser, lab, artifacts):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        name = request.node.name.replace("test_student_flow[", "").rstrip("]")
        page.screenshot(path=artifacts / f"{name}-failure.png")
    context.close()
    lab.shutdown_kernels()


# ----------------------------------------------------------------------------- graders' side
GRADED_STUDENT = "alice"
GRADED_SHEET = "sheet1_analytic"


@dataclass(frozen=True)
class GradedCourse:
    folder: Path  # the graded course folder (OUT of `python -m autograder grade`)
    gradebook_url: str
    student: str
    sheet: str


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory, postgres_server, artifacts, browser) -> GradedCourse:
    """A student's reference answers to sheet 1, graded by `python -m autograder grade`
    into a course folder whose gradebook is a database of the test PostgreSQL server."""
    import nbformat

    released = student_lab.course_root() / "assignments" / GRADED_SHEET / f"{GRADED_SHEET}.ipynb"
    solution = student_lab.solution_notebook(GRADED_SHEET)
    if not released.is_file() or not solution.is_file():
        pytest.skip(f"{GRADED_SHEET} is not released yet (no {released} or no {solution})")
    base = tmp_path_factory.mktemp("graded")
    handed_in = base / "submissions" / GRADED_STUDENT / GRADED_SHEET
    handed_in.mkdir(parents=True)
    nbformat.write(student_lab.answered_notebook(released, solution), handed_in / f"{GRADED_SHEET}.ipynb")
    url = postgres_server.create_database("graded_course")
    started = time.monotonic()
    instructor_lab.grade_class(base / "submissions", base / "course", url, artifacts / "grading.log")
    print(f"\nclass graded in {time.monotonic() - started:.0f} s into {base / 'course'}")
    return GradedCourse(base / "course", url, GRADED_STUDENT, GRADED_SHEET)


@pytest.fixture(scope="session")
def instructor_jupyterlab(graded_course, tmp_path_factory, artifacts):
    """JupyterLab in the graded course folder: nbgrader reads its nbgrader_config.py there."""
    server = student_lab.JupyterLab(graded_course.folder, tmp_path_factory.mktemp("instructor-lab"),
                                    log_path=artifacts / "instructor-jupyterlab.log")
    with server:
        yield server


@pytest.fixture
def instructor_page(request, browser, instructor_jupyterlab, artifacts):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        page.screenshot(path=artifacts / f"{request.node.name}-failure.png")
    context.close()
