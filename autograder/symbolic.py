"""Reading a student's sympy answer from its tree and deciding whether it equals a
reference closed form.

The student's kernel writes the answer as plain data (:func:`utils.sympy_tree.encode`);
this module never sees a student object.  A check calls :func:`check_tree` (or
:func:`decode` and then :func:`assert_equivalent`); each step either succeeds or raises
:class:`~autograder.checking.GradingError` with a message the student can act on.

**Reading** (:func:`decode`).  The tree is hostile data.  Only the grammar of
:mod:`utils.sympy_tree` is accepted, each node with its exact number of arguments; the
symbols are the grader's own, looked up by name (so a student's ``Symbol("lambda")``
without ``positive=True`` becomes the grader's positive λ); the number of nodes, the
nesting, the digits of every number and every numeric exponent are bounded.  A decimal
number is read exactly: as the fraction p/q with q ≤ 10 000 whose nearest float it is,
when there is one (``1/3`` typed in Python, ``0.5``), otherwise as the exact decimal it
was written as (``0.333`` is 333/1000), so ``3*log(M**(1/3))`` is exactly ``log(M)``.

**Deciding** (:func:`assert_equivalent`).  No simplification of the whole expression is
attempted (it may take minutes on a correct but unsimplified answer).  Instead the
difference *answer − reference* is evaluated **exactly** at :data:`POINTS` random
points whose coordinates are rationals ±p/q (p a prime below 2²⁰, q = 1 or a prime below
2⁸, a prime for an integer symbol, a positive value for a positive symbol, random signs
otherwise; fixed seed):

* at each point the difference is a number, and it is decided exactly whether it is 0:
  a rational is compared with 0; a number with logarithms has every log of a positive
  number split into logs of its prime factors (and log(exp(t)) = t), then is expanded;
  a number that is still not literally 0 counts as *nonzero* only if its value, computed
  to 60 digits, exceeds 10⁻⁴⁰;
* a single nonzero point rejects the answer (a near miss costs one evaluation), and
  the answer is accepted only when the difference is exactly 0 at every point.

A symbol that appears in an exponent (``a1**gamma``) gets small values instead (p < 2⁶,
q < 2⁴), since a 20-bit value there would raise numbers to the millionth power.

**How sure an acceptance is.**  Exactness makes a rejection certain: it names a point
where the difference is provably not 0.  An acceptance is a random test.  When the
difference is a rational function of the symbols (the vector answers and the relevance
closed forms of sheet 1), a nonzero one whose numerator has total degree D vanishes at
one such point with probability at most D/82025 (Schwartz–Zippel: there are 82 025
primes below 2²⁰, so each coordinate takes any one value with probability at most
1/82 025), so it is accepted with probability at most (D/82025)^POINTS, below 10⁻¹⁷ for
D ≤ 100.  No such bound is claimed for differences with logs, exponentials, Max or
Piecewise; they are tested at the same points, and a wrong answer would have to vanish
exactly at all of them.  A difference that is nonzero only on a thin region (a Piecewise
branch on a set of measure 0) can escape random points, which is why the checks compare
on the region asked for (e.g. a₂ = a₁).

Everything runs under a time budget (:data:`BUDGET_SECONDS`, a ``SIGALRM`` timer when
called in the main thread; the previous handler and timer are restored afterwards): an
answer that cannot be evaluated in time, or whose difference cannot be shown to be 0 or
nonzero, is *not decided*, and the message says so and asks for a simplified form.
"""
from __future__ import annotations

import contextlib
import re
import signal
import threading
import time
from collections.abc import Mapping
from fractions import Fraction

import numpy as np
import sympy

from autograder.checking import GradingError

BUDGET_SECONDS = 20.0
"""Time one check of an answer may take (the check itself has a longer timeout)."""
POINTS = 6
"""Random points at which the difference must vanish exactly."""
ATTEMPTS = 8 * POINTS
"""Points tried at most (points where an expression is undefined are skipped)."""
NUMERATOR_BITS, DENOMINATOR_BITS = 20, 8
SMALL_NUMERATOR_BITS, SMALL_DENOMINATOR_BITS = 6, 4
NONZERO_DIGITS, NONZERO_THRESHOLD = 60, 1e-40

