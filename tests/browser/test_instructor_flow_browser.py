"""The graders' side: hand grading in formgrader, in chromium, on a PostgreSQL gradebook.

A student's reference answers to sheet 1 are graded with ``python -m autograder grade
--gradebook postgresql://... --out OUT``; then, as an instructor would:

1. JupyterLab runs in OUT (nbgrader reads OUT/nbgrader_config.py, which points at the
   PostgreSQL gradebook); formgrader is opened from the Nbgrader menu: it counts the
   submission, and the student's total there is the autograded score of grades.csv;
2. the graded submission is opened under Manual Grading, and a "show that" answer gets
   points and a comment, typed into formgrader's fields;
3. the gradebook (read through nbgrader's API), formgrader's student list and
   ``nbgrader export`` all hold autograded + hand-given points;
4. ``nbgrader generate_feedback`` rewrites the student's feedback page, which then shows
   the hand-given points, the new total and the comment (read in the browser).

Screenshots go to ``tests/browser/artifacts/`` (git-ignored).
"""
from __future__ import annotations

import csv

import pytest
from instructor_lab import Formgrader, exported_totals, run_nbgrader, score_pair

pytestmark = pytest.mark.slow

#: "Show that network A and network B both compute min(a1, a2)": 2 points, graded by hand.
ANSWER = "min_networks_proof"
POINTS_GIVEN = 1.5
COMMENT = "Both cases are right; say in one line why rho(a) = a for a >= 0."


def _rows(path, **match):
    with open(path, newline="") as stream:
        return [row for row in csv.DictReader(stream) if all(row[k] == v for k, v in match.items())]


def _hand_grade(url: str, sheet: str, student: str):
    from nbgrader.api import Gradebook

    with Gradebook(url, course_id="explaining-nn") as gradebook:
        grade = gradebook.find_grade(ANSWER, sheet, sheet, student)
        comment = gradebook.find_comment(ANSWER, sheet, sheet, student)
        return grade.manual_score, grade.needs_manual_grade, comment.manual_comment


def test_instructor_grades_a_show_that_answer(graded_course, instructor_jupyterlab, instructor_page, artifacts):
    course, page = graded_course, instructor_page
    (graded,) = _rows(course.folder / "grades.csv", student=course.student, sheet=course.sheet)
    assert graded["status"].startswith("graded"), graded  # notes on the submission may follow
    autograded, max_total = float(graded["score"]), float(graded["max_score"])
    (answer,) = _rows(course.folder / "cells.csv", student=course.student, grade_id=ANSWER)
    assert (answer["kind"], answer["status"], float(answer["max_score"])) == ("manual", "needs manual grading", 2.0)
    passed = _rows(course.folder / "cells.csv", student=course.student, kind="auto", status="passed")
    assert autograded == sum(float(row["score"]) for row in passed) > 0
    assert _hand_grade(course.gradebook_url, course.sheet, course.student) == (None, True, None)

    # 1. Formgrader, from JupyterLab's menu, shows the autograded total.
    formgrader = Formgrader(page, instructor_jupyterlab).open()
    assert formgrader.submission_count(course.sheet) == 1
    assert formgrader.student_total(course.student) == (autograded, max_total)

    # 2. Hand grading of the "show that" answer.
    formgrader.open_submission(course.sheet, course.sheet)
    formgrader.give_points(ANSWER, POINTS_GIVEN, COMMENT)
    page.screenshot(path=artifacts / "instructor-manual-grading.png")

    # 3. Every view of the gradebook holds autograded + hand-given points.
    assert _hand_grade(course.gradebook_url, course.sheet, course.student) == (POINTS_GIVEN, False, COMMENT)
    total = autograded + POINTS_GIVEN
    assert formgrader.student_total(course.student) == (total, max_total)
    page.screenshot(path=artifacts / "instructor-students.png")
    assert exported_totals(course.folder)[course.student] == total

    # 4. The student's feedback, made again after hand grading.
    run_nbgrader(course.folder, "generate_feedback", course.sheet, "--force")
    feedback = course.folder / "feedback" / course.student / course.sheet / f"{course.sheet}.html"
    page.goto(feedback.as_uri())
    heading = page.locator("h4", has_text=f"{course.sheet} (Score:")
    assert score_pair(heading.inner_text().split("Score:")[1]) == (total, max_total)
    entry = page.locator("#toc li", has=page.locator(f"a[href='#{ANSWER}']"))
    assert score_pair(entry.inner_text().split("Score:")[1]) == (POINTS_GIVEN, 2.0)
    assert COMMENT in page.locator("body").inner_text()
    page.locator(f"a[name='comment-{ANSWER}']").scroll_into_view_if_needed()
    page.screenshot(path=artifacts / "instructor-feedback.png")
