"""The sympy answer tree: what the kernel writes (utils.sympy_tree.encode), what the
grader reads back (autograder.symbolic.decode), objects and trees built to deceive
either side, and the time budget of a check."""
import json
import signal
import threading
import time

import pytest
import sympy
from sympy import Abs, E, Eq, Heaviside, I, Matrix, Max, Min, Ne, Piecewise, Rational, exp, log, pi, sign, sqrt

from autograder import symbolic
from autograder.checking import GradingError
from autograder.sheets.sheet1_analytic import reference as grader
from utils import sympy_tree
from utils.symbols import A, M, a1, a2, check_form, gamma, h_min, lam, w
from utils.sympy_tree import NotAnExpression


def round_trip(value):
    return symbolic.decode(json.loads(json.dumps(sympy_tree.encode(value))), grader.SYMBOLS, name="the answer")


# --------------------------------------------------------------------------------------
# Encoding and decoding give the same expression back
# --------------------------------------------------------------------------------------

SAME = [
    a1,
    -a1 + 3 * a2 - Rational(7, 5),
    sympy.Integer(10) ** 100 * a1,
    a1 ** Rational(-2, 3) * sqrt(a2) / (1 + gamma) ** 2,
    exp(-gamma * h_min) + log(M) / gamma,
    Abs(h_min) + Max(a1, a2, gamma) - Min(a1, 2 * a2) + sign(h_min) + Heaviside(h_min),
    Piecewise((a1, a1 < a2), (a2, Eq(a1, a2)), (a1 + a2, True)),
    Piecewise((a1, sympy.And(a1 >= a2, Ne(gamma, 1))), (0, sympy.Or(h_min > 0, sympy.Not(a2 <= 1))), (a2, True)),
    E * pi + I * a1,
    w / (2 * lam),
    A.T * w,
    sympy.MutableDenseMatrix(w),
    sympy.SparseMatrix([[a1, 0], [0, a2]]),
]


@pytest.mark.parametrize("index", range(len(SAME)))
def test_a_tree_reads_back_as_the_same_expression(index):
    value = SAME[index]
    back = round_trip(value)
    if isinstance(value, sympy.MatrixBase):
        assert isinstance(back, sympy.ImmutableDenseMatrix) and back == sympy.ImmutableMatrix(value)
    else:
        assert back == value
    assert check_form(value, shape=value.shape if isinstance(value, sympy.MatrixBase) else None).startswith("form OK")


@pytest.mark.parametrize("written, exact", [
    (0.5 * a1, a1 / 2),
    (sympy.Float(1 / 3) * a1, a1 / 3),  # 1/3 typed in Python
    (0.1 * a1, a1 / 10),
    (2.0 * a1, 2 * a1),
    (a1 ** (1 / 3), a1 ** Rational(1, 3)),
    (1e-30 * a1, a1 / 10**30),  # a tiny decimal stays what it is, it is not rounded to 0
    (0.3333 * a1, Rational(3333, 10000) * a1),  # a decimal that is not a float of a simple fraction is exact
    (sympy.Float("0.1", 30) * a1, a1 / 10),
    (-2.5e5 * a1, -250000 * a1),
])
def test_decimals_are_read_as_exact_fractions(written, exact):
    assert round_trip(written) == exact


def test_only_symbols_are_renamed_to_the_graders():
    student_lambda = sympy.Symbol("lambda")  # no positivity assumption
    assert round_trip(1 / student_lambda) == 1 / grader.lam and grader.lam.is_positive


# --------------------------------------------------------------------------------------
# Hostile objects on the kernel side: refused without running their methods
# --------------------------------------------------------------------------------------


class Tripwire:
    """Armed, every method of the classes below raises: calling one fails the test."""

    armed = False


def _trip(*args, **kwargs):
    if Tripwire.armed:
        raise RuntimeError("a method of the student's object was called")


class ForgedSymbol(sympy.Symbol):
    def __getattribute__(self, name):
        _trip()
        return super().__getattribute__(name)

    def __eq__(self, other):
        _trip()
        return True

    __hash__ = sympy.Symbol.__hash__

    def _sympystr(self, printer):
        _trip()
        return "a1"


class ForgedAdd(sympy.Add):
    def __getattribute__(self, name):
        _trip()
        return super().__getattribute__(name)


class LyingMeta(type(sympy.Symbol)):
    def __eq__(cls, other):
        _trip()
        return True

    def __hash__(cls):
        _trip()
        return 0


class SymbolOfLyingClass(sympy.Symbol, metaclass=LyingMeta):
    pass


