"""Building blocks of the hidden tests.

A hidden test calls the student's code on inputs the student has not seen, coerces what
comes back to plain float64 arrays (or sympy expressions, see
:mod:`autograder.symbolic`) and compares it with an independent reference.  It never
relies on the student's objects: an object that claims to equal everything, a tensor
subclass or a NaN is turned into plain numbers first or rejected with a message that
says what was expected.

Failures raise :class:`GradingError` (an ``AssertionError``), which nbgrader counts as
0 points for that test cell; the message is what the student sees in the feedback.

The grading kernel imports this module before any student cell (see
:mod:`autograder.guard`), so the NumPy and builtin functions it uses are bound here, at
import, to private names: a student who later replaces ``np.all`` or ``isinstance``
does not change what these helpers compute.  Tensors are read through
``torch._C.TensorBase`` (an immutable type) with tensor subclasses' ``__torch_function__``
disabled, so a subclass cannot choose the numbers the grader sees.
"""
import builtins

import numpy as np

# trusted references, taken before student code runs
_array, _isfinite, _abs, _all, _argmax = np.array, np.isfinite, np.abs, np.all, np.argmax
_norm, _float64, _ndarray, _view = np.linalg.norm, np.float64, np.ndarray, np.ndarray.view
_isinstance, _type, _tuple, _float, _int, _bool = (builtins.isinstance, builtins.type, builtins.tuple,
                                                    builtins.float, builtins.int, builtins.bool)


from autograder.checking import GradingError  # noqa: E402 - one class for old and new checks


def handed_to_students(cls):
    """Mark a class of test fixtures (a small network, a quantity of interest) whose
    instances a hidden test passes to the student's code, which may call their methods.

    Every other function and class of the ``autograder.sheet*`` modules computes answers;
    the grading kernel fails a test in which the student's code runs one of them
    (see :class:`autograder.guard.Watch`).
    """
    cls._handed_to_students = True
    return cls


def rng(seed: int) -> np.random.Generator:
    """The random generator of a hidden test: fixed seeds keep grades deterministic."""
    return np.random.default_rng(seed)


def as_array(value, *, shape=None, name: str = "the result") -> np.ndarray:
    """A fresh float64 ndarray holding the numbers in ``value``.

    Accepts NumPy arrays, torch tensors and nested sequences of numbers.  Raises
    :class:`GradingError` for other types, for a shape other than ``shape`` (a tuple,
    ``None`` to accept any) and for NaN or infinite entries.
    """
    value = _plain_tensor(value)
    if _isinstance(value, _ndarray):
        value = _view(value, _ndarray)
    try:
        array = _array(value, dtype=_float64, copy=True, subok=False)
    except (TypeError, ValueError, OverflowError) as error:
        raise GradingError(f"{name} should be an array of numbers, got {_type(value).__name__} ({error})") from None
    if _type(array) is not _ndarray:  # pragma: no cover - np.array with subok=False
        raise GradingError(f"{name} should be an array of numbers")
    if shape is not None and _tuple(array.shape) != _tuple(shape):
        raise GradingError(f"{name} should have shape {_tuple(shape)}, got {_tuple(array.shape)}")
    if not _bool(_all(_isfinite(array))):
        raise GradingError(f"{name} contains NaN or infinite values")
    return array


def _plain_tensor(value):
    """A torch tensor (subclasses included) as a float64 ndarray; other values unchanged."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not _isinstance(value, torch._C.TensorBase):
        return value
    base = torch._C.TensorBase
    with torch._C.DisableTorchFunctionSubclass():
        plain = base.to(base.cpu(base.detach(value)), torch.float64)
        return _array(base.numpy(plain), copy=True)


def assert_close(actual, expected, *, rtol: float = 1e-5, atol: float = 1e-8, name: str = "the result"):
    """Raise :class:`GradingError` unless ``|actual - expected| <= atol + rtol·|expected|``
    everywhere; both are coerced with :func:`as_array` first."""
    expected = as_array(expected, name="the reference")
    actual = as_array(actual, shape=expected.shape, name=name)
    error = _abs(actual - expected)
    bound = atol + rtol * _abs(expected)
    if not _bool(_all(error <= bound)):
        worst = _int(_argmax(error - bound))
        raise GradingError(
            f"{name} differs from the expected values: largest error {_float(error.ravel()[worst]):.3g} "
            f"at flat index {worst} (allowed {_float(bound.ravel()[worst]):.3g})"
        )


def relative_error(actual, expected) -> float:
    """‖actual − expected‖₂ / ‖expected‖₂ of two coerced arrays (0 when both vanish)."""
    actual, expected = as_array(actual), as_array(expected)
    norm = _float(_norm(expected))
    difference = _float(_norm(actual - expected))
    return difference / norm if norm > 0 else difference


def call_student(function, *args, name: str, **kwargs):
    """Call the student's ``function``; whatever it raises becomes a :class:`GradingError`
    that names the function, so the feedback says where the code failed."""
    try:
        return function(*args, **kwargs)
    except GradingError:
        raise
    except NotImplementedError:
        raise GradingError(f"{name} is not implemented yet (it raised NotImplementedError)") from None
    except Exception as error:  # noqa: BLE001 - any crash of student code is a failed test
        raise GradingError(f"{name} raised {type(error).__name__}: {error}") from None
