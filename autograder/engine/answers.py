"""The strict reader of what a probe wrote (checker side).

A probe (:mod:`utils.probing`) leaves two files per test in the job's ``answers/``
folder: ``<test>.json``, a small manifest, and ``<test>.npz``, its float64 arrays.  Both
were written by the student's process, so they are read here as hostile bytes: sizes are
capped before parsing, the manifest must match the schema exactly, the archive is read
with ``allow_pickle=False`` and every array must be a float64 ndarray of bounded size.
What comes out is an :class:`Answer`, whose accessors raise
:class:`~autograder.checking.GradingError` with a message for the student whenever a
value is missing or of the wrong kind.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field

import numpy as np

from autograder.checking import GradingError

FORMAT = 1
MAX_MANIFEST_BYTES = 4 * 2**20
MAX_ARRAYS_BYTES = 256 * 2**20
MAX_ARRAYS = 4096
MAX_NDIM = 8
KINDS = ("array", "expression", "text", "flag", "none", "list", "unsupported")
_DESCRIPTIONS = {"array": "an array of numbers", "expression": "a sympy expression", "text": "a string",
                 "flag": "a bool", "none": "None", "list": "a list", "unsupported": "an unsupported value"}


class MalformedAnswer(GradingError):
    """The answer files do not follow the probe's format (they were written by hand)."""


@dataclass
class Answer:
    """One test's answer: the error the probe recorded, or its named values."""

    error: str | None = None
    values: dict = field(default_factory=dict)
    arrays: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ accessors
    def node(self, name: str, what: str) -> dict:
        if name not in self.values:
            raise GradingError(f"{what}: no value was recorded (did the code run to the end?)")
        return self.values[name]

    def array(self, name: str, *, shape=None, what: str | None = None) -> np.ndarray:
        """The named value as a float64 array (shape checked when given; finite)."""
        what = what or name
        return self._array_of(self.node(name, what), shape, what)

    def items(self, name: str, *, what: str | None = None) -> list:
        """The named value, which must be a list or tuple, as its list of nodes."""
        what = what or name
        node = self.node(name, what)
        if node["kind"] != "list":
            raise GradingError(f"{what} should be a list or tuple, got {_describe(node)}")
        return node["items"]

    def arrays_of(self, name: str, *, shapes=None, what: str | None = None) -> list:
        """The named list of arrays (one shape per item when ``shapes`` is given)."""
        what = what or name
        items = self.items(name, what=what)
        if shapes is not None and len(items) != len(shapes):
            raise GradingError(f"{what} should hold {len(shapes)} items, got {len(items)}")
        return [self._array_of(item, None if shapes is None else shapes[i], f"{what}[{i}]")
                for i, item in enumerate(items)]

    def expression_tree(self, name: str, *, what: str | None = None):
        """The named sympy tree (decode it with :func:`autograder.symbolic.decode`)."""
        what = what or name
        node = self.node(name, what)
        if node["kind"] != "expression":
            raise GradingError(f"{what} should be a sympy expression built from the sheet's symbols, "
                               f"got {_describe(node)}")
        return node["tree"]

    def flag(self, name: str, *, what: str | None = None) -> bool:
        what = what or name
        node = self.node(name, what)
        if node["kind"] != "flag":
            raise GradingError(f"{what} should be True or False, got {_describe(node)}")
        return node["value"]

    def _array_of(self, node: dict, shape, what: str) -> np.ndarray:
        if node["kind"] != "array":
            raise GradingError(f"{what} should be an array or tensor of numbers, got {_describe(node)}")
        array = self.arrays[node["key"]]
        if shape is not None and tuple(array.shape) != tuple(shape):
            raise GradingError(f"{what} should have shape {tuple(shape)}, got {tuple(array.shape)}")
        if not np.all(np.isfinite(array)):
            raise GradingError(f"{what} contains NaN or infinite values")
        return array


def _describe(node: dict) -> str:
    if node["kind"] == "unsupported":
        return f"a value of type {node['type']}"
    return _DESCRIPTIONS[node["kind"]]