class ForgedMatrix(sympy.ImmutableDenseMatrix):
    def __getattribute__(self, name):
        _trip()
        return super().__getattribute__(name)


class ClaimsToBeASymbol:
    @property
    def __class__(self):
        _trip()
        return sympy.Symbol


@pytest.fixture
def armed():
    Tripwire.armed = True
    yield
    Tripwire.armed = False


def _hostile_values():
    forged = ForgedSymbol("a1", positive=True)
    forged_add = ForgedAdd(a1, a2)
    return {
        "ForgedSymbol": forged,
        "ForgedAdd": forged_add,
        "ForgedSymbol inside a genuine product": ("ForgedSymbol", sympy.Mul(2, forged, evaluate=False)),
        "ForgedAdd inside a genuine sum": ("ForgedAdd", sympy.Add(gamma, sympy.Mul(3, forged_add, evaluate=False),
                                                                 evaluate=False)),
        "SymbolOfLyingClass": SymbolOfLyingClass("a2"),
        "ForgedMatrix": ForgedMatrix([a1, a2]),
        "ClaimsToBeASymbol": ClaimsToBeASymbol(),
    }


@pytest.mark.parametrize("label", sorted(_hostile_values()))
def test_objects_of_other_classes_are_refused_untouched(label):
    value = _hostile_values()[label]
    name, value = value if type(value) is tuple else (label, value)
    Tripwire.armed = True
    try:
        with pytest.raises(NotAnExpression, match=name):
            sympy_tree.encode(value)
    finally:
        Tripwire.armed = False


def test_the_forged_objects_would_lie_if_asked():
    forged = ForgedSymbol("a1", positive=True)
    assert forged == a1 / 2 and isinstance(ClaimsToBeASymbol(), sympy.Symbol)  # why nothing of theirs is trusted


REFUSED = {
    "Derivative": (sympy.Derivative(a1**2, a1), ".doit()"),
    "Integral": (sympy.Integral(a1, a1), ".doit()"),
    "Sum": (sympy.Sum(a1, (sympy.Symbol("i"), 1, M)), ".doit()"),
    "UnevaluatedExpr": (sympy.UnevaluatedExpr(a1) + 1, ".doit()"),
    "Tuple": (sympy.Tuple(a1, a2), "Matrix"),
    "Equality": (Eq(a1, a2), "right-hand side"),
    "StrictLessThan": (a1 < a2, "Piecewise"),
    "And": (sympy.And(a1 < a2, a2 < 1), "Piecewise"),
    "True": (sympy.true, "truth value"),
    "Dummy": (sympy.Dummy("a1") + 1, "utils.symbols"),
    "MatrixSymbol": (sympy.MatrixSymbol("S", 3, 3), "explicit matrices"),
    "MatMul": (sympy.MatrixSymbol("S", 3, 3) * sympy.MatrixSymbol("T", 3, 1), "explicit matrices"),
    "sin": (sympy.sin(a1), "not one of"),
    "f": (sympy.Function("f")(a1), "not one of"),
    "Contains": (Piecewise((a1, sympy.Contains(a1, sympy.Interval(0, 1))), (0, True)), "Piecewise condition"),
    "Integer": (sympy.Integer(10) ** 400 * a1, "digits"),
    "nodes": (sympy.Add(*[a1**k for k in range(2, 7002)]), "nodes"),
    "levels": (None, "levels"),  # built in the test: exp(exp(...(a1)))
    "list": ([a1, a2], "Matrix"),
    "int": (3, "sympy.Integer"),
    "ndarray": (__import__("numpy").array([a1, a2]), "Matrix"),
}


@pytest.mark.parametrize("label", sorted(REFUSED))
def test_values_outside_the_grammar_are_refused_with_a_reason(label):
    value, reason = REFUSED[label]
    if label == "levels":
        value = a1
        for _ in range(sympy_tree.MAX_DEPTH + 5):
            value = exp(value)
    with pytest.raises(NotAnExpression) as refusal:
        sympy_tree.encode(value)
    assert reason in str(refusal.value)
    # the notebook's self-check refuses the same values (it reads answers as the grader does)
    with pytest.raises(TypeError):
        check_form(value)


# --------------------------------------------------------------------------------------
# Hostile trees on the grader side: a message, never another exception
# --------------------------------------------------------------------------------------

X, Y = ["Symbol", "a1"], ["Symbol", "a2"]


def _deep(levels):
    tree = X
    for _ in range(levels):
        tree = ["exp", tree]
    return tree