MAX_NODES = 20_000
MAX_DEPTH = 150
MAX_DIGITS = 300
MAX_ARGUMENTS = 16
"""Most arguments of Max, Min, And, Or and most branches of a Piecewise."""
MAX_EXPONENT = 10_000
"""Largest numerator of a numeric exponent."""
MAX_DEGREE = 10_000_000
"""Largest degree of an answer (see :func:`_degree`): bounds the size of the exact numbers
that evaluating it at a point creates."""
MAX_MATRIX_SIDE = 50
SNAP_DENOMINATOR = 10_000

_INTEGER = re.compile(r"-?[0-9]{1,%d}" % MAX_DIGITS)
_DECIMAL = re.compile(r"-?[0-9]{1,%d}(\.[0-9]{0,%d})?(e[-+]?[0-9]{1,3})?" % (MAX_DIGITS, MAX_DIGITS))

_VALUES = {  # name: (sympy function, least and most arguments)
    "Add": (sympy.Add, 1, MAX_NODES), "Mul": (sympy.Mul, 1, MAX_NODES), "Pow": (sympy.Pow, 2, 2),
    "exp": (sympy.exp, 1, 1), "log": (sympy.log, 1, 1), "Abs": (sympy.Abs, 1, 1),
    "Max": (sympy.Max, 1, MAX_ARGUMENTS), "Min": (sympy.Min, 1, MAX_ARGUMENTS), "sign": (sympy.sign, 1, 1),
    "Heaviside": (sympy.Heaviside, 1, 2),
}
_RELATIONS = {"StrictGreaterThan": sympy.StrictGreaterThan, "StrictLessThan": sympy.StrictLessThan,
              "GreaterThan": sympy.GreaterThan, "LessThan": sympy.LessThan, "Equality": sympy.Equality,
              "Unequality": sympy.Unequality}
_LOGIC = {"And": (sympy.And, 1, MAX_ARGUMENTS), "Or": (sympy.Or, 1, MAX_ARGUMENTS), "Not": (sympy.Not, 1, 1)}
_NUMBERS = {"E": sympy.E, "pi": sympy.pi, "I": sympy.I}
_UNDEFINED = ("oo", "-oo", "zoo", "nan")
_INFINITIES = (sympy.nan, sympy.zoo, sympy.oo, -sympy.oo)


# --------------------------------------------------------------------------------------
# Time budget
# --------------------------------------------------------------------------------------


class OutOfTime(BaseException):
    """The time budget ran out (a BaseException, so that no ``except Exception`` inside
    sympy swallows it)."""


_budget_active = False


@contextlib.contextmanager
def time_budget(seconds: float | None = None):
    """Raise :class:`OutOfTime` in the block once ``seconds`` (default
    :data:`BUDGET_SECONDS`) have passed.

    Works with a ``SIGALRM`` interval timer, so only in the main thread (elsewhere the
    block runs unbounded, limited only by the size caps of :func:`decode`).  A budget
    inside a budget is the outer one.  The previous handler is restored on exit, and a
    timer that was running before is resumed with the time it had left.
    """
    global _budget_active
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if _budget_active or not usable:
        yield
        return
    seconds = BUDGET_SECONDS if seconds is None else seconds
    armed = [True]

    def expire(signum, frame):
        if armed[0]:
            raise OutOfTime()

    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, 0)
    started = time.monotonic()
    _budget_active = True
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds if previous_delay <= 0 else min(seconds, previous_delay))
        yield
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        _budget_active = False
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay > 0:
            left = max(previous_delay - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, previous_interval)


def _out_of_time_message(name: str) -> str:
    return (f"{name} could not be checked within {BUDGET_SECONDS:.0f} s: the expression is too large to evaluate. "
            "Simplify it (for instance with sympy.simplify, sympy.cancel or sympy.factor) and assign the simplified form")


# --------------------------------------------------------------------------------------
# Reading a tree
# --------------------------------------------------------------------------------------


