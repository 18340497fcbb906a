"""Plausible wrong answers per sheet, used to show that the hidden tests reject them.

Each sheet's module ``autograder.mutants.<sheet>`` exposes (see docs/authoring.md)

* ``CORRECT = {"check_x": (args...)}`` — arguments with which ``autograder.<sheet>.check_x``
  must pass;
* ``MUTANTS = {"check_x": {"what is wrong": (args...), ...}}`` — at least five per check,
  every one of which the check must reject (raise);
* ``PARTLY_WRONG`` — answer cells for the demo's partly wrong submission.

:func:`run` calls every check with every argument set and returns one :class:`Outcome`
per call; :func:`kill_rates` sums them per sheet.  ``python -m autograder.mutants
[SHEET ...]`` prints the table.
"""
import importlib
import time
import traceback
from dataclasses import dataclass

from autograder import SHEETS

MIN_MUTANTS = 5


@dataclass
class Outcome:
    sheet: str
    check: str
    mutant: str  # "" for the correct arguments
    raised: str  # exception type name, "" when the check passed
    message: str
    seconds: float

    @property
    def ok(self) -> bool:
        """The correct answer passes; a mutant is rejected with a message for the student
        (a GradingError), not by a crash of the check itself."""
        return not self.raised if not self.mutant else self.raised == "GradingError"


def load(sheet: str):
    """(check module, mutants module) of a sheet, or None when the mutants module is absent."""
    try:
        mutants = importlib.import_module(f"autograder.sheets.{sheet}.mutants")
    except ModuleNotFoundError as error:
        if error.name == f"autograder.sheets.{sheet}.mutants":
            return None
        raise
    return importlib.import_module(f"autograder.sheets.{sheet}.reference"), mutants


def _call(sheet, checks, check, mutant, arguments) -> Outcome:
    started = time.perf_counter()
    try:
        getattr(checks, check)(*arguments)
        raised, message = "", ""
    except Exception as error:  # noqa: BLE001 - any exception means the check rejected it
        raised = type(error).__name__
        message = str(error).splitlines()[0][:200] if str(error) else traceback.format_exc(limit=1).splitlines()[-1]
    return Outcome(sheet, check, mutant, raised, message, time.perf_counter() - started)


def run(sheet: str) -> list:
    """Every check of ``sheet`` with its correct arguments and with each mutant."""
    loaded = load(sheet)
    if loaded is None:
        return []
    checks, mutants = loaded
    outcomes = []
    for check, arguments in mutants.CORRECT.items():
        outcomes.append(_call(sheet, checks, check, "", arguments))
    for check, variants in mutants.MUTANTS.items():
        for name, arguments in variants.items():
            outcomes.append(_call(sheet, checks, check, name, arguments))
    return outcomes


def coverage_problems(sheet: str) -> list:
    """Checks of the sheet without CORRECT arguments or with fewer than five mutants."""
    loaded = load(sheet)
    if loaded is None:
        return []
    checks, mutants = loaded
    names = sorted(n for n in dir(checks) if n.startswith("check_") and callable(getattr(checks, n)))
    problems = []
    for name in names:
        if name not in mutants.CORRECT:
            problems.append(f"{sheet}.{name}: no CORRECT arguments")
        count = len(mutants.MUTANTS.get(name, {}))
        if count < MIN_MUTANTS:
            problems.append(f"{sheet}.{name}: {count} mutant(s), at least {MIN_MUTANTS} needed")
    for name in set(mutants.MUTANTS) | set(mutants.CORRECT):
        if name not in names:
            problems.append(f"{sheet}: mutants name {name}, which autograder.{sheet} does not define")
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
    lines = [f"{'sheet':<18} {'checks':>6} {'mutants':>8} {'killed':>7} {'kill rate':>10} {'correct pass':>13}"]
    for sheet, (killed, total, passing, correct) in kill_rates(outcomes).items():
        checks = len({o.check for o in outcomes if o.sheet == sheet})
        rate = f"{100.0 * killed / total:.1f} %" if total else "-"
        lines.append(f"{sheet:<18} {checks:>6} {total:>8} {killed:>7} {rate:>10} {passing:>6}/{correct:<6}")
    for sheet in missing:
        lines.append(f"{sheet:<18} (no autograder/sheets/{sheet}/mutants.py yet: skipped)")
    survivors = [o for o in outcomes if not o.ok]
    for outcome in survivors:
        what = f"mutant '{outcome.mutant}' survived" if outcome.mutant else f"correct answer rejected: {outcome.raised}: {outcome.message}"
        lines.append(f"  {outcome.sheet}.{outcome.check}: {what}")
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
