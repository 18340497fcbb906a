"""Checks of the toy sheet, against formulas written independently of the solution."""
import numpy as np
import sympy

from autograder.checking import GradingError, assert_close
from autograder.symbolic import assert_equivalent, decode

X = sympy.Symbol("x")
SYMBOLS = {"x": X}


def _unchanged(answer, name, original, what):
    if not np.array_equal(answer.array(name, shape=original.shape, what=what), original):
        raise GradingError(f"{what} changed its input in place; work on a copy")


def test_square_sum(challenge, answer):
    """s(x) = ‖x‖², compared with the dot product of x with itself."""
    x = challenge["x"]
    s = answer.array("s", shape=(), what="square_sum(x)")
    assert_close(s, np.dot(x, x), rtol=1e-9, name="square_sum(x)")
    _unchanged(answer, "x_after", x, "square_sum(x)")


def test_normalize(challenge, answer):
    """u = v / ‖v‖₂, compared with numpy's norm."""
    v = challenge["v"]
    u = answer.array("u", shape=v.shape, what="normalize(v)")
    assert_close(u, v / np.linalg.norm(v), rtol=1e-9, name="normalize(v)")
    _unchanged(answer, "v_after", v, "normalize(v)")


def test_derivative(challenge, answer):
    """d/dx (x³ eˣ), by sympy's own differentiation of the grader's expression."""
    value = decode(answer.expression_tree("value", what="derivative()"), SYMBOLS, name="derivative()")
    assert_equivalent(value, sympy.diff(X**3 * sympy.exp(X), X), SYMBOLS, name="derivative()", seed=5)
