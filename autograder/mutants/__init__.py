"""Plausible wrong answers per sheet, used to show that the hidden tests reject them.

Each sheet's ``autograder/sheets/<sheet>/mutants.py`` exposes (see docs/authoring.md)

* ``CORRECT = {"test_x": {"name": object, ...}}`` — the objects (under the names the
  test's probe receives them by) with which the test must pass;
* ``MUTANTS = {"test_x": {"what is wrong": {"name": object, ...}, ...}}`` — at least five
  per test, every one of which the test must fail;
* ``PARTLY_WRONG`` — answer cells for the demo's partly wrong submission.

:func:`run` judges every set of objects exactly as a graded answer is judged — the probe
runs on the instructor challenge, the answer goes through the probe's encoding and the
strict reader to the check (:func:`autograder.engine.local.judge`) — and returns one
:class:`Outcome` per judgement; :func:`kill_rates` sums them per sheet.  ``python -m autograder.mutants
[SHEET ...]`` prints the table.
"""
import importlib
import time
import traceback
from dataclasses import dataclass

from autograder import SHEETS, sheets
from autograder.engine import local

MIN_MUTANTS = 5


@dataclass
class Outcome:
    sheet: str
    test: str
    mutant: str  # "" for the correct arguments
    raised: str  # "GradingError" when the test failed the answer, another exception name when the check crashed, "" when it passed
    message: str
    seconds: float

    @property
    def ok(self) -> bool:
        """The correct answer passes; a mutant is failed with a message for the student,
        not by a crash of the check itself."""
        return not self.raised if not self.mutant else self.raised == "GradingError"


def load(sheet: str):
    """The mutants module of a sheet, or None when the sheet has none."""
    try:
        return importlib.import_module(f"autograder.sheets.{sheet}.mutants")
    except ModuleNotFoundError as error:
        if error.name == f"autograder.sheets.{sheet}.mutants":
            return None
        raise


def _judge(sheet, test, mutant, objects) -> Outcome:
    started = time.perf_counter()
    try:
        message = local.judge(sheet, test, objects)
        raised = "" if message is None else "GradingError"
    except Exception as error:  # noqa: BLE001 - a crashing check is reported, not raised
        raised, message = type(error).__name__, traceback.format_exc(limit=3).splitlines()[-1]
    return Outcome(sheet, test, mutant, raised, (message or "").splitlines()[0][:200] if message else "",
                   time.perf_counter() - started)


def run(sheet: str) -> list:
    """Every test of ``sheet`` with its correct objects and with each mutant."""
    mutants = load(sheet)
    if mutants is None:
        return []
    outcomes = [_judge(sheet, test, "", objects) for test, objects in mutants.CORRECT.items()]
    for test, variants in mutants.MUTANTS.items():
        outcomes += [_judge(sheet, test, name, objects) for name, objects in variants.items()]
    return outcomes


def coverage_problems(sheet: str) -> list:
    """Tests of the sheet without correct objects or with fewer than five mutants."""
    mutants = load(sheet)
    if mutants is None:
        return []
    tests = sheets.load(sheet).tests()
    problems = []
    for name in tests:
        if name not in mutants.CORRECT:
            problems.append(f"{sheet}.{name}: no CORRECT objects")
        count = len(mutants.MUTANTS.get(name, {}))
        if count < MIN_MUTANTS:
            problems.append(f"{sheet}.{name}: {count} mutant(s), at least {MIN_MUTANTS} needed")
    for name in set(mutants.MUTANTS) | set(mutants.CORRECT):
        if name not in tests:
            problems.append(f"{sheet}: mutants name {name}, which the sheet's checks do not define")
    return problems


def kill_rates(outcomes: list) -> dict:
    """sheet -> (mutants killed, mutants, correct answers passing, correct answers)."""
    rates = {}
    for outcome in outcomes:
        killed, total, passing, correct = rates.get(outcome.sheet, (0, 0, 0, 0))
        if outcome.mutant:
            killed, total = killed + outcome.ok, total + 1
        else:
            passing, correct = passing + (not outcome.raised), correct + 1
        rates[outcome.sheet] = (killed, total, passing, correct)
    return rates


def table(outcomes: list, missing=()) -> str:
    lines = [f"{'sheet':<18} {'tests':>6} {'mutants':>8} {'killed':>7} {'kill rate':>10} {'correct pass':>13}"]
    for sheet, (killed, total, passing, correct) in kill_rates(outcomes).items():
        tests = len({o.test for o in outcomes if o.sheet == sheet})
        rate = f"{100.0 * killed / total:.1f} %" if total else "-"
        lines.append(f"{sheet:<18} {tests:>6} {total:>8} {killed:>7} {rate:>10} {passing:>6}/{correct:<6}")
    for sheet in missing:
        lines.append(f"{sheet:<18} (no autograder/sheets/{sheet}/mutants.py yet: skipped)")
    survivors = [o for o in outcomes if not o.ok]
    for outcome in survivors:
        what = f"mutant '{outcome.mutant}' survived" if outcome.mutant else f"correct answer rejected: {outcome.raised}: {outcome.message}"
        lines.append(f"  {outcome.sheet}.{outcome.test}: {what}")
    return "\n".join(lines)


def main(argv=None):
    sheets = list(argv or SHEETS)
    outcomes, missing = [], []
    for sheet in sheets:
        if load(sheet) is None:
            missing.append(sheet)
        else:
            outcomes += run(sheet)
    print(table(outcomes, missing))
    for sheet in sheets:
        for problem in coverage_problems(sheet):
            print("  " + problem)
    return 0 if all(o.ok for o in outcomes) else 1
