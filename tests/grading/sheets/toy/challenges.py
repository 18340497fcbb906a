"""Inputs of the toy sheet's tests, drawn per student from the test's seed."""
import numpy as np


def test_square_sum(rng):
    """Eleven numbers of both signs, none of them zero (a plain sum would differ)."""
    return {"x": rng.normal(size=11) + np.sign(rng.normal(size=11)) * 0.1}


def test_normalize(rng):
    """A vector far from unit length, with entries of both signs."""
    return {"v": rng.normal(size=5) * rng.uniform(2.0, 5.0)}


def test_derivative(rng):
    """The derivative takes no input: the probe records the expression itself."""
    return {}
