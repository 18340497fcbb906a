"""The sympy symbols of sheet 1 and a self-check of an answer's *form*.

Sheet 1 asks for closed forms as sympy expressions.  Write them with the symbols defined
here (``from utils.symbols import w, lam, Sigma, ...``) so that the graders recognise
every name.  :func:`check_form` tells you whether an answer has the expected type, shape
and symbols; it says nothing about whether the answer is right.

Vectors have explicit components (d = 3 input dimensions, k = 2 code dimensions), so a
product such as ``Sigma * w`` or ``A.T * w`` is an ordinary sympy ``Matrix``.
"""
import sympy

from utils import sympy_tree

D, K = 3, 2
"""Input dimension d of exercise 1 and code dimension k of the generator in 1(c)."""


def _vector(prefix: str, size: int, **assumptions) -> sympy.ImmutableMatrix:
    return sympy.ImmutableMatrix(sympy.symbols(f"{prefix}1:{size + 1}", **assumptions))


# Exercise 1: activation maximization of f(x) = wᵀx + b
w = _vector("w", D, real=True)
b = sympy.Symbol("b", real=True)
lam = sympy.Symbol("lambda", positive=True)
mu = _vector("mu", D, real=True)
# Σ is symmetric: Sigma12 is both the (1, 2) and the (2, 1) entry; its diagonal is positive.
Sigma = sympy.ImmutableMatrix(
    D,
    D,
    lambda i, j: sympy.Symbol(f"Sigma{min(i, j) + 1}{max(i, j) + 1}", real=True, positive=True if i == j else None),
)
A = sympy.ImmutableMatrix(D, K, lambda i, j: sympy.Symbol(f"A{i + 1}{j + 1}", real=True))
c = _vector("c", D, real=True)

# Exercise 2: LRP on the min networks
a1, a2 = sympy.symbols("a1 a2", positive=True)
gamma = sympy.Symbol("gamma", positive=True)

# Exercise 3: neuralization (gamma is the kernel width there)
h_min = sympy.Symbol("h_min", real=True)
M = sympy.Symbol("M", positive=True, integer=True)


def _collect() -> dict:
    names = {}
    for value in (w, b, lam, mu, Sigma, A, c, a1, a2, gamma, h_min, M):
        for symbol in value.free_symbols:
            names[symbol.name] = symbol
    return names


SYMBOLS: dict = _collect()
"""Every symbol of the sheet, by name."""


def check_form(value, shape=None) -> str:
    """Check that ``value`` is a sympy expression (``shape=None``) or a sympy matrix of
    ``shape`` written only in the sheet's symbols, in the form the grader can read;
    return a one-line description.

    The form is the one :func:`utils.sympy_tree.encode` writes for the grader: sympy
    numbers, the symbols above, sums, products, powers, exp, log, Abs, Max, Min, sign,
    Heaviside and Piecewise (whose conditions may use relations such as ``a1 > a2``).
    Raises ``TypeError`` or ``ValueError`` explaining what is wrong with the form.  This
    never checks that the answer is correct.
    """
    if isinstance(value, str):
        raise TypeError("write the answer as a sympy expression, not as a string")
    if shape is None:
        if isinstance(value, sympy.MatrixBase):
            raise TypeError(f"expected a single expression, got a matrix of shape {value.shape}")
        kind = "expression"
    else:
        if not isinstance(value, sympy.MatrixBase):
            raise TypeError(f"expected a sympy Matrix of shape {tuple(shape)}, got {type(value).__name__}")
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f"expected shape {tuple(shape)}, got {tuple(value.shape)}")
        kind = f"{shape[0]}×{shape[1]} matrix"
    try:
        tree = sympy_tree.encode(value)
    except sympy_tree.NotAnExpression as error:
        raise TypeError(f"the grader cannot read this answer, which holds: {error}") from None
    names = sympy_tree.symbol_names(tree)
    unknown = sorted(names - set(SYMBOLS))
    if unknown:
        raise ValueError(f"unknown symbols {unknown}; use the symbols of utils.symbols: {sorted(SYMBOLS)}")
    undefined = sympy_tree.undefined_constants(tree)
    if undefined:
        raise ValueError(f"the answer contains infinite or undefined values {undefined} (a division by zero?)")
    return f"form OK: a sympy {kind} in the symbols {sorted(names)}"