class _Reader:
    """One decoding: counts nodes and notes decimal numbers that were not simple fractions."""

    def __init__(self, symbols: Mapping, name: str):
        self.symbols, self.name, self.nodes, self.inexact_decimals = symbols, name, 0, False

    def fail(self, what: str) -> GradingError:
        return GradingError(f"{self.name} could not be read as a sympy expression ({what})")

    def head(self, node, depth: int):
        if type(node) is not list or not node or type(node[0]) is not str:
            raise self.fail("a node is not of the form [name, arguments...]")
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES} nodes; simplify it first")
        if depth > MAX_DEPTH:
            raise self.fail(f"nested more than {MAX_DEPTH} levels deep; simplify it first")
        return node[0], node[1:]

    def value(self, node, depth: int):
        """An expression node (a value, never a relation)."""
        head, arguments = self.head(node, depth)
        if head == "Symbol":
            return self.symbol(arguments)
        if head in ("Integer", "Rational", "Float", "Constant"):
            return self.number(head, arguments)
        if head in _VALUES:
            function, least, most = _VALUES[head]
            if not least <= len(arguments) <= most:
                raise self.fail(f"{head} with {len(arguments)} arguments")
            values = [self.value(argument, depth + 1) for argument in arguments]
            if head == "Pow":
                self.check_exponent(values[1])
            return function(*values)
        if head == "Piecewise":
            if not 1 <= len(arguments) <= MAX_ARGUMENTS:
                raise self.fail(f"Piecewise with {len(arguments)} branches")
            return sympy.Piecewise(*[self.branch(argument, depth + 1) for argument in arguments])
        if head in _RELATIONS or head in _LOGIC:
            raise GradingError(f"{self.name} should be an expression, but it is (or contains) a relation or logical "
                               f"statement ({head}) outside a Piecewise condition: assign the value itself")
        raise self.fail(f"unknown node {head[:40]!r}")

    def symbol(self, arguments):
        if len(arguments) != 1 or type(arguments[0]) is not str:
            raise self.fail("a malformed symbol")
        if arguments[0] not in self.symbols:
            raise GradingError(f"{self.name} uses symbols the notebook does not provide: [{arguments[0][:40]!r}]; "
                               f"allowed are {sorted(self.symbols)}")
        return self.symbols[arguments[0]]

    def number(self, head: str, arguments):
        texts = [a for a in arguments if type(a) is str]
        if head == "Integer" and len(arguments) == 1 and len(texts) == 1 and _INTEGER.fullmatch(texts[0]):
            return sympy.Integer(int(texts[0]))
        if head == "Rational" and len(arguments) == 2 and len(texts) == 2 and all(_INTEGER.fullmatch(t) for t in texts):
            if int(texts[1]) == 0:
                raise GradingError(f"{self.name} divides by zero")
            return sympy.Rational(int(texts[0]), int(texts[1]))
        if head == "Float" and len(arguments) == 1 and len(texts) == 1 and _DECIMAL.fullmatch(texts[0].lower()):
            return self.decimal(texts[0].lower())
        if head == "Constant" and len(arguments) == 1 and len(texts) == 1:
            if texts[0] in _NUMBERS:
                return _NUMBERS[texts[0]]
            if texts[0] in _UNDEFINED:
                raise GradingError(f"{self.name} contains an infinite or undefined value ({texts[0]})")
        raise self.fail(f"a malformed or too large number ({head})")

    def decimal(self, text: str):
        """The exact value of a decimal literal, or the simple fraction whose float it is."""
        exact = Fraction(text)
        if max(exact.numerator.bit_length(), exact.denominator.bit_length()) > 3.33 * MAX_DIGITS:
            raise self.fail("a decimal number with too many digits")
        nearest = float(text)
        if Fraction(repr(nearest)) == exact:  # the text is the shortest form of a float
            fraction = Fraction(nearest).limit_denominator(SNAP_DENOMINATOR)
            if float(fraction) == nearest:
                exact = fraction
        if exact.denominator != 1:
            self.inexact_decimals = True
        return sympy.Rational(exact.numerator, exact.denominator)

    def check_exponent(self, exponent):
        if exponent.is_Rational and abs(exponent.p) > MAX_EXPONENT:
            raise GradingError(f"{self.name} has the exponent {exponent}, larger than any answer of this course needs "
                               f"(at most {MAX_EXPONENT} above the fraction bar)")

    def branch(self, node, depth: int):
        head, arguments = self.head(node, depth)
        if head != "ExprCondPair" or len(arguments) != 2:
            raise self.fail("a Piecewise branch is not a (value, condition) pair")
        return self.value(arguments[0], depth + 1), self.condition(arguments[1], depth + 1)

    def condition(self, node, depth: int):
        head, arguments = self.head(node, depth)
        if head == "Constant" and arguments in (["true"], ["false"]):
            return sympy.true if arguments[0] == "true" else sympy.false
        if head in _RELATIONS and len(arguments) == 2:
            return _RELATIONS[head](*[self.value(argument, depth + 1) for argument in arguments])
        if head in _LOGIC and _LOGIC[head][1] <= len(arguments) <= _LOGIC[head][2]:
            return _LOGIC[head][0](*[self.condition(argument, depth + 1) for argument in arguments])
        raise self.fail(f"a Piecewise condition of the form {head[:40]!r}")

    def answer(self, tree):
        if type(tree) is list and tree and tree[0] == "Matrix":
            if len(tree) != 4:
                raise self.fail("a malformed matrix")
            _, rows, columns, entries = tree
            if not (type(rows) is int and type(columns) is int and type(entries) is list
                    and 1 <= rows <= MAX_MATRIX_SIDE and 1 <= columns <= MAX_MATRIX_SIDE):
                raise self.fail("a malformed matrix")
            if len(entries) != rows * columns:
                raise self.fail(f"a {rows}×{columns} matrix with {len(entries)} entries")
            return sympy.ImmutableMatrix(rows, columns, [self.value(entry, 1) for entry in entries])
        return self.value(tree, 0)


