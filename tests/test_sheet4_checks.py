"""Sheet 4's hidden tests explain what is wrong with an unfinished or crashing answer
(that they accept the reference and reject every mutant is tests/test_mutants.py's job)."""
import pytest

from autograder.sheets.sheet4_influence import reference as checks
from autograder.hidden import GradingError
from autograder.sheets.sheet4_influence import mutants as mutants


def test_crashing_or_unfinished_answers_get_a_message():
    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not implemented"):
        checks.check_integrated_gradients(unfinished)
    with pytest.raises(GradingError, match="raised ZeroDivisionError"):
        checks.check_influence(lambda *a, **k: 1 / 0)
    with pytest.raises(GradingError, match="shape"):
        checks.check_top_neurons(lambda chi, k: [[0]])
