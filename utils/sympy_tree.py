"""A sympy answer as plain data: the tree the grader reads back with its own parser.

:func:`encode` walks an expression or matrix and writes every node as a JSON list
``[class name, ...]``, so the tree holds nothing but lists, strings and integers.  Only
nodes whose type is *exactly* one of the classes listed here are written: the type is
compared with ``is`` and looked up by ``id``, so an object of any other class (a
subclass included) is refused before any of its methods could run.  The grader rebuilds
the expression from the tree with its own classes and symbols
(:func:`autograder.symbolic.decode`), which accepts the same grammar.

The grammar:

* ``["Symbol", name]``; ``["Integer", digits]``; ``["Rational", p, q]`` (digits as
  strings); ``["Float", text]`` (the shortest decimal that gives the same float back,
  which the grader reads as an exact rational); ``["Constant", name]`` for ``E``, ``pi``,
  ``I``, ``oo``, ``-oo``, ``zoo``, ``nan``, ``true`` and ``false``;
* ``["Matrix", rows, columns, [entries row by row]]``, only as the whole answer;
* ``[operation, argument, ...]`` for the operations in :data:`OPERATIONS`;
* relations (``<``, ``<=``, ``Eq`` …) and ``And``/``Or``/``Not`` only inside the
  condition of a ``Piecewise`` branch, ``["ExprCondPair", value, condition]``.
"""
import sympy
from sympy.functions.elementary.piecewise import ExprCondPair

MAX_NODES = 20_000
"""Largest number of nodes in one answer (a page of algebra has a few hundred)."""
MAX_DEPTH = 150
"""Deepest nesting of operations in one answer."""
MAX_DIGITS = 300
"""Most decimal digits of one integer, numerator or denominator."""

#: Operations written with their arguments, by class name (values of an expression).
OPERATIONS = {cls.__name__: cls for cls in (
    sympy.Add, sympy.Mul, sympy.Pow, sympy.exp, sympy.log, sympy.Abs, sympy.Max, sympy.Min,
    sympy.sign, sympy.Heaviside, sympy.Piecewise)}
#: Relations and logical operations, allowed only in the condition of a Piecewise branch.
CONDITIONS = {cls.__name__: cls for cls in (
    sympy.StrictGreaterThan, sympy.StrictLessThan, sympy.GreaterThan, sympy.LessThan, sympy.Equality,
    sympy.Unequality, sympy.And, sympy.Or, sympy.Not)}
#: Named constants: (sympy object, name in the tree).
CONSTANTS = ((sympy.E, "E"), (sympy.pi, "pi"), (sympy.I, "I"), (sympy.oo, "oo"), (sympy.S.NegativeInfinity, "-oo"),
             (sympy.zoo, "zoo"), (sympy.nan, "nan"), (sympy.true, "true"), (sympy.false, "false"))
_INTEGERS = (sympy.Integer, sympy.core.numbers.Zero, sympy.core.numbers.One, sympy.core.numbers.NegativeOne)
_RATIONALS = (sympy.Rational, sympy.core.numbers.Half)
_MATRICES = (sympy.ImmutableDenseMatrix, sympy.MutableDenseMatrix, sympy.ImmutableSparseMatrix,
             sympy.MutableSparseMatrix)

# Lookups by id(): neither hashing nor comparing a class can run code of the student's.
_OPERATION_BY_ID = {id(cls): name for name, cls in OPERATIONS.items()}
_CONDITION_BY_ID = {id(cls): name for name, cls in CONDITIONS.items()}
_CONSTANT_BY_ID = {id(type(value)): name for value, name in CONSTANTS}
_INTEGER_IDS = {id(cls) for cls in _INTEGERS}
_RATIONAL_IDS = {id(cls) for cls in _RATIONALS}
_MATRIX_IDS = {id(cls) for cls in _MATRICES}
_class_name = type.__dict__["__name__"].__get__  # the real name, whatever a metaclass claims

#: Why some well-known classes are not answers, in words.
_HINTS = {
    "Derivative": "an unevaluated derivative: call .doit() on it",
    "Integral": "an unevaluated integral: call .doit() on it",
    "Sum": "an unevaluated sum: call .doit() on it",
    "Product": "an unevaluated product: call .doit() on it",
    "Limit": "an unevaluated limit: call .doit() on it",
    "UnevaluatedExpr": "an UnevaluatedExpr: call .doit() on it",
    "Tuple": "a sympy Tuple: write a vector as a sympy Matrix",
    "list": "a list: write a vector as a sympy Matrix",
    "tuple": "a tuple: write a vector as a sympy Matrix",
    "str": "a string: build the answer from the symbols of utils.symbols",
    "int": "a Python number: write it as a sympy number, e.g. sympy.Integer(0) or sympy.Rational(1, 2)",
    "float": "a Python number: write it as a sympy number, e.g. sympy.Integer(0) or sympy.Rational(1, 2)",
    "ndarray": "a NumPy array: write a vector as a sympy Matrix",
    "Dummy": "a Dummy symbol: use the symbols of utils.symbols",
    "MatrixSymbol": "a MatrixSymbol: use the explicit matrices of utils.symbols",
    "MatMul": "a matrix expression: use the explicit matrices of utils.symbols",
    "MatAdd": "a matrix expression: use the explicit matrices of utils.symbols",
}
for _relation in CONDITIONS:
    _HINTS[_relation] = "a relation or logical statement, not a value: relations may appear only in Piecewise conditions"
