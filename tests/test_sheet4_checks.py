"""Sheet 4's hidden tests accept the reference answers and reject every mutant."""
import pytest

from autograder import sheet4_influence as checks
from autograder.hidden import GradingError
from autograder.mutants import sheet4_influence as mutants

CASES = [(check, label, args) for check, table in mutants.MUTANTS.items() for label, args in table.items()]


@pytest.mark.parametrize("check", sorted(mutants.CORRECT))
def test_reference_passes(check):
    getattr(checks, check)(*mutants.CORRECT[check])


@pytest.mark.parametrize("check,label,args", CASES, ids=[f"{c}-{label}" for c, label, _ in CASES])
def test_mutant_is_rejected(check, label, args):
    with pytest.raises(GradingError):
        getattr(checks, check)(*args)


def test_every_check_has_at_least_five_mutants():
    for check in mutants.CORRECT:
        assert len(mutants.MUTANTS[check]) >= 5, check


def test_crashing_or_unfinished_answers_get_a_message():
    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not implemented"):
        checks.check_integrated_gradients(unfinished)
    with pytest.raises(GradingError, match="raised ZeroDivisionError"):
        checks.check_influence(lambda *a, **k: 1 / 0)
    with pytest.raises(GradingError, match="shape"):
        checks.check_top_neurons(lambda chi, k: [[0]])
