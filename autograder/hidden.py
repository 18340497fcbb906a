"""Building blocks of the hidden tests.

A hidden test calls the student's code on inputs the student has not seen, coerces what
comes back to plain float64 arrays (or sympy expressions, see
:mod:`autograder.symbolic`) and compares it with an independent reference.  It never
relies on the student's objects: an object that claims to equal everything, a tensor
subclass or a NaN is turned into plain numbers first or rejected with a message that
says what was expected.

Failures raise :class:`GradingError` (an ``AssertionError``), which nbgrader counts as
0 points for that test cell; the message is what the student sees in the feedback.
"""
import numpy as np


class GradingError(AssertionError):
    """A hidden test failed; the message tells the student what was expected."""


def rng(seed: int) -> np.random.Generator:
    """The random generator of a hidden test: fixed seeds keep grades deterministic."""
    return np.random.default_rng(seed)


def as_array(value, *, shape=None, name: str = "the result") -> np.ndarray:
    """A fresh float64 ndarray holding the numbers in ``value``.

    Accepts NumPy arrays, torch tensors and nested sequences of numbers.  Raises
    :class:`GradingError` for other types, for a shape other than ``shape`` (a tuple,
    ``None`` to accept any) and for NaN or infinite entries.
    """
    try:
        import torch

        if isinstance(value, torch.Tensor):
            value = torch.Tensor.numpy(torch.Tensor.cpu(torch.Tensor.detach(value)).to(torch.float64))
    except ImportError:  # pragma: no cover - torch is part of the course environment
        pass
    if isinstance(value, np.ndarray):
        value = np.ndarray.view(value, np.ndarray)
    try:
        array = np.array(value, dtype=np.float64, copy=True, subok=False)
    except (TypeError, ValueError) as error:
        raise GradingError(f"{name} should be an array of numbers, got {type(value).__name__} ({error})") from None
    if shape is not None and tuple(array.shape) != tuple(shape):
        raise GradingError(f"{name} should have shape {tuple(shape)}, got {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise GradingError(f"{name} contains NaN or infinite values")
    return array


def assert_close(actual, expected, *, rtol: float = 1e-5, atol: float = 1e-8, name: str = "the result"):
    """Raise :class:`GradingError` unless ``|actual - expected| <= atol + rtol·|expected|``
    everywhere; both are coerced with :func:`as_array` first."""
    expected = as_array(expected, name="the reference")
    actual = as_array(actual, shape=expected.shape, name=name)
    error = np.abs(actual - expected)
    bound = atol + rtol * np.abs(expected)
    if not bool(np.all(error <= bound)):
        worst = int(np.argmax(error - bound))
        raise GradingError(
            f"{name} differs from the expected values: largest error {float(error.ravel()[worst]):.3g} "
            f"at flat index {worst} (allowed {float(bound.ravel()[worst]):.3g})"
        )


def relative_error(actual, expected) -> float:
    """‖actual − expected‖₂ / ‖expected‖₂ of two coerced arrays (0 when both vanish)."""
    actual, expected = as_array(actual), as_array(expected)
    norm = float(np.linalg.norm(expected))
    difference = float(np.linalg.norm(actual - expected))
    return difference / norm if norm > 0 else difference
