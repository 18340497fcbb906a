"""Symbolic equivalence of a student's sympy answer with a reference closed form.

A hidden test of an analytic answer calls :func:`assert_equivalent`.  It works in three
steps, each of which either succeeds or raises :class:`~autograder.hidden.GradingError`
with a message the student can act on:

1. **Coercion** (:func:`coerce`).  The answer must be a sympy expression, a sympy
   matrix, a plain number or a (nested) list / NumPy object array of those.  It is
   rebuilt from its ``srepr`` text into fresh sympy objects, so that a subclass that
   overrides ``==`` or ``simplify`` cannot take part in the comparison; every symbol is
   then replaced, by name, with the grader's own symbol (a student who wrote
   ``Symbol("lambda")`` without ``positive=True`` still gets the positive one).  Strings,
   unknown symbols, undefined functions and wrong shapes are rejected here.
2. **Numeric guard.**  The difference ``student − reference`` is evaluated at a few
   random *rational* points (fixed seed, positive values for positive symbols).  For
   rational functions this evaluation is exact, so a near miss (a missing factor 2, a
   wrong power of γ) is rejected at once and cheaply, before any simplification.
3. **Proof.**  ``simplify`` (after the cheaper ``expand`` and ``cancel``) must reduce
   the difference to 0.  ``simplify`` may fail to prove true identities involving logs,
   exponentials or ``Max`` under assumptions; the answer is then still accepted when
   the difference vanishes at many more random points, to 40 significant digits.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from fractions import Fraction

import numpy as np
import sympy
from sympy.core.function import AppliedUndef
from sympy.parsing.sympy_parser import parse_expr

from autograder.hidden import GradingError, rng

#: Names sympy's ``srepr`` may produce; the rebuilt answer is evaluated in this namespace only.
_SYMPY_NAMESPACE: dict = {}
exec("from sympy import *", _SYMPY_NAMESPACE)  # noqa: S102 - the namespace of sympy's own printer
_SYMPY_NAMESPACE["ImmutableDenseMatrix"] = sympy.ImmutableDenseMatrix
_SYMPY_NAMESPACE["MutableDenseMatrix"] = sympy.MutableDenseMatrix

GUARD_POINTS = 5
FALLBACK_POINTS = 30
DIGITS = 40


# --------------------------------------------------------------------------------------
# Coercion
# --------------------------------------------------------------------------------------


def _launder(value, name: str):
    """A fresh sympy object equal to ``value``, built without trusting ``value``'s methods
    beyond sympy's own printer."""
    if isinstance(value, (str, bytes)):
        raise GradingError(f"{name} should be a sympy expression, not a string: write it with the symbols the notebook provides")
    if value is None:
        raise GradingError(f"{name} is None: assign the expression to the variable")
    if isinstance(value, bool):
        raise GradingError(f"{name} should be a sympy expression, got a bool")
    if isinstance(value, (int, Fraction)):
        return sympy.Rational(value)
    if isinstance(value, float):
        if not np.isfinite(value):
            raise GradingError(f"{name} is not a finite number")
        return sympy.Rational(str(value))
    if isinstance(value, np.ndarray):
        value = np.ndarray.tolist(np.asarray(value, dtype=object))
    if isinstance(value, (list, tuple)):
        return [_launder(item, name) for item in list(value)]
    if isinstance(value, np.generic):
        return _launder(np.ndarray.tolist(np.asarray(value, dtype=object)), name)
    if not isinstance(value, (sympy.Basic, sympy.MatrixBase)):
        raise GradingError(
            f"{name} should be a sympy expression or matrix built from the notebook's symbols, got {type(value).__name__}"
        )
    try:
        text = sympy.srepr(value)
        rebuilt = parse_expr(text, global_dict=dict(_SYMPY_NAMESPACE), local_dict={}, transformations=(), evaluate=True)
    except Exception as error:  # noqa: BLE001 - any failure means the object is not plain sympy
        raise GradingError(f"{name} could not be read as a sympy expression ({type(error).__name__}: {error})") from None
    if not isinstance(rebuilt, (sympy.Basic, sympy.MatrixBase)):
        raise GradingError(f"{name} should be a sympy expression, got {type(value).__name__}")
    return rebuilt


def _floats_to_rationals(expr):
    """Decimal literals such as 0.5 become exact rationals, so that 0.5*w equals w/2 exactly."""
    floats = expr.atoms(sympy.Float)
    return expr.xreplace({f: sympy.Rational(str(f)) for f in floats}) if floats else expr


def _as_scalar(expr, name: str):
    if isinstance(expr, sympy.MatrixBase) or (isinstance(expr, sympy.Basic) and getattr(expr, "is_Matrix", False)):
        raise GradingError(f"{name} should be a single expression (a scalar), got a matrix of shape {tuple(expr.shape)}")
    if isinstance(expr, list):
        raise GradingError(f"{name} should be a single expression (a scalar), got a list of {len(expr)} items")
    return expr


