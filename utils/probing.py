"""Probes: how a graded notebook hands the student's answers to the grader, as data.

The hidden part of every autograded test cell is one call,

    from utils.probing import probe as _probe
    _probe("sheet1_analytic", "test_layer1", layer1=layer1)

which runs the sheet's *probe* for that test: a short function that calls the student's
objects on the test's *challenge* (inputs drawn by the grader) and returns what came
back.  Nothing here knows an expected value, and nothing here decides a grade.

Where it runs decides what happens next:

* **In a grading sandbox** (the variable ``COURSE_PROBE_DIR`` names the job's probe
  folder): the probe functions come from ``probes.py`` and the challenge from
  ``challenges/<test>.npz`` in that folder; the answers are written as data to
  ``answers/<test>.json`` (a manifest) and ``answers/<test>.npz`` (float64 arrays).  A
  separate checker process reads those files later; the kernel never sees a check, a
  reference or an expected value.
* **Anywhere else** (the instructor running the solution notebook, ``nbgrader
  validate``, nbval): the same probe runs on the sheet's instructor challenge and the
  answer goes through the same encoding to the sheet's check, in this process; a wrong
  answer raises ``AssertionError`` with the check's message.

Only values of exact, known types are encoded (``type(x) is ...``; subclasses are not
trusted to describe themselves): NumPy arrays and scalars and torch tensors become
float64 arrays, Python numbers become 0-d arrays, sympy objects become a tree
(:mod:`utils.sympy_tree`), lists and tuples are encoded item by item, ``None``, bools and
short strings are kept.  Anything else is recorded as *unsupported*, and the check tells
the student which type it expected.
"""
from __future__ import annotations

import importlib.util
import io
import json
import os
import sys

import numpy as np

PROBE_DIR_VARIABLE = "COURSE_PROBE_DIR"
FORMAT = 1
MAX_LIST_ITEMS = 1000
MAX_DEPTH = 4
MAX_TEXT = 2000
_NUMERIC_KINDS = "biuf"  # bool, signed and unsigned integers, floats


class StudentCodeError(Exception):
    """The student's code raised (or is not written yet); the message names the call."""


def call(function, name: str, *args, **kwargs):
    """Call the student's ``function``; an exception becomes :class:`StudentCodeError`
    with a message that says which function failed and how."""
    if not callable(function):
        raise StudentCodeError(f"{name} should be a function or class, got {type(function).__name__}")
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise StudentCodeError(f"{name} is not implemented yet (it raised NotImplementedError)") from None
    except Exception as error:  # noqa: BLE001 - any failure of student code is reported, not raised
        raise StudentCodeError(f"{name} raised {type(error).__name__}: {_short(str(error))}") from None


def probe(sheet: str, test: str, **objects) -> None:
    """Run the probe of ``sheet``'s ``test`` on the student's ``objects`` (see the module
    docstring for where the answers go)."""
    directory = os.environ.get(PROBE_DIR_VARIABLE)
    if directory:
        _probe_for_grader(directory, test, objects)
        return
    from autograder.engine import local  # instructor side only: never importable in a sandbox

    local.probe_and_check(sheet, test, objects)


# ----------------------------------------------------------------------------- running
def run_probe(probe_function, challenge: dict, objects: dict) -> tuple[dict, dict]:
    """Run one probe; returns (manifest, arrays) ready to be written.  Never raises for
    a failure of the student's code: the manifest records it."""
    error, values = None, {}
    try:
        returned = probe_function(challenge, **objects)
        if type(returned) is not dict:
            raise TypeError(f"the probe returned {type(returned).__name__}, not a dict")
        values = returned
    except StudentCodeError as failure:
        error = str(failure)
    except NotImplementedError:
        error = "the answer is not implemented yet (NotImplementedError)"
    except Exception as failure:  # noqa: BLE001 - e.g. a name the student never defined
        error = f"{type(failure).__name__}: {_short(str(failure))}"
    arrays: dict = {}
    encoded = {str(name): _encode(value, arrays, 0) for name, value in values.items()} if error is None else {}
    return {"format": FORMAT, "error": error, "values": encoded}, arrays