# ----------------------------------------------------------------------------- reading
def read(manifest: bytes | None, archive: bytes | None) -> Answer:
    """Parse one test's answer files (``None`` where a file is missing)."""
    if manifest is None:
        return Answer(error="no answer was recorded: the test cell did not reach its probe "
                            "(an error earlier in the cell, the kernel stopped, or the cell was not run)")
    if len(manifest) > MAX_MANIFEST_BYTES:
        raise MalformedAnswer("the answer manifest is larger than any answer of this course")
    try:
        document = json.loads(manifest.decode("utf-8"), parse_constant=_reject_constant,
                              object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedAnswer(f"the answer manifest is not valid JSON ({type(error).__name__})") from None
    _expect(type(document) is dict and set(document) == {"format", "error", "values"}, "manifest keys")
    _expect(document["format"] == FORMAT and type(document["format"]) is int, "manifest format")
    error = document["error"]
    _expect(error is None or type(error) is str, "error field")
    values = document["values"]
    _expect(type(values) is dict, "values field")
    keys: set = set()
    for name, node in values.items():
        _expect(type(name) is str and len(name) <= 200, "value name")
        _check_node(node, keys, 0)
    arrays = _read_arrays(archive, keys) if keys else {}
    return Answer(error=error if error is None else error[:2000], values=values, arrays=arrays)


def _reject_constant(name):
    raise ValueError(f"{name} is not allowed")


def _unique_keys(pairs):
    """A JSON object whose keys are all different (json keeps the last of duplicates, so
    a hand-written manifest could show one value to one reader and another to the next)."""
    document = dict(pairs)
    if len(document) != len(pairs):
        raise ValueError("duplicate keys")
    return document


def _expect(condition: bool, what: str):
    if not condition:
        raise MalformedAnswer(f"the answer files are malformed ({what}); answers are written by the grader's probes only")


def _check_node(node, keys: set, depth: int):
    _expect(type(node) is dict and type(node.get("kind")) is str and node["kind"] in KINDS, "node kind")
    kind = node["kind"]
    fields = {"array": {"kind", "key"}, "expression": {"kind", "tree"}, "text": {"kind", "value"},
              "flag": {"kind", "value"}, "none": {"kind"}, "list": {"kind", "items"}, "unsupported": {"kind", "type"}}
    _expect(set(node) == fields[kind], f"fields of a {kind} node")
    if kind == "array":
        _expect(type(node["key"]) is str and node["key"] not in keys and len(keys) < MAX_ARRAYS, "array key")
        keys.add(node["key"])
    elif kind in ("text", "unsupported"):
        value = node["value" if kind == "text" else "type"]
        _expect(type(value) is str and len(value) <= 4000, f"{kind} value")
    elif kind == "flag":
        _expect(type(node["value"]) is bool, "flag value")
    elif kind == "list":
        _expect(type(node["items"]) is list and depth < 6 and len(node["items"]) <= 4096, "list items")
        for item in node["items"]:
            _check_node(item, keys, depth + 1)
    elif kind == "expression":
        _expect(_plain_tree(node["tree"], 0), "expression tree")


def _plain_tree(tree, depth: int) -> bool:
    """Only lists, strings and integers, nested at most 200 deep (checked again by the decoder)."""
    if depth > 200:
        return False
    if type(tree) is list:
        return len(tree) <= 100_000 and all(_plain_tree(item, depth + 1) for item in tree)
    return type(tree) in (str, int)


def _read_arrays(archive: bytes | None, keys: set) -> dict:
    _expect(archive is not None, "the array file is missing")
    _expect(len(archive) <= MAX_ARRAYS_BYTES, "the array file is too large")
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            infos = bundle.infolist()
            _expect(len(infos) <= MAX_ARRAYS and sum(i.file_size for i in infos) <= MAX_ARRAYS_BYTES, "array sizes")
            _expect(len({i.filename for i in infos}) == len(infos), "array names")  # one member per name
        with np.load(io.BytesIO(archive), allow_pickle=False) as stored:
            _expect(set(stored.files) == keys, "array names")
            arrays = {}
            for key in keys:
                array = stored[key]
                _expect(type(array) is np.ndarray and array.dtype == np.float64 and array.ndim <= MAX_NDIM,
                        "array type")
                arrays[key] = array
            return arrays
    except MalformedAnswer:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise MalformedAnswer(f"the array file cannot be read ({type(error).__name__})") from None

