"""Reference closed forms and hidden-test checks of sheet 1: activation maximization, LRP
on two ReLU networks computing min(a₁, a₂), and the neuralization of a one-class SVM.

References:

* Activation maximization (Erhan et al. 2009; Simonyan et al. 2014; Nguyen et al. 2016
  for the generator code): for f(x) = wᵀx + b the prototype maximises f(x) − Ω(x).
  Setting the gradient to zero gives x* = w/(2λ) for Ω = λ‖x‖², x* = μ + Σw for
  Ω = −log N(x; μ, Σ), and z* = Aᵀw/(2λ), x* = A z* + c for the generator x = Az + c.
* LRP-γ (Montavon et al., "Layer-wise relevance propagation: an overview", 2019) applied
  at every layer of network A, y = relu(a₁) − relu(a₁ − a₂), and network B,
  y = ½relu(a₁) + ½relu(a₂) − ½relu(a₁ − a₂) − ½relu(a₂ − a₁): at a₁ = a₂ the
  difference neurons are off, so A gives R₁ = a₁ and B gives R₁ = a₁/2 for every γ; for
  a₁ > a₂, A gives R₁ = γ(1+γ)a₁²a₂ / ((γa₁ + a₂)((1+γ)a₁ − a₂)).  The derivation is in
  the solution notebook; ``tests/test_lrp_exact.py`` confirms it with the exact engine
  and with torch.
* Neuralization (Kauffmann et al., "Towards explaining anomalies: a deep Taylor
  decomposition of one-class models", Pattern Recognition 2020): o(x) = −(1/γ) log
  Σᵢ αᵢ exp(−γ‖x − uᵢ‖²) is layer 2 ∘ layer 1 with hᵢ = ‖x − uᵢ‖² − (1/γ) log αᵢ and
  a soft min-pooling −(1/γ) log Σᵢ exp(−γhᵢ), which lies between min h − (log M)/γ and
  min h.

The symbols are defined here again, by name and assumptions, rather than imported from
:mod:`utils.symbols`, which a student's notebook could have modified.
"""
import numpy as np
import sympy
import torch

from autograder.hidden import call_student as _call
from autograder.hidden import GradingError, as_array, assert_close, rng
from autograder.symbolic import assert_equivalent

D, K = 3, 2

# --------------------------------------------------------------------------------------
# Symbols (same names and assumptions as utils.symbols)
# --------------------------------------------------------------------------------------


def _vector(prefix, size, **assumptions):
    return sympy.ImmutableMatrix([sympy.Symbol(f"{prefix}{i}", **assumptions) for i in range(1, size + 1)])


w = _vector("w", D, real=True)
b = sympy.Symbol("b", real=True)
lam = sympy.Symbol("lambda", positive=True)
mu = _vector("mu", D, real=True)
Sigma = sympy.ImmutableMatrix(
    [[sympy.Symbol(f"Sigma{min(i, j)}{max(i, j)}", real=True, **({"positive": True} if i == j else {}))
      for j in range(1, D + 1)] for i in range(1, D + 1)]
)
A = sympy.ImmutableMatrix([[sympy.Symbol(f"A{i}{j}", real=True) for j in range(1, K + 1)] for i in range(1, D + 1)])
c = _vector("c", D, real=True)
a1 = sympy.Symbol("a1", positive=True)
a2 = sympy.Symbol("a2", positive=True)
gamma = sympy.Symbol("gamma", positive=True)
h_min = sympy.Symbol("h_min", real=True)
M = sympy.Symbol("M", positive=True, integer=True)

SYMBOLS = {s.name: s for value in (w, b, lam, mu, Sigma, A, c, a1, a2, gamma, h_min, M) for s in value.free_symbols}
_gap = sympy.Symbol("d", positive=True)  # a₁ = a₂ + d on the region a₁ > a₂; never offered to students

# --------------------------------------------------------------------------------------
# Reference closed forms
# --------------------------------------------------------------------------------------

PROTOTYPE_L2 = w / (2 * lam)
PROTOTYPE_GAUSSIAN = mu + Sigma * w
CODE_GENERATOR = A.T * w / (2 * lam)
PROTOTYPE_GENERATOR = A * A.T * w / (2 * lam) + c
R1_NETWORK_A_EQUAL = a1
R1_NETWORK_B_EQUAL = a1 / 2
R1_NETWORK_A_ABOVE = gamma * (1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2))
SOFTMIN_LOWER_BOUND = h_min - sympy.log(M) / gamma


def network_a():
    """Weights of network A, y = relu(a₁) − relu(a₁ − a₂), as (W₁, W₂) with rows = outputs."""
    return [[1, 0], [1, -1]], [[1, -1]]


def network_b():
    """Weights of network B, y = ½relu(a₁) + ½relu(a₂) − ½relu(a₁ − a₂) − ½relu(a₂ − a₁)."""
    half = sympy.Rational(1, 2)
    return [[1, 0], [0, 1], [1, -1], [-1, 1]], [[half, half, -half, -half]]


# --------------------------------------------------------------------------------------
# Checks of the closed forms
# --------------------------------------------------------------------------------------


def check_prototype_l2(x_star):
    """x* for Ω(x) = λ‖x‖²: a 3×1 matrix equal to w/(2λ)."""
    assert_equivalent(x_star, PROTOTYPE_L2, SYMBOLS, shape=(D, 1), name="x_star_l2", seed=11)


def check_prototype_gaussian(x_star):
    """x* for Ω(x) = −log N(x; μ, Σ): a 3×1 matrix equal to μ + Σw."""
    assert_equivalent(x_star, PROTOTYPE_GAUSSIAN, SYMBOLS, shape=(D, 1), name="x_star_gaussian", seed=12)