def _read(tree, symbols: Mapping, name: str):
    reader = _Reader(symbols, name)
    try:
        with time_budget():
            value = reader.answer(tree)
            entries = list(value) if isinstance(value, sympy.MatrixBase) else [value]
            if any(entry.has(*_INFINITIES) for entry in entries):
                raise GradingError(f"{name} contains an infinite or undefined value (a division by zero?)")
            degrees: dict = {}
            if max(_degree(entry, degrees) for entry in entries) > MAX_DEGREE:
                raise GradingError(f"{name} has powers of a far higher degree than any answer of this course: "
                                   "simplify it first")
    except OutOfTime:
        raise GradingError(_out_of_time_message(name)) from None
    except GradingError:
        raise
    except Exception as error:  # noqa: BLE001 - sympy refusing to build a node: the tree is not an answer
        raise GradingError(f"{name} could not be read as a sympy expression ({type(error).__name__})") from None
    return value, reader.inexact_decimals


def _degree(expression, known: dict) -> int:
    """A bound on how many times the largest value of a symbol gets multiplied by itself
    when the expression is evaluated at a point (products add, powers multiply; a power
    with symbols in its exponent counts 2⁶ per symbol: such symbols get small values).
    ``known`` holds the degrees of the subexpressions already seen."""
    if expression in known:
        return known[expression]
    if not expression.args:
        degree = 1
    elif type(expression) is sympy.Pow:
        base, exponent = expression.args
        if exponent.is_Rational:
            degree = abs(exponent.p) * _degree(base, known)
        else:
            degree = (_degree(base, known) * 2 ** (SMALL_NUMERATOR_BITS * len(exponent.free_symbols))
                      * _degree(exponent, known))
    elif type(expression) is sympy.Mul:
        degree = sum(_degree(argument, known) for argument in expression.args)
    else:
        degree = max(_degree(argument, known) for argument in expression.args)
    known[expression] = degree
    return degree


def decode(tree, symbols: Mapping[str, sympy.Symbol], *, name: str = "your answer"):
    """The sympy expression or ``ImmutableMatrix`` a probe's tree describes, built from
    the grader's classes and ``symbols`` (name → symbol) only; raises
    :class:`GradingError` for anything else."""
    return _read(tree, symbols, name)[0]


# --------------------------------------------------------------------------------------
# Deciding equivalence
# --------------------------------------------------------------------------------------


def _validate(answer, shape, name: str) -> list:
    """The answer's entries, after checking it is a sympy value of the expected kind."""
    if shape is None:
        if isinstance(answer, sympy.MatrixBase):
            raise GradingError(f"{name} should be a single expression (a scalar), got a matrix of shape "
                               f"{tuple(answer.shape)}")
        if not isinstance(answer, sympy.Expr):
            raise GradingError(f"{name} should be a sympy expression, got {type(answer).__name__}")
        return [answer]
    if not isinstance(answer, sympy.MatrixBase):
        raise GradingError(f"{name} should be a sympy Matrix of shape {tuple(shape)}, got a single expression")
    got = tuple(answer.shape)
    if got != tuple(shape):
        hint = ""
        if got == tuple(reversed(shape)):
            hint = " (it looks transposed: a column vector is expected)" if shape[1] == 1 else " (it looks transposed)"
        raise GradingError(f"{name} should have shape {tuple(shape)}, got {got}{hint}")
    return list(answer)


_PRIMES: dict = {}


def _primes(bits: int) -> np.ndarray:
    """The primes below 2**bits (sieve of Eratosthenes)."""
    if bits not in _PRIMES:
        is_prime = np.ones(2**bits, dtype=bool)
        is_prime[:2] = False
        for n in range(2, int(2 ** (bits / 2)) + 1):
            if is_prime[n]:
                is_prime[n * n::n] = False
        _PRIMES[bits] = np.flatnonzero(is_prime)
    return _PRIMES[bits]


