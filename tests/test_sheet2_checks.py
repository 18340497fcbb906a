"""Sheet 2's references and hidden tests: references against independent formulations,
every check accepts the reference and rejects every mutant."""
import numpy as np
import pytest
import sympy

from autograder.sheets.sheet2_cifar import reference as checks
from autograder.hidden import GradingError
from autograder.sheets.sheet2_cifar import mutants as mutants


@pytest.mark.parametrize("scale", [1.0, 30.0, 300.0])
def test_geterrorgrad_matches_finite_differences_even_for_large_scores(scale):
    generator = np.random.default_rng(int(scale))
    y = generator.standard_normal((4, 1, 1, 10)) * scale
    y[0, 0, 0] = -scale  # no evidence at all: the default class wins
    t = np.eye(10)[generator.integers(0, 10, 4)].reshape(4, 1, 1, 10)
    grad = checks.reference_geterrorgrad(y.astype(np.float32), t)
    assert np.isfinite(grad).all()
    for index in np.ndindex(y.shape):
        step = 1e-5 * max(1.0, abs(y[index]))
        plus, minus = y.copy(), y.copy()
        plus[index] += step
        minus[index] -= step
        numeric = (checks.error(plus, t) - checks.error(minus, t)) / (2 * step)
        assert grad[index] == pytest.approx(numeric, abs=1e-5), index


def test_geterrorgrad_matches_the_sympy_derivative():
    ys, ts = sympy.symbols("y1:11"), sympy.symbols("t1:11")
    denominator = 1 + sum(sympy.exp(v) for v in ys)
    E = -sum(ti * sympy.log(sympy.exp(yi) / denominator) for ti, yi in zip(ts, ys))
    generator = np.random.default_rng(7)
    y = generator.standard_normal((1, 1, 1, 10)) * 3
    t = np.eye(10)[[4]].reshape(1, 1, 1, 10)
    values = {**dict(zip(ys, y.ravel())), **dict(zip(ts, t.ravel()))}
    exact = np.array([float(sympy.diff(E, v).evalf(subs=values)) for v in ys])
    np.testing.assert_allclose(checks.reference_geterrorgrad(y, t).ravel(), exact, rtol=1e-5, atol=1e-7)


def test_error_is_stable_and_matches_the_direct_formula():
    y = np.array([[1.0, -2.0, 0.5]])
    t = np.array([[0.0, 1.0, 0.0]])
    direct = -np.log(np.exp(-2.0) / (1 + np.exp(y).sum()))
    assert checks.error(y, t) == pytest.approx(direct)
    assert np.isfinite(checks.error(np.array([[900.0, -900.0, 0.0]]), t))


def test_reference_buildcnn_trains_on_the_sample():
    """A few hundred reference SGD steps on the course's sample beat chance clearly."""
    from utils import cifar10

    X, T = cifar10.load_sample("train")
    generator = np.random.default_rng(0)
    net = checks.reference_buildcnn(generator)
    for _ in range(300):
        checks.reference_trainingstep(net, X, T, generator=generator)
    Xtest, Ttest = cifar10.load_sample("test")
    assert checks.accuracy(net, Xtest, Ttest) > 0.25


def test_unfinished_or_crashing_answers_get_a_message():
    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(GradingError, match="not implemented"):
        checks.check_geterrorgrad(unfinished)
    with pytest.raises(GradingError, match="raised ZeroDivisionError"):
        checks.check_buildcnn(lambda: 1 / 0)
    with pytest.raises(GradingError, match="layers"):
        checks.check_buildcnn(lambda: "a network")
    with pytest.raises(GradingError, match="shape"):
        checks.check_geterrorgrad(lambda y, t: y[:, 0])
