"""Sheet 3's hidden tests accept the reference answers and reject every mutant."""
import pytest
import torch

from autograder.sheets.sheet3_vgg import reference as checks
from autograder.hidden import GradingError
from autograder.sheets.sheet3_vgg import mutants as mutants

CASES = [(check, label, args) for check, table in mutants.MUTANTS.items() for label, args in table.items()]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("check", sorted(mutants.CORRECT))
def test_reference_passes(check):
    getattr(checks, check)(*mutants.CORRECT[check])


@pytest.mark.parametrize("check,label,args", CASES, ids=[f"{c}-{label}" for c, label, _ in CASES])
def test_mutant_is_rejected(check, label, args):
    with pytest.raises(GradingError):
        getattr(checks, check)(*args)


def test_every_check_has_at_least_five_mutants():
    assert set(mutants.MUTANTS) == set(mutants.CORRECT)
    for check in mutants.CORRECT:
        assert len(mutants.MUTANTS[check]) >= 5, check


def test_unfinished_or_crashing_answers_get_a_message():
    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not implemented"):
        checks.check_gradient_x_input(unfinished)
    with pytest.raises(GradingError, match="raised ZeroDivisionError"):
        checks.check_saturation(lambda i1, i2: 1 / 0)
    with pytest.raises(GradingError, match="shape"):
        checks.check_saliency(lambda model, X, c: torch.zeros(3))