def check_code_generator(z_star):
    """z* for the generator x = Az + c and Ω(z) = λ‖z‖²: a 2×1 matrix equal to Aᵀw/(2λ)."""
    assert_equivalent(z_star, CODE_GENERATOR, SYMBOLS, shape=(K, 1), name="z_star_generator", seed=13)


def check_prototype_generator(x_star):
    """x* = A z* + c for the generator: a 3×1 matrix equal to AAᵀw/(2λ) + c."""
    assert_equivalent(x_star, PROTOTYPE_GENERATOR, SYMBOLS, shape=(D, 1), name="x_star_generator", seed=14)


def check_R1_network_a(R1):
    """R₁ of network A at a₁ = a₂ (compared after setting a₂ = a₁)."""
    assert_equivalent(R1, R1_NETWORK_A_EQUAL, SYMBOLS, name="R1_network_A", substitutions={a2: a1}, seed=21)


def check_R1_network_b(R1):
    """R₁ of network B at a₁ = a₂ (compared after setting a₂ = a₁)."""
    assert_equivalent(R1, R1_NETWORK_B_EQUAL, SYMBOLS, name="R1_network_B", substitutions={a2: a1}, seed=22)


def check_R1_network_a_above(R1):
    """R₁ of network A on the region a₁ > a₂ (compared after setting a₁ = a₂ + d, d > 0)."""
    assert_equivalent(R1, R1_NETWORK_A_ABOVE, SYMBOLS, name="R1_network_A_above", substitutions={a1: a2 + _gap}, seed=23)


def check_softmin_lower_bound(bound):
    """The lower bound of the soft min-pooling, attained when all M values are equal."""
    assert_equivalent(bound, SOFTMIN_LOWER_BOUND, SYMBOLS, name="softmin_lower_bound", seed=31)


# --------------------------------------------------------------------------------------
# Neuralization: references in NumPy and checks of the student's two layers
# --------------------------------------------------------------------------------------


def outlier_score(x, U, alpha, gamma_):
    """o(x) = −(1/γ) log Σᵢ αᵢ exp(−γ‖x − uᵢ‖²), straight from the definition (NumPy)."""
    squared = ((x[:, None, :] - U[None, :, :]) ** 2).sum(axis=-1)
    return -np.log((alpha[None, :] * np.exp(-gamma_ * squared)).sum(axis=1)) / gamma_


def reference_layer1(x, U, alpha, gamma_):
    """hᵢ(x) = ‖x − uᵢ‖² − (1/γ) log αᵢ, shape (N, M)."""
    x, U, alpha = (np.asarray(v, dtype=np.float64) for v in (x, U, alpha))
    return ((x[:, None, :] - U[None, :, :]) ** 2).sum(axis=-1) - np.log(alpha)[None, :] / gamma_


def reference_layer2(h, gamma_):
    """−(1/γ) log Σᵢ exp(−γhᵢ) per row, with the minimum factored out so large γ is exact."""
    h = np.asarray(h, dtype=np.float64)
    smallest = h.min(axis=1)
    return smallest - np.log(np.exp(-gamma_ * (h - smallest[:, None])).sum(axis=1)) / gamma_


def _problem(seed, n=7, m=5, d=4):
    generator = rng(seed)
    x = generator.normal(size=(n, d))
    U = generator.normal(size=(m, d))
    alpha = generator.uniform(0.2, 2.0, size=m)
    return x, U, alpha


def _tensor(array):
    return torch.tensor(np.array(array, dtype=np.float64))


def check_layer1(layer1):
    """``layer1(x, U, alpha, gamma)`` on unseen tensors: shape (N, M) and the values of hᵢ."""
    for seed, gamma_ in ((101, 0.5), (102, 2.0), (103, 7.0)):
        x, U, alpha = _problem(seed)
        result = _call(layer1, _tensor(x), _tensor(U), _tensor(alpha), gamma_, name="layer1")
        assert_close(result, reference_layer1(x, U, alpha, gamma_), rtol=1e-6, atol=1e-8,
                     name=f"layer1 (gamma={gamma_})")


def check_layer2(layer2):
    """``layer2(h, gamma)`` on unseen tensors: the soft min per row, also for large γ."""
    for seed, gamma_ in ((201, 0.5), (202, 1.0), (203, 4.0)):
        h = rng(seed).normal(size=(6, 5))
        result = _call(layer2, _tensor(h), gamma_, name="layer2")
        assert_close(result, reference_layer2(h, gamma_), rtol=1e-6, atol=1e-8, name=f"layer2 (gamma={gamma_})")
    h = 3.0 + rng(204).uniform(0.0, 1.0, size=(6, 5))
    result = _call(layer2, _tensor(h), 500.0, name="layer2")
    try:
        assert_close(result, reference_layer2(h, 500.0), rtol=1e-6, atol=1e-8, name="layer2 (gamma=500)")
    except GradingError as error:
        raise GradingError(f"{error}. For large gamma exp(-gamma*h) underflows to 0: factor out the minimum "
                           "(or use torch.logsumexp)") from None


def check_neuralization(layer1, layer2):
    """layer2(layer1(x)) equals the outlier score o(x) of the one-class SVM on unseen data."""
    for seed, gamma_ in ((301, 0.3), (302, 1.5)):
        x, U, alpha = _problem(seed, n=9, m=4, d=3)
        h = _call(layer1, _tensor(x), _tensor(U), _tensor(alpha), gamma_, name="layer1")
        h = _tensor(as_array(h, shape=(9, 4), name="layer1(x, U, alpha, gamma)"))
        score = _call(layer2, h, gamma_, name="layer2")
        assert_close(score, outlier_score(x, U, alpha, gamma_), rtol=1e-6, atol=1e-8,
                     name=f"layer2(layer1(x)) (gamma={gamma_})")
