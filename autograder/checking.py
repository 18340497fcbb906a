"""What a check needs to judge an answer that crossed the boundary as data.

A check (``autograder/sheets/<sheet>/checks.py``) receives the challenge it handed out
and the student's :class:`~autograder.engine.answers.Answer`, whose arrays are plain
float64 ndarrays read from the probe's files.  It compares them with the sheet's
reference and raises :class:`GradingError`, whose message is what the student reads
under the test cell.  Nothing here ever sees a student object.
"""
import numpy as np


class GradingError(AssertionError):
    """A test failed; the message tells the student what was expected."""


def assert_close(actual: np.ndarray, expected, *, rtol: float = 1e-5, atol: float = 1e-8, name: str = "the result"):
    """Raise :class:`GradingError` unless ``|actual - expected| <= atol + rtol·|expected|``
    everywhere (``actual`` must already have ``expected``'s shape)."""
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise GradingError(f"{name} should have shape {expected.shape}, got {actual.shape}")
    error = np.abs(actual - expected)
    bound = atol + rtol * np.abs(expected)
    if not np.all(error <= bound):
        worst = int(np.argmax(error - bound))
        raise GradingError(
            f"{name} differs from the expected values: largest error {float(error.ravel()[worst]):.3g} "
            f"at flat index {worst} (allowed {float(bound.ravel()[worst]):.3g})"
        )


def relative_error(actual: np.ndarray, expected) -> float:
    """‖actual − expected‖₂ / ‖expected‖₂ (the plain difference when the reference vanishes)."""
    expected = np.asarray(expected, dtype=np.float64)
    norm = float(np.linalg.norm(expected))
    difference = float(np.linalg.norm(actual - expected))
    return difference / norm if norm > 0 else difference
