"""Reference closed forms and functions of sheet 1: activation maximization, LRP
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

The symbols are defined here again, by name and assumptions: the checker reads every
answer tree with these objects, never with anything from a student's process.
"""
import numpy as np
import sympy


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
GAP = sympy.Symbol("d", positive=True)  # a₁ = a₂ + d on the region a₁ > a₂; never offered to students

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
# Neuralization: references in NumPy
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