def _random_value(symbol: sympy.Symbol, generator: np.random.Generator, small: bool = False):
    """A random rational p/q (a prime p for an integer symbol) that respects the
    symbol's assumptions; p and q are primes, so that sympy reduces the powers and roots
    of these values at once (a root of a number with a square factor can take it seconds).
    A ``small`` value (p < 2⁶, q < 2⁴) is for a symbol in an exponent, where a 20-bit
    value would raise numbers to the millionth power."""
    bits = (SMALL_NUMERATOR_BITS, SMALL_DENOMINATOR_BITS) if small else (NUMERATOR_BITS, DENOMINATOR_BITS)
    numerators, denominators = _primes(bits[0]), _primes(bits[1])
    numerator = int(numerators[int(generator.integers(len(numerators)))])
    if symbol.is_integer:
        value = sympy.Integer(numerator)
    else:
        index = int(generator.integers(len(denominators) + 1))  # the last index stands for q = 1
        value = sympy.Rational(numerator, int(denominators[index]) if index < len(denominators) else 1)
    if symbol.is_positive or symbol.is_nonnegative:
        return value
    return value if generator.random() < 0.5 else -value


def _log_of(argument):
    """An expression equal to log(argument) for a positive number, with logs of primes
    only where it can (None when nothing is gained)."""
    if argument.is_Rational and argument > 0:
        return _log_of_integer(argument.p) - _log_of_integer(argument.q)
    if argument is sympy.E:
        return sympy.Integer(1)
    if type(argument) is sympy.exp and argument.args[0].is_extended_real:
        return argument.args[0]
    if type(argument) is sympy.Pow and argument.base.is_positive and argument.exp.is_extended_real:
        inner = _log_of(argument.base)
        return argument.exp * (sympy.log(argument.base) if inner is None else inner)
    if type(argument) is sympy.Mul and all(factor.is_positive for factor in argument.args):
        parts = [_log_of(factor) for factor in argument.args]
        return sympy.Add(*[sympy.log(f) if p is None else p for f, p in zip(argument.args, parts)])
    return None


def _log_of_integer(n: int):
    """log(n) as a sum of logs of its prime factors (of a cofactor with no factor below
    10⁴ when n is too large to factor quickly)."""
    if n == 1:
        return sympy.Integer(0)
    power = sympy.perfect_power(n)
    if power:
        return power[1] * _log_of_integer(power[0])
    factors = sympy.factorint(n) if n.bit_length() <= 64 else sympy.factorint(n, limit=10**4)
    return sympy.Add(*[e * sympy.log(p) for p, e in factors.items()])


def _split_logs(number):
    def split(expression):
        found = _log_of(expression.args[0])
        return expression if found is None else found

    return number.replace(lambda e: type(e) is sympy.log, split)


def _is_zero(number):
    """True if the number is exactly 0, False if it is certainly not, None if undecided;
    "undefined" when it is infinite or not a number (the point is skipped)."""
    if number.has(*_INFINITIES) or not number.is_number:
        return "undefined"
    if number.is_Rational:
        return number == 0
    candidate = sympy.expand(_split_logs(number))
    if candidate == 0:
        return True
    if candidate.has(*_INFINITIES):
        return "undefined"
    if candidate.is_Rational:
        return False
    try:
        size = abs(complex(candidate.evalf(NONZERO_DIGITS)))
    except (TypeError, ValueError):
        return None
    return False if size > NONZERO_THRESHOLD else None


def _at(expression, point: dict, memo: dict):
    """The expression with the point's values put in, evaluated bottom-up (like
    ``xreplace``, but shared subexpressions once)."""
    if expression in memo:
        return memo[expression]
    if expression in point:
        value = point[expression]
    elif not expression.args:
        value = expression
    else:
        value = expression.func(*[_at(argument, point, memo) for argument in expression.args])
    memo[expression] = value
    return value


def _describe(point: dict, symbols: Mapping, substitutions: Mapping | None) -> str:
    """The point in the student's symbols (substituted symbols get their values back)."""
    values = dict(point)
    for symbol, expression in (substitutions or {}).items():
        values[symbol] = sympy.sympify(expression).xreplace(point)
    shown = {s: v for s, v in values.items() if s.name in symbols and symbols[s.name] == s}
    return ", ".join(f"{symbol}={value}" for symbol, value in sorted(shown.items(), key=lambda item: item[0].name))