_HINTS["Equality"] = "an equation, not a value: assign the right-hand side only"


class NotAnExpression(TypeError):
    """The value holds something other than the sympy numbers, symbols and operations of
    the grammar; the message names what was found (it reads well after "got ")."""


def _refuse(kind) -> NotAnExpression:
    name = _class_name(kind)[:60]
    hint = _HINTS.get(name, "not one of the sympy numbers, symbols and operations an answer may use")
    return NotAnExpression(f"{name} ({hint})")


def encode(value):
    """The JSON-able tree of a sympy expression or matrix (raises :class:`NotAnExpression`)."""
    counter = [0]
    if id(type(value)) in _MATRIX_IDS:
        rows, columns = value.shape
        if rows * columns > MAX_NODES:
            raise NotAnExpression(f"Matrix ({rows}×{columns} entries: far larger than any answer)")
        entries = [_encode(value[i, j], counter, 1) for i in range(rows) for j in range(columns)]
        return ["Matrix", rows, columns, entries]
    return _encode(value, counter, 0)


def _encode(node, counter: list, depth: int):
    counter[0] += 1
    if counter[0] > MAX_NODES:
        raise NotAnExpression(f"expression of more than {MAX_NODES} nodes (simplify it first, e.g. with sympy.simplify)")
    if depth > MAX_DEPTH:
        raise NotAnExpression(f"expression nested more than {MAX_DEPTH} levels deep (simplify it first)")
    kind = type(node)
    key = id(kind)
    if kind is sympy.Symbol:
        return ["Symbol", node.name]
    if key in _INTEGER_IDS:
        return ["Integer", _digits(node.p)]
    if key in _RATIONAL_IDS:
        return ["Rational", _digits(node.p), _digits(node.q)]
    if kind is sympy.Float:
        return _float(node)
    if key in _CONSTANT_BY_ID:
        name = _CONSTANT_BY_ID[key]
        if name in ("true", "false"):
            raise NotAnExpression(f"{name.capitalize()} (a truth value, not an expression)")
        return ["Constant", name]
    if key in _OPERATION_BY_ID:
        name = _OPERATION_BY_ID[key]
        if name == "Piecewise":
            return [name] + [_branch(pair, counter, depth + 1) for pair in node.args]
        return [name] + [_encode(argument, counter, depth + 1) for argument in node.args]
    raise _refuse(kind)


def _condition(node, counter: list, depth: int):
    """A Piecewise condition: a relation of two expressions, And/Or/Not of conditions, true or false."""
    counter[0] += 1
    if depth > MAX_DEPTH:
        raise NotAnExpression(f"expression nested more than {MAX_DEPTH} levels deep (simplify it first)")
    kind = type(node)
    key = id(kind)
    if key in _CONSTANT_BY_ID and _CONSTANT_BY_ID[key] in ("true", "false"):
        return ["Constant", _CONSTANT_BY_ID[key]]
    if key in _CONDITION_BY_ID:
        name = _CONDITION_BY_ID[key]
        if name in ("And", "Or", "Not"):
            return [name] + [_condition(argument, counter, depth + 1) for argument in node.args]
        return [name] + [_encode(argument, counter, depth + 1) for argument in node.args]
    raise NotAnExpression(f"{_class_name(kind)[:60]} as a Piecewise condition (a condition is a relation such as "
                          "a1 > a2, or And/Or/Not of relations)")


def _branch(pair, counter: list, depth: int):
    if type(pair) is not ExprCondPair:
        raise _refuse(type(pair))
    counter[0] += 1
    value, condition = pair.args
    return ["ExprCondPair", _encode(value, counter, depth + 1), _condition(condition, counter, depth + 1)]


def _digits(number: int) -> str:
    text = str(number) if number.bit_length() <= 4 * MAX_DIGITS else ""  # str() of a huge int is slow
    if not text or len(text.lstrip("-")) > MAX_DIGITS:
        raise NotAnExpression(f"Integer (a number with more than {MAX_DIGITS} digits)")
    return text


def _float(node):
    """A float as the shortest decimal text that reads back to it; a Float of more than
    double precision as all its digits."""
    text = repr(float(node)) if node._prec <= 53 else str(node)
    if text in ("inf", "-inf", "nan"):
        return ["Constant", {"inf": "oo", "-inf": "-oo", "nan": "nan"}[text]]
    if len(text) > MAX_DIGITS:
        raise NotAnExpression(f"Float (a decimal number with more than {MAX_DIGITS} digits)")
    return ["Float", text]


def symbol_names(tree) -> set:
    """The names of the symbols a tree written by :func:`encode` uses."""
    names, pending = set(), [tree]
    while pending:
        node = pending.pop()
        if type(node) is list and node and node[0] == "Symbol":
            names.add(node[1])
        elif type(node) is list:
            pending.extend(item for item in node if type(item) is list)
    return names


def undefined_constants(tree) -> list:
    """The infinite or undefined constants (oo, zoo, nan) a tree holds, which no answer may."""
    found, pending = set(), [tree]
    while pending:
        node = pending.pop()
        if type(node) is list and len(node) == 2 and node[0] == "Constant" and node[1] in ("oo", "-oo", "zoo", "nan"):
            found.add(node[1])
        elif type(node) is list:
            pending.extend(item for item in node if type(item) is list)
    return sorted(found)
