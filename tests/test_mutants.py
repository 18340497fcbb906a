"""Mutant coverage of the hidden tests (issue 7): every check accepts the reference and
rejects at least five plausible wrong answers.  Prints the kill rate per sheet; sheets
whose ``autograder/mutants/<sheet>.py`` does not exist yet are skipped with a message."""
import pytest

from autograder import SHEETS, mutants

pytestmark = pytest.mark.slow
PRESENT = [sheet for sheet in SHEETS if mutants.load(sheet) is not None]
_OUTCOMES = {}


def _outcomes(sheet):
    if sheet not in _OUTCOMES:
        _OUTCOMES[sheet] = mutants.run(sheet)
    return _OUTCOMES[sheet]


@pytest.mark.parametrize("sheet", SHEETS)
def test_kill_rate(sheet, capsys):
    if sheet not in PRESENT:
        with capsys.disabled():
            print(f"\n{sheet}: no autograder/sheets/{sheet}/mutants.py yet, skipped")
        pytest.skip(f"autograder/sheets/{sheet}/mutants.py does not exist yet")
    outcomes = _outcomes(sheet)
    with capsys.disabled():
        print("\n" + mutants.table(outcomes))
    rejected = [o for o in outcomes if not o.mutant and o.raised]
    assert not rejected, [f"{o.test}: {o.raised}: {o.message}" for o in rejected]
    survivors = [f"{o.test}: {o.mutant} ({o.raised or 'passed'})" for o in outcomes if o.mutant and not o.ok]
    assert not survivors, survivors


@pytest.mark.parametrize("sheet", PRESENT)
def test_every_check_has_five_mutants(sheet):
    assert mutants.coverage_problems(sheet) == []


def test_runner_counts_kills():
    """The runner itself: a passing mutant is a survivor, a raising one is killed."""
    outcomes = [mutants.Outcome("s", "check_a", "", "", "", 0.0),
                mutants.Outcome("s", "check_a", "sign", "GradingError", "x", 0.0),
                mutants.Outcome("s", "check_a", "factor", "", "", 0.0)]
    assert mutants.kill_rates(outcomes) == {"s": (1, 2, 1, 1)}
    assert [o.ok for o in outcomes] == [True, True, False]
    assert "survived" in mutants.table(outcomes)
