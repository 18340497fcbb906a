"""The graders' side of the course, set up for a real browser.

* :func:`grade_class` grades a folder of submissions with the course's own command,
  ``python -m autograder grade SUBMISSIONS --gradebook URL --out OUT``, which leaves OUT as
  an nbgrader course folder (its ``nbgrader_config.py`` points at the gradebook);
* :func:`run_nbgrader` runs nbgrader's command line in that folder, as an instructor would;
* :class:`Formgrader` is nbgrader's formgrader, opened from JupyterLab's Nbgrader menu, as
  Playwright actions: manual grading of one submission, and the students' totals.
"""
from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def grade_class(submissions: Path, out: Path, gradebook_url: str, log_path: Path, timeout: float = 1500) -> None:
    """Grade every submission into ``out`` with the gradebook at ``gradebook_url``.

    The sandbox is used where this machine has one; elsewhere the run goes on without it
    (the submissions graded here are the course's own reference answers)."""
    sys.path.insert(0, str(REPO_ROOT))
    from autograder.engine import sandbox

    command = [sys.executable, "-m", "autograder", "grade", str(submissions), "--gradebook", gradebook_url,
               "--out", str(out), "--jobs", "1", "--quiet"]
    if not sandbox.isolation().available:
        command.append("--no-isolation")
    env = dict(os.environ, COURSE_FAST_MODE="1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    with open(log_path, "w") as log:
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"grading failed ({done.returncode}):\n{log_path.read_text()[-4000:]}")


def run_nbgrader(folder: Path, *argv: str) -> str:
    """``nbgrader ARGV`` in ``folder`` (nbgrader reads ``folder/nbgrader_config.py``).

    A fresh process, as the command would be, that skips the IRI grammar jsonschema would
    otherwise compile for seconds (no notebook needs it)."""
    code = ("import sys; sys.modules['rfc3987_syntax'] = None; sys.argv = ['nbgrader'] + sys.argv[1:]; "
            "from nbgrader.apps.nbgraderapp import main; main()")
    done = subprocess.run([sys.executable, "-c", code, *argv], cwd=folder, capture_output=True, text=True,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"nbgrader {' '.join(argv)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def exported_totals(folder: Path) -> dict:
    """student -> total score of every sheet, from ``nbgrader export`` in ``folder``."""
    target = folder / "nbgrader-export.csv"
    run_nbgrader(folder, "export", "--to", str(target))
    with open(target, newline="") as stream:
        rows = list(csv.DictReader(stream))
    totals = {}
    for row in rows:
        totals[row["student_id"]] = totals.get(row["student_id"], 0.0) + float(row["score"])
    return totals


def score_pair(text: str) -> tuple[float, float]:
    """``"25 / 38"`` -> (25.0, 38.0)."""
    match = re.search(r"([\d.]+)\s*/\s*([\d.]+)", text)
    if match is None:
        raise ValueError(f"no score in {text!r}")
    return float(match.group(1)), float(match.group(2))


class Formgrader:
    """nbgrader's formgrader inside JupyterLab (Nbgrader menu -> Formgrader), in its frame."""

    def __init__(self, page, lab):
        self.page = page
        self.lab = lab

    def open(self) -> "Formgrader":
        self.page.goto(self.lab.url("lab"))
        self.page.locator("#jp-main-dock-panel").wait_for()
        self.page.locator(".lm-MenuBar-itemLabel").get_by_text("Nbgrader", exact=True).click()
        self.page.locator(".lm-Menu-itemLabel").get_by_text("Formgrader", exact=True).click()
        self.frame.get_by_role("link", name="Manage Assignments").first.wait_for()
        return self

    @property
    def frame(self):
        return self.page.frame_locator("iframe[src*='formgrader']")

    def submission_count(self, sheet: str) -> int:
        """The number of submissions of a sheet, from Manage Assignments."""
        self.frame.locator("ul.nav-pills").get_by_role("link", name="Manage Assignments").click()
        row = self.frame.locator("tr", has=self.frame.get_by_role("link", name=sheet, exact=True))
        count = row.locator("td.num-submissions")
        count.wait_for()
        return int(count.inner_text().strip())

    def open_submission(self, sheet: str, notebook: str, number: int = 1) -> None:
        """Manual Grading -> sheet -> notebook -> "Submission #number"."""
        self.frame.locator("ul.nav-pills").get_by_role("link", name="Manual Grading").click()
        self.frame.locator("table").get_by_role("link", name=sheet, exact=True).click()
        self.frame.locator("table").get_by_role("link", name=notebook, exact=True).click()
        self.frame.get_by_role("link", name=f"Submission #{number}", exact=True).click()
        self.frame.locator("input.score").first.wait_for()

    def give_points(self, grade_id: str, points: float, comment: str) -> None:
        """Type the points and the comment of an answer cell.  Formgrader saves each field
        when it loses the focus; this waits until the server has accepted each save."""
        score = self.frame.locator(f"input.score[id='{grade_id}']")
        score.scroll_into_view_if_needed()
        score.fill(f"{points:g}")
        self._save(score, "/api/grade/")
        text = self.frame.locator(f"textarea[id='{grade_id}-comment']")
        text.fill(comment)
        self._save(text, "/api/comment/")

    def _save(self, field, api: str) -> None:
        with self.page.expect_response(lambda r: api in r.url and r.request.method == "PUT") as saved:
            field.press("Tab")
        if not saved.value.ok:
            raise AssertionError(f"formgrader could not save ({saved.value.status}): {saved.value.text()[:500]}")

    def student_total(self, student: str) -> tuple[float, float]:
        """(score, max score) of a student over every sheet, from Manage Students."""
        if not self.frame.locator("ul.nav-pills").count():  # a submission's page: back through its breadcrumb
            self.frame.get_by_role("link", name="Manual Grading", exact=True).first.click()
        self.frame.locator("ul.nav-pills").get_by_role("link", name="Manage Students").click()
        cell = self.frame.locator("tr", has=self.frame.locator("td.id", has_text=student)).locator("td.score")
        cell.wait_for()
        return score_pair(cell.inner_text())