def _as_matrix(expr, shape: tuple[int, int], name: str):
    """A column vector (n, 1) or a matrix of exactly ``shape``; for a column, a flat list of n
    entries is accepted too."""
    if isinstance(expr, sympy.MatrixExpr) and not isinstance(expr, sympy.MatrixBase):
        expr = expr.as_explicit()
    if isinstance(expr, list):
        if shape[1] == 1 and all(not isinstance(item, list) for item in expr):
            expr = [[item] for item in expr]
        try:
            expr = sympy.ImmutableMatrix(expr)
        except Exception as error:  # noqa: BLE001
            raise GradingError(f"{name} could not be read as a matrix ({error})") from None
    if not isinstance(expr, sympy.MatrixBase):
        raise GradingError(f"{name} should be a sympy Matrix of shape {shape}, got a scalar expression")
    got = tuple(expr.shape)
    if got != tuple(shape):
        hint = ""
        if got == tuple(reversed(shape)):
            hint = " (it looks transposed: a column vector is expected)" if shape[1] == 1 else " (it looks transposed)"
        raise GradingError(f"{name} should have shape {tuple(shape)}, got {got}{hint}")
    return sympy.ImmutableMatrix(expr)


def _entries(expr) -> list:
    return list(expr) if isinstance(expr, sympy.MatrixBase) else [expr]


def coerce(value, symbols: Mapping[str, sympy.Symbol], *, shape: tuple[int, int] | None = None, name: str = "your answer"):
    """The student's ``value`` as a fresh sympy expression (``shape=None``) or an
    ``ImmutableMatrix`` of ``shape``, written in the grader's ``symbols`` (a name → symbol
    mapping).  Raises :class:`GradingError` for a wrong type, a wrong shape, an unknown
    symbol or an undefined function."""
    expr = _launder(value, name)
    expr = _as_matrix(expr, shape, name) if shape is not None else _as_scalar(expr, name)
    entries = [_floats_to_rationals(sympy.sympify(e)) for e in _entries(expr)]
    unknown, replacement = set(), {}
    for entry in entries:
        if entry.atoms(AppliedUndef):
            functions = sorted(str(f.func) for f in entry.atoms(AppliedUndef))
            raise GradingError(f"{name} uses undefined functions {functions}: use sympy functions such as sympy.log, sympy.exp")
        if entry.atoms(sympy.MatrixSymbol):
            raise GradingError(f"{name} contains a MatrixSymbol: use the explicit matrices the notebook provides")
        for symbol in entry.free_symbols:
            if not isinstance(symbol, sympy.Symbol) or symbol.name not in symbols:
                unknown.add(str(symbol))
            else:
                replacement[symbol] = symbols[symbol.name]
    if unknown:
        raise GradingError(
            f"{name} uses symbols the notebook does not provide: {sorted(unknown)}; "
            f"allowed are {sorted(symbols)}"
        )
    entries = [entry.xreplace(replacement) for entry in entries]
    for entry in entries:
        if entry.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
            raise GradingError(f"{name} contains an infinite or undefined value")
    if shape is None:
        return entries[0]
    return sympy.ImmutableMatrix(shape[0], shape[1], entries)


# --------------------------------------------------------------------------------------
# Equivalence
# --------------------------------------------------------------------------------------


def _random_value(symbol: sympy.Symbol, generator: np.random.Generator):
    """A random rational (or integer) that respects the symbol's assumptions."""
    if symbol.is_integer:
        low = 1 if symbol.is_positive else (0 if symbol.is_nonnegative else -6)
        return sympy.Integer(int(generator.integers(low, 9)))
    numerator = int(generator.integers(1, 60))
    denominator = int(generator.integers(1, 13))
    value = sympy.Rational(numerator, denominator)
    if symbol.is_positive or symbol.is_nonnegative:
        return value
    return value if generator.random() < 0.5 else -value


def _differences(difference: list, points: Iterable[dict], digits: int = DIGITS):
    """Yield (point, |difference| / scale) at each point where every entry is finite."""
    for point in points:
        values = []
        for entry in difference:
            value = sympy.N(entry.xreplace(point), digits)
            if value.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo) or not value.is_number:
                values = None
                break
            values.append(abs(complex(value)))
        if values is not None:
            yield point, max(values, default=0.0)


def _points(free: list, count: int, generator: np.random.Generator, attempts: int = 4):
    for _ in range(count * attempts):
        yield {symbol: _random_value(symbol, generator) for symbol in free}


def _numerically_equal(student: list, reference: list, count: int, seed: int, tolerance: float):
    """(True, None) if the entries agree at ``count`` random points, (False, point) at the
    first point where they differ, (None, None) if no point could be evaluated."""
    free = sorted(set().union(*(e.free_symbols for e in student + reference)), key=lambda s: s.name)
    difference = [s - r for s, r in zip(student, reference)]
    scale_terms = [sympy.Abs(r) + 1 for r in reference]
    generator = rng(seed)
    checked = 0
    for point in _points(free, count, generator):
        values = list(_differences(difference, [point]))
        if not values:
            continue
        scales = list(_differences(scale_terms, [point]))
        scale = scales[0][1] if scales else 1.0
        if values[0][1] > tolerance * scale:
            return False, point
        checked += 1
        if checked >= count:
            break
    return (True if checked else None), None