def _decide(differences: list, seed: int):
    """("equal", None, None), ("different", point, entry index) or ("undecided", reason, None)."""
    if all(difference == 0 for difference in differences):
        return "equal", None, None
    free = sorted(set().union(*(d.free_symbols for d in differences)), key=lambda s: s.name)
    in_exponents = set().union(*(power.exp.free_symbols for d in differences for power in d.atoms(sympy.Pow)))
    generator = np.random.default_rng(seed)
    decided, undecided = 0, 0
    for _ in range(ATTEMPTS):
        point = {symbol: _random_value(symbol, generator, symbol in in_exponents) for symbol in free}
        verdicts, memo = [], {}
        for difference in differences:
            try:
                verdict = _is_zero(_at(difference, point, memo))
            except Exception:  # noqa: BLE001 - sympy failing on one point decides nothing
                verdict = None
            verdicts.append(verdict)
            if verdict is False or verdict == "undefined":
                break
        if verdicts[-1] is False:
            return "different", point, len(verdicts) - 1
        if "undefined" in verdicts:
            continue
        if None in verdicts:
            undecided += 1
        else:
            decided += 1
        if decided + undecided >= POINTS:
            break
    if decided + undecided == 0:
        return "undecided", "it is undefined (a division by zero, a log of 0, ...) at every test point", None
    if undecided or decided < POINTS:
        return "undecided", "its difference from the expected expression could not be shown to be 0 or not 0", None
    return "equal", None, None


def assert_equivalent(
    answer,
    reference,
    symbols: Mapping[str, sympy.Symbol],
    *,
    shape: tuple[int, int] | None = None,
    name: str = "your answer",
    substitutions: Mapping | None = None,
    seed: int = 0,
):
    """Raise :class:`GradingError` unless ``answer`` (a trusted sympy expression or
    matrix, as :func:`decode` returns it) equals ``reference`` (written in ``symbols``)
    for all values of the symbols; ``shape=None`` asks for a scalar.

    ``substitutions`` (symbol → expression) is applied to both sides first, to compare on
    a sub-domain, e.g. ``{a2: a1}`` for "at a₁ = a₂" or ``{a1: a2 + d}`` for "when a₁ > a₂".
    """
    entries = _validate(answer, shape, name)
    reference = list(sympy.ImmutableMatrix(reference)) if shape is not None else [sympy.sympify(reference)]
    try:
        with time_budget():
            if substitutions:
                table = {sympy.sympify(k): sympy.sympify(v) for k, v in substitutions.items()}
                entries = [entry.xreplace(table) for entry in entries]
                reference = [entry.xreplace(table) for entry in reference]
            verdict, detail, index = _decide([a - r for a, r in zip(entries, reference)], seed)
    except OutOfTime:
        raise GradingError(_out_of_time_message(name)) from None
    if verdict == "different":
        where = f" (for instance at {_describe(detail, symbols, substitutions)})" if detail else ""
        if shape is not None and len(entries) > 1:
            row, column = divmod(index, shape[1])
            where = f" in entry ({row}, {column})" + where
        raise GradingError(f"{name} is not equivalent to the expected expression: the two differ{where}")
    if verdict == "undecided":
        raise GradingError(f"{name} could not be checked: {detail}. Simplify it (for instance with sympy.simplify "
                           "or sympy.expand_log(..., force=True)) and assign the simplified form")


def check_tree(
    tree,
    reference,
    symbols: Mapping[str, sympy.Symbol],
    *,
    shape: tuple[int, int] | None = None,
    name: str = "your answer",
    substitutions: Mapping | None = None,
    seed: int = 0,
):
    """:func:`decode` the tree, then :func:`assert_equivalent`; the message of a wrong
    answer written with decimal fractions adds a hint about exact numbers."""
    inexact_decimals = False
    try:
        with time_budget():  # one budget for reading and deciding
            answer, inexact_decimals = _read(tree, symbols, name)
            assert_equivalent(answer, reference, symbols, shape=shape, name=name, substitutions=substitutions,
                              seed=seed)
    except OutOfTime:
        raise GradingError(_out_of_time_message(name)) from None
    except GradingError as error:
        if not inexact_decimals:
            raise
        raise GradingError(f"{error}. Note: your answer holds decimal numbers, which are read exactly as written "
                           "(0.333 is 333/1000, while 1/3 typed in Python is read as 1/3); write fractions exactly, "
                           "e.g. sympy.Rational(1, 3)") from None