HOSTILE_TREES = {
    "not a list": (None, "could not be read"),
    "a number": (5, "could not be read"),
    "a dict": ({"Symbol": "a1"}, "could not be read"),
    "empty": ([], "could not be read"),
    "a nameless node": ([5, X], "could not be read"),
    "unknown class": (["sin", X], "unknown node 'sin'"),
    "an import": (["__import__", "os"], "unknown node"),
    "an undefined function": (["Function", "f", X], "unknown node"),
    "an unevaluated derivative": (["Derivative", X, X], "unknown node"),
    "a pair outside Piecewise": (["ExprCondPair", X, ["Constant", "true"]], "unknown node"),
    "a matrix inside a sum": (["Add", ["Matrix", 1, 1, [X]], X], "unknown node 'Matrix'"),
    "huge integer": (["Integer", "9" * 301], "number"),
    "integer as a JSON number": (["Integer", 5], "number"),
    "integer with underscores": (["Integer", "1_000"], "number"),
    "integer in full-width digits": (["Integer", "\uff15"], "number"),
    "zero denominator": (["Rational", "1", "0"], "divides by zero"),
    "float nan": (["Float", "nan"], "number"),
    "float inf": (["Float", "inf"], "number"),
    "float overflow": (["Float", "1e999"], "too many digits"),
    "float in hexadecimal": (["Float", "0x10"], "number"),
    "infinity": (["Constant", "oo"], "infinite or undefined"),
    "unknown constant": (["Constant", "EulerGamma"], "number"),
    "truth value as a value": (["Add", X, ["Constant", "true"]], "number"),
    "division by zero": (["Pow", ["Integer", "0"], ["Integer", "-1"]], "infinite or undefined"),
    "deep nesting": (_deep(symbolic.MAX_DEPTH + 1), "nested"),
    "very deep nesting": (_deep(5000), "nested"),
    "too many arguments": (["Add"] + [X] * (symbolic.MAX_NODES + 1), "Add with"),
    "too many nodes": (["Add"] + [["Mul", X, Y]] * (symbolic.MAX_NODES // 3 + 1), "nodes"),
    "power with one argument": (["Pow", X], "Pow with 1 arguments"),
    "power with three arguments": (["Pow", X, X, X], "Pow with 3 arguments"),
    "log with a base": (["log", X, Y], "log with 2 arguments"),
    "exp without argument": (["exp"], "exp with 0 arguments"),
    "symbol without name": (["Symbol"], "malformed symbol"),
    "symbol with two names": (["Symbol", "a1", "a2"], "malformed symbol"),
    "symbol named by a number": (["Symbol", 1], "malformed symbol"),
    "Max of nothing": (["Max"], "Max with 0 arguments"),
    "Max of too much": (["Max"] + [X] * (symbolic.MAX_ARGUMENTS + 1), "Max with"),
    "empty Piecewise": (["Piecewise"], "Piecewise with 0 branches"),
    "Piecewise branch without condition": (["Piecewise", ["ExprCondPair", X]], "(value, condition) pair"),
    "Piecewise condition that is a value": (["Piecewise", ["ExprCondPair", X, Y]], "Piecewise condition"),
    "Not of two conditions": (["Piecewise", ["ExprCondPair", X, ["Not", ["Constant", "true"], ["Constant", "true"]]]],
                              "Piecewise condition"),
    "relation as the answer": (["Equality", X, Y], "relation"),
    "relation inside a sum": (["Add", ["StrictLessThan", X, Y], X], "relation"),
    "unknown symbol": (["Symbol", "x"], "symbols the notebook does not provide"),
    "the grader's own gap symbol": (["Symbol", "d"], "symbols the notebook does not provide"),
    "a dunder symbol": (["Symbol", "__class__"], "symbols the notebook does not provide"),
    "matrix with too few entries": (["Matrix", 2, 2, [X, Y, X]], "2×2 matrix with 3 entries"),
    "matrix with too many entries": (["Matrix", 3, 1, [X, Y, X, Y]], "3×1 matrix with 4 entries"),
    "matrix with bool size": (["Matrix", True, 1, [X]], "malformed matrix"),
    "matrix with text size": (["Matrix", "1", "1", [X]], "malformed matrix"),
    "empty matrix": (["Matrix", 0, 0, []], "malformed matrix"),
    "negative matrix": (["Matrix", -1, -1, [X]], "malformed matrix"),
    "huge matrix": (["Matrix", 10**6, 1, [X]], "malformed matrix"),
    "matrix without entries": (["Matrix", 1, 1], "malformed matrix"),
    "matrix entries not a list": (["Matrix", 1, 1, "a1"], "malformed matrix"),
    # numbers that would take sympy minutes or all memory to compute
    "power tower": (["Pow", ["Integer", "10"], ["Integer", "1000000000"]], "exponent"),
    "large power": (["Pow", X, ["Integer", "99999"]], "exponent"),
    "product of many powers": (["Mul"] + [["Pow", ["Add", X, ["Integer", "1"]], ["Integer", "9999"]]] * 2000,
                               "higher degree"),
    "nested powers": (["Pow", ["Add", ["Pow", ["Add", X, ["Integer", "1"]], ["Integer", "9999"]], ["Integer", "1"]],
                      ["Integer", "9999"]], "higher degree"),
}


@pytest.mark.parametrize("label", sorted(HOSTILE_TREES))
def test_hostile_trees_are_refused_with_a_message(label):
    tree, phrase = HOSTILE_TREES[label]
    with pytest.raises(GradingError) as refusal:
        symbolic.decode(tree, grader.SYMBOLS, name="R1_network_A")
    assert "R1_network_A" in str(refusal.value) and phrase in str(refusal.value)


def test_check_tree_refuses_what_decode_refuses_and_asks_for_the_right_kind():
    with pytest.raises(GradingError, match="shape"):
        symbolic.check_tree(sympy_tree.encode(w.T), grader.PROTOTYPE_L2, grader.SYMBOLS, shape=(3, 1), name="x")
    with pytest.raises(GradingError, match="single expression"):
        symbolic.check_tree(sympy_tree.encode(w), grader.SOFTMIN_LOWER_BOUND, grader.SYMBOLS, name="x")
    with pytest.raises(GradingError, match="unknown node"):
        symbolic.check_tree(["sin", X], grader.R1_NETWORK_A_EQUAL, grader.SYMBOLS, name="x")


def test_reader_and_writer_share_their_limits():
    assert (sympy_tree.MAX_NODES, sympy_tree.MAX_DEPTH, sympy_tree.MAX_DIGITS) == (
        symbolic.MAX_NODES, symbolic.MAX_DEPTH, symbolic.MAX_DIGITS)
    largest = sympy.Integer(10**sympy_tree.MAX_DIGITS - 1)
    assert round_trip(-largest * a1) == -largest * a1
    with pytest.raises(NotAnExpression, match="digits"):
        sympy_tree.encode(largest + 1)


# --------------------------------------------------------------------------------------
# The time budget
# --------------------------------------------------------------------------------------


def _spin():
    while True:
        pass


@pytest.fixture
def outer_alarm():
    """A handler and timer of the caller's, which a budget must leave as it found them."""
    fired = []
    previous = signal.signal(signal.SIGALRM, lambda signum, frame: fired.append(signum))
    try:
        yield fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_a_budget_interrupts_and_resumes_the_callers_timer(outer_alarm):
    handler = signal.getsignal(signal.SIGALRM)
    signal.setitimer(signal.ITIMER_REAL, 60)
    with pytest.raises(symbolic.OutOfTime):
        with symbolic.time_budget(0.2):
            _spin()
    assert signal.getsignal(signal.SIGALRM) is handler
    assert 50 < signal.getitimer(signal.ITIMER_REAL)[0] <= 60 and outer_alarm == []


def test_a_shorter_timer_of_the_caller_still_fires(outer_alarm):
    signal.setitimer(signal.ITIMER_REAL, 0.2)
    with pytest.raises(symbolic.OutOfTime):
        with symbolic.time_budget(30):
            _spin()
    deadline = time.monotonic() + 5
    while not outer_alarm and time.monotonic() < deadline:
        time.sleep(0.01)
    assert outer_alarm == [signal.SIGALRM]


def test_a_budget_inside_a_budget_is_the_outer_one():
    with pytest.raises(symbolic.OutOfTime):
        with symbolic.time_budget(0.2):
            with symbolic.time_budget(30):
                _spin()
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_outside_the_main_thread_a_check_still_runs():
    results = []

    def check():
        try:
            symbolic.check_tree(sympy_tree.encode(w / (2 * lam)), grader.PROTOTYPE_L2, grader.SYMBOLS, shape=(3, 1))
            results.append("accepted")
        except Exception as error:  # noqa: BLE001 - reported through the list
            results.append(repr(error))

    thread = threading.Thread(target=check)
    thread.start()
    thread.join(60)
    assert results == ["accepted"]