def _is_zero(expression) -> bool:
    """True when sympy proves ``expression`` is identically 0 (cheapest method first)."""
    if expression == 0:
        return True
    for method in (sympy.expand, sympy.cancel, sympy.simplify):
        try:
            if method(expression) == 0:
                return True
        except Exception:  # noqa: BLE001 - a method that fails proves nothing
            continue
    return False


def _describe(point: dict, symbols: Mapping, substitutions: Mapping | None) -> str:
    """The point in the student's symbols (substituted symbols get their values back)."""
    values = dict(point)
    for symbol, expression in (substitutions or {}).items():
        values[symbol] = sympy.sympify(expression).xreplace(point)
    shown = {s: v for s, v in values.items() if s.name in symbols and symbols[s.name] == s}
    return ", ".join(f"{symbol}={value}" for symbol, value in sorted(shown.items(), key=lambda item: item[0].name))


def assert_equivalent(
    value,
    reference,
    symbols: Mapping[str, sympy.Symbol],
    *,
    shape: tuple[int, int] | None = None,
    name: str = "your answer",
    substitutions: Mapping | None = None,
    seed: int = 0,
):
    """Raise :class:`GradingError` unless the student's ``value`` equals ``reference``
    (a sympy expression or matrix written in ``symbols``) for all values of the symbols.

    ``substitutions`` (symbol → expression) is applied to both sides first, to compare on
    a sub-domain, e.g. ``{a2: a1}`` for "at a₁ = a₂" or ``{a1: a2 + d}`` for "when a₁ > a₂".
    """
    student = coerce(value, symbols, shape=shape, name=name)
    reference = sympy.ImmutableMatrix(reference) if shape is not None else sympy.sympify(reference)
    if substitutions:
        student, reference = student.subs(substitutions), reference.subs(substitutions)
    student_entries, reference_entries = _entries(student), _entries(reference)
    agree, point = _numerically_equal(student_entries, reference_entries, GUARD_POINTS, seed, 1e-25)
    if agree is False:
        where = f" (for instance at {_describe(point, symbols, substitutions)})" if point else ""
        raise GradingError(f"{name} is not equivalent to the expected expression: the two differ{where}")
    if all(_is_zero(s - r) for s, r in zip(student_entries, reference_entries)):
        return
    agree, point = _numerically_equal(student_entries, reference_entries, FALLBACK_POINTS, seed + 1, 1e-25)
    if agree is None:
        raise GradingError(f"{name} could not be compared with the expected expression: it is undefined at every test point")
    if not agree:
        where = f" (for instance at {_describe(point, symbols, substitutions)})" if point else ""
        raise GradingError(f"{name} is not equivalent to the expected expression: the two differ{where}")


# --------------------------------------------------------------------------------------
# Reading an answer tree (utils.sympy_tree.encode) with the grader's own symbols
# --------------------------------------------------------------------------------------

_OPERATIONS = {"Add": sympy.Add, "Mul": sympy.Mul, "Pow": sympy.Pow, "exp": sympy.exp, "log": sympy.log,
               "Abs": sympy.Abs, "Max": sympy.Max, "Min": sympy.Min}


def decode(tree, symbols: Mapping[str, sympy.Symbol], *, name: str = "your answer"):
    """The sympy object a probe's tree describes, built from the grader's classes and
    ``symbols`` only; raises :class:`GradingError` for anything else."""
    def build(node, depth):
        if type(node) is not list or not node or type(node[0]) is not str or depth > 200:
            raise GradingError(f"{name} could not be read as a sympy expression")
        head, arguments = node[0], node[1:]
        if head == "Symbol" and len(arguments) == 1 and type(arguments[0]) is str:
            if arguments[0] not in symbols:
                raise GradingError(f"{name} uses symbols the notebook does not provide: ['{arguments[0][:40]}']; "
                                   f"allowed are {sorted(symbols)}")
            return symbols[arguments[0]]
        if head == "Integer" and len(arguments) == 1 and type(arguments[0]) is str and len(arguments[0]) < 400:
            return sympy.Integer(int(arguments[0]))
        if head == "Rational" and len(arguments) == 2 and all(type(a) is str and len(a) < 400 for a in arguments):
            return sympy.Rational(int(arguments[0]), int(arguments[1]))
        if head == "Float" and len(arguments) == 1 and type(arguments[0]) is str and len(arguments[0]) < 400:
            return sympy.Rational(arguments[0])
        if head == "Matrix" and depth == 0 and len(arguments) == 3:
            rows, columns, entries = arguments
            if type(rows) is int and type(columns) is int and type(entries) is list and 0 < rows * columns == len(entries) <= 400:
                return sympy.ImmutableMatrix(rows, columns, [build(entry, depth + 1) for entry in entries])
        if head in _OPERATIONS and arguments:
            return _OPERATIONS[head](*[build(argument, depth + 1) for argument in arguments])
        raise GradingError(f"{name} could not be read as a sympy expression (node {head[:40]!r})")

    try:
        return build(tree, 0)
    except (ValueError, TypeError, ZeroDivisionError) as error:
        raise GradingError(f"{name} could not be read as a sympy expression ({type(error).__name__})") from None