def pack(manifest: dict, arrays: dict) -> tuple[bytes, bytes]:
    """The two files of one answer: the JSON manifest and the ``.npz`` of its arrays."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return json.dumps(manifest, allow_nan=False).encode("utf-8"), buffer.getvalue()


def read_challenge(path: str) -> dict:
    """The challenge of a test: named arrays, read without pickles."""
    with np.load(path, allow_pickle=False) as stored:
        return {name: stored[name] for name in stored.files}


# ----------------------------------------------------------------------------- encoding
def _encode(value, arrays: dict, depth: int) -> dict:
    kind = type(value)
    if value is None:
        return {"kind": "none"}
    if kind is bool:
        return {"kind": "flag", "value": value}
    if kind is str:
        return {"kind": "text", "value": value[:MAX_TEXT]}
    if kind in (int, float) or kind in _NUMPY_SCALARS:
        return _array_node(np.asarray(value, dtype=np.float64), arrays)
    if kind is np.ndarray:
        if value.dtype.kind not in _NUMERIC_KINDS:
            return {"kind": "unsupported", "type": f"ndarray of dtype {value.dtype}"}
        return _array_node(value.astype(np.float64, copy=True), arrays)
    torch = sys.modules.get("torch")
    if torch is not None and kind in (torch.Tensor, torch.nn.Parameter):
        if value.is_complex() or value.layout is not torch.strided:
            return {"kind": "unsupported", "type": f"tensor ({value.dtype}, {value.layout})"}
        return _array_node(value.detach().to("cpu", torch.float64).numpy().copy(), arrays)
    if kind in (list, tuple):
        if depth >= MAX_DEPTH or len(value) > MAX_LIST_ITEMS:
            return {"kind": "unsupported", "type": f"{kind.__name__} nested too deep or too long"}
        return {"kind": "list", "items": [_encode(item, arrays, depth + 1) for item in value]}
    sympy = sys.modules.get("sympy")
    if sympy is not None and isinstance(value, (sympy.Basic, sympy.MatrixBase)):
        from utils import sympy_tree

        try:
            return {"kind": "expression", "tree": sympy_tree.encode(value)}
        except sympy_tree.NotAnExpression as error:
            return {"kind": "unsupported", "type": str(error)}
    return {"kind": "unsupported", "type": kind.__name__}


_NUMPY_SCALARS = (np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
                  np.uint8, np.uint16, np.uint32, np.uint64)


def _array_node(array: np.ndarray, arrays: dict) -> dict:
    key = f"a{len(arrays)}"
    arrays[key] = np.array(array, dtype=np.float64, order="C")  # keeps 0-d (ascontiguousarray makes it 1-d)
    return {"kind": "array", "key": key}


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ----------------------------------------------------------------------------- in a sandbox
_LOADED: dict = {}


def _probe_for_grader(directory: str, test: str, objects: dict) -> None:
    path = os.path.join(directory, "probes.py")
    module = _LOADED.get(path)
    if module is None:
        spec = importlib.util.spec_from_file_location("course_probes", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _LOADED[path] = module
    challenge = read_challenge(os.path.join(directory, "challenges", f"{test}.npz"))
    manifest, arrays = run_probe(getattr(module, test), challenge, objects)
    answers = os.path.join(directory, "answers")
    manifest_bytes, arrays_bytes = pack(manifest, arrays)
    for suffix, data in ((".npz", arrays_bytes), (".json", manifest_bytes)):
        temporary = os.path.join(answers, f".{test}{suffix}.partial")
        with open(temporary, "wb") as stream:
            stream.write(data)
        os.replace(temporary, os.path.join(answers, test + suffix))
