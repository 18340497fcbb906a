# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Sheet 1: explanations on paper
#
# Three short analytic exercises: the prototype that **activation maximization** builds
# for a linear model, **layer-wise relevance propagation** (LRP) on two ReLU networks
# that compute the same function, and the **neuralization** of a one-class SVM.
#
# **How answers are given.** "Show that" parts are answered in the markdown cells marked
# *YOUR ANSWER HERE*; they are graded by hand. Final closed forms are answered as
# [sympy](https://docs.sympy.org) expressions written with the symbols imported below
# from `utils.symbols` (for instance `v = b * c + lam * mu`, a $3 \times 1$ matrix); they
# are graded automatically, and every algebraically equivalent form is accepted. Vectors
# and matrices have explicit components (input dimension $d = 3$, code dimension $k = 2$),
# so `Sigma * mu` or `A.T * c` are ordinary sympy matrices. `check_form(answer, shape)`
# tells you whether an answer has the right type, shape and symbols; it does not tell you
# whether it is right. After most answers a cell compares your closed form with a
# numerical experiment.

# %%
import matplotlib.pyplot as plt
import numpy as np
import sympy
import torch

from utils import lrp_exact
from utils.runmode import pick
from utils.symbols import A, M, Sigma, a1, a2, b, c, check_form, gamma, h_min, lam, mu, w

torch.set_num_threads(1)

# %% [markdown]
# ## Exercise 1: Activation maximization (11 points)
#
# Consider the linear model $f(x) = w^\top x + b$ with $x, w \in \mathbb{R}^d$. To
# interpret $f$ we look for a *prototype* $x^\star$: an input that makes $f$ large while
# staying plausible, as measured by a penalty $\Omega$:
#
# $$x^\star = \arg\max_x \; f(x) - \Omega(x).$$
#
# The cell below draws one random instance of every quantity of this exercise; the
# checks after your answers plug it into your closed form and compare with plain
# gradient ascent on the objective.

# %%
generator = torch.Generator().manual_seed(2024)


def draw(*shape):
    return torch.randn(*shape, generator=generator, dtype=torch.float64)


w_, mu_, c_, A_ = draw(3), draw(3), draw(3), draw(3, 2)
root = draw(3, 3)
Sigma_ = root @ root.T + 0.5 * torch.eye(3, dtype=torch.float64)  # symmetric positive definite
lam_, b_ = 0.7, 0.3

instance = {lam: lam_, b: b_}
instance.update(zip(w, w_.tolist()))
instance.update(zip(mu, mu_.tolist()))
instance.update(zip(c, c_.tolist()))
instance.update(zip(A, A_.flatten().tolist()))
instance.update(zip(Sigma, Sigma_.flatten().tolist()))  # Sigma is symmetric, so repeated symbols agree


def evaluate(expression):
    """The closed form at the random instance, as a flat float64 tensor."""
    numbers = sympy.ImmutableMatrix(expression).xreplace(instance).evalf()
    return torch.tensor(np.array(numbers.tolist(), dtype=np.float64)).flatten()


def gradient_ascent(objective, start, step, steps=pick(3000, 800)):
    """Maximise a concave ``objective`` by plain gradient ascent from ``start``."""
    x = start.clone().requires_grad_(True)
    for _ in range(steps):
        (gradient,) = torch.autograd.grad(objective(x), x)
        with torch.no_grad():
            x += step * gradient
    return x.detach()


# %% [markdown]
# ### (a) A norm penalty
#
# Find the prototype for $\Omega(x) = \lambda \|x\|^2$ with $\lambda > 0$. Show your
# derivation in the next cell, then assign the result to `x_star_l2` (a $3\times 1$
# sympy matrix, symbols `w` and `lam`).

# %% [markdown] nbgrader={"grade": true, "grade_id": "derivation_l2", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# The objective $g(x) = w^\top x + b - \lambda\|x\|^2$ is strictly concave (its Hessian
# is $-2\lambda I$), so its maximum is where the gradient vanishes:
# $\nabla g(x) = w - 2\lambda x = 0$, hence $x^\star = \dfrac{w}{2\lambda}$.

# %% nbgrader={"grade": false, "grade_id": "prototype_l2", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
x_star_l2 = w / (2 * lam)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_prototype_l2", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(check_form(x_star_l2, shape=(3, 1)))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_prototype_l2", x_star_l2=x_star_l2)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
found = gradient_ascent(lambda x: w_ @ x + b_ - lam_ * (x @ x), torch.zeros(3, dtype=torch.float64), step=0.2)
print("gradient ascent:", found.numpy(), "\nclosed form:    ", evaluate(x_star_l2).numpy())
assert torch.allclose(found, evaluate(x_star_l2), atol=1e-6), "the closed form and gradient ascent disagree"

# %% [markdown]
# ### (b) A Gaussian prior
#
# Find the prototype for $\Omega(x) = -\log p(x)$ where $p = \mathcal{N}(\mu, \Sigma)$
# is a Gaussian with mean $\mu$ and (symmetric, positive definite) covariance $\Sigma$.
# Assign it to `x_star_gaussian` (symbols `w`, `mu`, `Sigma`; `Sigma.inv()` is available
# if you need an inverse).

# %% [markdown] nbgrader={"grade": true, "grade_id": "derivation_gaussian", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# $-\log p(x) = \tfrac12 (x-\mu)^\top \Sigma^{-1}(x-\mu) + \tfrac12\log\det(2\pi\Sigma)$, so
# the objective $g(x) = w^\top x + b - \tfrac12 (x-\mu)^\top\Sigma^{-1}(x-\mu) + \text{const}$
# is strictly concave (Hessian $-\Sigma^{-1}$). Its gradient
# $w - \Sigma^{-1}(x - \mu)$ vanishes at $x^\star = \mu + \Sigma w$: the prototype moves
# from the mean along $\Sigma w$, i.e. along $w$ stretched in the directions where the
# data vary most.

# %% nbgrader={"grade": false, "grade_id": "prototype_gaussian", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
x_star_gaussian = mu + Sigma * w
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_prototype_gaussian", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(check_form(x_star_gaussian, shape=(3, 1)))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_prototype_gaussian", x_star_gaussian=x_star_gaussian)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
prior = torch.distributions.MultivariateNormal(mu_, covariance_matrix=Sigma_)
step = float(torch.linalg.eigvalsh(Sigma_).min())  # 1 / (largest curvature of the objective)
found = gradient_ascent(lambda x: w_ @ x + b_ + prior.log_prob(x), mu_, step=step, steps=pick(6000, 3000))
print("gradient ascent:", found.numpy(), "\nclosed form:    ", evaluate(x_star_gaussian).numpy())
assert torch.allclose(found, evaluate(x_star_gaussian), atol=1e-6), "the closed form and gradient ascent disagree"

# %% [markdown]
# ### (c) A generator
#
# Now the data are generated as $z \sim \mathcal{N}(0, I)$, $x = Az + c$, with
# $A \in \mathbb{R}^{d\times k}$ and $c \in \mathbb{R}^d$ the parameters of the
# generator. We optimise over the code $z$:
# $z^\star = \arg\max_z f(Az + c) - \lambda\|z\|^2$, and the prototype is
# $x^\star = A z^\star + c$. Assign $z^\star$ to `z_star_generator` ($2\times1$) and
# $x^\star$ to `x_star_generator` ($3\times 1$).

# %% [markdown] nbgrader={"grade": true, "grade_id": "derivation_generator", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# $g(z) = w^\top(Az + c) + b - \lambda\|z\|^2 = (A^\top w)^\top z + w^\top c + b - \lambda \|z\|^2$
# is the objective of (a) with $w$ replaced by $A^\top w$, so $z^\star = \dfrac{A^\top w}{2\lambda}$
# and $x^\star = A z^\star + c = \dfrac{A A^\top w}{2\lambda} + c$: the prototype lies in
# the range of the generator, shifted by $c$.

# %% nbgrader={"grade": false, "grade_id": "code_generator", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
z_star_generator = A.T * w / (2 * lam)
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_code_generator", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(check_form(z_star_generator, shape=(2, 1)))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_code_generator", z_star_generator=z_star_generator)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "prototype_generator", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
x_star_generator = A * z_star_generator + c
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_prototype_generator", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(check_form(x_star_generator, shape=(3, 1)))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_prototype_generator", x_star_generator=x_star_generator)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
found_z = gradient_ascent(lambda z: w_ @ (A_ @ z + c_) + b_ - lam_ * (z @ z), torch.zeros(2, dtype=torch.float64), step=0.2)
found_x = A_ @ found_z + c_
print("gradient ascent z:", found_z.numpy(), " closed form z:", evaluate(z_star_generator).numpy())
print("gradient ascent x:", found_x.numpy(), " closed form x:", evaluate(x_star_generator).numpy())
assert torch.allclose(found_z, evaluate(z_star_generator), atol=1e-6), "z*: closed form and gradient ascent disagree"
assert torch.allclose(found_x, evaluate(x_star_generator), atol=1e-6), "x*: closed form and gradient ascent disagree"

# %% [markdown]
# ## Exercise 2: LRP depends on the structure of the network (15 points)
#
# The function $y = \min(a_1, a_2)$ on input activations $a_1, a_2 \ge 0$ can be written
# as a ReLU network in several ways. This sheet uses these two (with
# $\rho(t) = \max(0, t)$ the ReLU):
#
# * **Network A** (asymmetric): hidden neurons $h_1 = \rho(a_1)$, $h_2 = \rho(a_1 - a_2)$,
#   linear output $y = h_1 - h_2$.
# * **Network B** (symmetric): hidden neurons $h_1 = \rho(a_1)$, $h_2 = \rho(a_2)$,
#   $h_3 = \rho(a_1 - a_2)$, $h_4 = \rho(a_2 - a_1)$, linear output
#   $y = \tfrac12 h_1 + \tfrac12 h_2 - \tfrac12 h_3 - \tfrac12 h_4$.
#
# The neurons $\rho(a_1)$ and $\rho(a_2)$ just pass their input on (the inputs are
# non-negative); they make both networks plain stacks of dense layers. Below they are
# built with the small exact LRP engine `utils.lrp_exact` (weights as rows, one row per
# output neuron) and drawn; red edges have positive, blue edges negative weights. The
# engine evaluates networks and LRP at numbers (exact fractions such as
# `sympy.Rational(1, 2)`, or floats); after your answers it serves to compare your closed
# forms with the propagated relevance at sample points.

# %%
half = sympy.Rational(1, 2)
network_A = lrp_exact.Network([
    lrp_exact.Dense.of([[1, 0], [1, -1]]),
    lrp_exact.Dense.of([[1, -1]], relu=False),
])
network_B = lrp_exact.Network([
    lrp_exact.Dense.of([[1, 0], [0, 1], [1, -1], [-1, 1]]),
    lrp_exact.Dense.of([[half, half, -half, -half]], relu=False),
])
networks = {"A": network_A, "B": network_B}

titles = {
    "A": r"A: $y = \rho(a_1) - \rho(a_1 - a_2)$",
    "B": r"B: $y = \frac{1}{2}(\rho(a_1) + \rho(a_2) - \rho(a_1 - a_2) - \rho(a_2 - a_1))$",
}
figure, axes = plt.subplots(1, 2, figsize=(10, 4))
for ax, (name, network) in zip(axes, networks.items()):
    lrp_exact.draw(network, ax=ax, title=titles[name])
figure.text(0.5, 0.02, "grey neurons apply a ReLU, white ones are linear", ha="center", fontsize=9)
plt.show()

# %% [markdown]
# ### (a) Both networks compute the minimum
#
# Show that network A and network B both compute $\min(a_1, a_2)$ for all
# $a_1, a_2 \ge 0$.

# %% [markdown] nbgrader={"grade": true, "grade_id": "min_networks_proof", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Since $a_1, a_2 \ge 0$, $\rho(a_1) = a_1$ and $\rho(a_2) = a_2$. Two cases:
#
# * $a_1 \ge a_2$: $\rho(a_1 - a_2) = a_1 - a_2$ and $\rho(a_2 - a_1) = 0$. Network A gives
#   $a_1 - (a_1 - a_2) = a_2$; network B gives
#   $\tfrac12(a_1 + a_2) - \tfrac12(a_1 - a_2) - 0 = a_2$. Both equal $\min(a_1,a_2) = a_2$.
# * $a_1 < a_2$: $\rho(a_1 - a_2) = 0$ and $\rho(a_2 - a_1) = a_2 - a_1$. Network A gives
#   $a_1 - 0 = a_1$; network B gives $\tfrac12(a_1 + a_2) - 0 - \tfrac12(a_2 - a_1) = a_1$.
#   Both equal $\min(a_1, a_2) = a_1$.

# %% [markdown]
# The case analysis in sympy: the outputs of both networks written with `sympy.Max` for
# $\rho$, then $a_1 = a_2 + t$ and $a_2 = a_1 + t$ with $t \ge 0$ substituted and
# simplified.

# %% tags=["skip-when-grading"]
def rho(value):
    return sympy.Max(value, 0)


t = sympy.Symbol("t", nonnegative=True)
outputs = {
    "A": rho(a1) - rho(a1 - a2),
    "B": (rho(a1) + rho(a2) - rho(a1 - a2) - rho(a2 - a1)) / 2,
}
for name, y in outputs.items():
    first_larger, second_larger = sympy.simplify(y.subs(a1, a2 + t)), sympy.simplify(y.subs(a2, a1 + t))
    print(f"network {name}: a1 = a2 + t gives {first_larger}, a2 = a1 + t gives {second_larger}")
    assert first_larger == a2 and second_larger == a1

# %% [markdown]
# A numerical check on a grid of $[0, 3]^2$ (61 × 61 points, including the diagonal):

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
grid = np.linspace(0.0, 3.0, 61)
points = np.array([(p, q) for p in grid for q in grid])
for name, network in networks.items():
    error = np.abs(lrp_exact.numeric_forward(network, points)[:, 0] - points.min(axis=1)).max()
    print(f"network {name}: largest deviation from min on the grid = {error:.1e}")
    assert error < 1e-12

# %% [markdown]
# ### (b) LRP-γ at $a_1 = a_2$
#
# We use the LRP-γ rule (Montavon et al., 2019) at **every** layer, the linear output
# layer included:
#
# $$R_j = \sum_k \frac{a_j\,(w_{jk} + \gamma w_{jk}^+)}{\sum_{0,j} a_j\,(w_{jk} + \gamma w_{jk}^+)}\, R_k ,
# \qquad w^+ = \max(0, w),$$
#
# where $j$ runs over the neurons of a layer, $k$ over the neurons of the layer above,
# and the index $0$ stands for the bias ($a_0 = 1$, $w_{0k} = b_k$; the biases are 0 in
# both networks). Negative weights enter the rule unchanged: only the positive weights
# are enlarged by $\gamma$. The relevance at the top is the output, $R_y = y$; a neuron
# with activation 0 receives no relevance from any rule.
#
# For each network, derive the relevance $R_1$ of the input $a_1$ at a point with
# $a_1 = a_2$, as a function of the input activations (and of $\gamma$ where it
# appears). Write the derivation below, then assign the results to `R1_network_A` and
# `R1_network_B` (sympy expressions in `a1`, `a2`, `gamma`).

# %% [markdown] nbgrader={"grade": true, "grade_id": "lrp_gamma_derivation", "locked": false, "points": 3, "schema_version": 3, "solution": true, "task": false}
# Let $a_1 = a_2 = a > 0$, so $y = a$.
#
# **Network A.** The hidden activations are $h_1 = a$, $h_2 = \rho(0) = 0$. Output layer,
# modified weights $(1+\gamma, -1)$: the denominator is $a(1+\gamma) - 0 = a(1+\gamma)$,
# so $R_{h_1} = \frac{a(1+\gamma)}{a(1+\gamma)}\,y = a$ and $R_{h_2} = 0$ ($h_2 = 0$).
# First layer: $h_1$ is connected to $a_1$ only (weights $(1, 0)$), so all of
# $R_{h_1}$ goes to $a_1$; $h_2$ has nothing to give. Hence
# $R_1 = a_1$ (and $R_2 = 0$), for every $\gamma$.
#
# **Network B.** Hidden activations $h = (a, a, 0, 0)$. Output layer, modified weights
# $\tfrac12(1+\gamma, 1+\gamma, -1, -1)$: the denominator is $a(1+\gamma)$ and
# $R_{h_1} = R_{h_2} = \frac{\frac12 a(1+\gamma)}{a(1+\gamma)}\,y = \frac a2$,
# $R_{h_3} = R_{h_4} = 0$. First layer: $h_1$ passes its relevance to $a_1$, $h_2$ to
# $a_2$. Hence $R_1 = \dfrac{a_1}{2}$ (and $R_2 = \dfrac{a_2}{2}$), for every $\gamma$.
#
# The two networks compute the same function, yet LRP explains the same input
# differently: A puts all relevance on $a_1$, B splits it evenly. The explanation depends
# on how the function is implemented, not only on the function.

# %% nbgrader={"grade": false, "grade_id": "R1_network_A", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
R1_network_A = a1
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_R1_network_A", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(check_form(R1_network_A))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_R1_network_A", R1_network_A=R1_network_A)
### END HIDDEN TESTS

# %% nbgrader={"grade": false, "grade_id": "R1_network_B", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
R1_network_B = a1 / 2
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_R1_network_B", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(check_form(R1_network_B))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_R1_network_B", R1_network_B=R1_network_B)
### END HIDDEN TESTS

# %% [markdown]
# Compare with the exact engine: LRP-γ propagated through each network at a few points
# with $a_1 = a_2$, in exact fractions, next to your closed form at the same numbers.

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
def compare_at(network, answer, value1, value2, g):
    """The engine's R1 and ``answer`` at a1 = value1, a2 = value2, gamma = g."""
    propagated = lrp_exact.lrp(network, [value1, value2], lrp_exact.LRPGamma(g))[0][0]
    mine = sympy.sympify(answer).subs({a1: value1, a2: value2, gamma: g})
    verdict = "agree" if sympy.simplify(propagated - mine) == 0 else "DIFFER"
    print(f"    a1 = {value1}, a2 = {value2}, gamma = {g}: engine {propagated}, yours {mine}  ({verdict})")


points_on_diagonal = [(sympy.Rational(3, 2), sympy.Rational(1, 4)), (4, 3), (sympy.Rational(7, 3), 0)]
for name, network, answer in (("A", network_A, R1_network_A), ("B", network_B, R1_network_B)):
    print(f"network {name}:")
    for value, g in points_on_diagonal:
        compare_at(network, answer, value, value, g)

# %% [markdown]
# ### (c) Network A away from the diagonal
#
# Now let $a_1 > a_2 > 0$ in network A. Derive $R_1$ under the same LRP-γ rule and
# assign it to `R1_network_A_above` (in `a1`, `a2`, `gamma`). What does it become for
# $\gamma = 0$ and for $\gamma \to \infty$?

# %% [markdown] nbgrader={"grade": true, "grade_id": "lrp_gamma_above", "locked": false, "points": 1, "schema_version": 3, "solution": true, "task": false}
# Here $h_1 = a_1$, $h_2 = a_1 - a_2 > 0$ and $y = a_2$. Output layer (modified weights
# $(1+\gamma, -1)$): denominator $a_1(1+\gamma) - (a_1 - a_2) = \gamma a_1 + a_2$, so
# $R_{h_1} = \frac{a_1(1+\gamma)}{\gamma a_1 + a_2} a_2$ and
# $R_{h_2} = -\frac{a_1 - a_2}{\gamma a_1 + a_2} a_2$ (negative relevance).
# First layer: $R_{h_1}$ goes to $a_1$ entirely; $h_2$ has modified weights
# $(1+\gamma, -1)$ and denominator $a_1(1+\gamma) - a_2 > 0$, so $a_1$ gets
# $\frac{a_1(1+\gamma)}{a_1(1+\gamma) - a_2} R_{h_2}$. Adding both,
#
# $$R_1 = \frac{a_1 a_2(1+\gamma)}{\gamma a_1 + a_2}\Big(1 - \frac{a_1 - a_2}{(1+\gamma)a_1 - a_2}\Big)
#       = \frac{\gamma(1+\gamma)\,a_1^2 a_2}{(\gamma a_1 + a_2)\,\big((1+\gamma)a_1 - a_2\big)} .$$
#
# For $\gamma = 0$ (LRP-0, here Gradient × Input) $R_1 = 0$: locally $y = a_2$ does not
# depend on $a_1$. For $\gamma \to \infty$, $R_1 \to a_1^2a_2/a_1^2 = a_2 = y$: all the
# relevance moves to the larger input $a_1$, because γ favours positive contributions.

# %% nbgrader={"grade": false, "grade_id": "R1_network_A_above", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
R1_network_A_above = gamma * (1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2))
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_R1_network_A_above", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
print(check_form(R1_network_A_above))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_R1_network_A_above", R1_network_A_above=R1_network_A_above)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
print("network A:")
for value1, value2, g in ((3, 1, sympy.Rational(1, 4)), (2, sympy.Rational(3, 2), 5), (5, sympy.Rational(1, 2), 0)):
    compare_at(network_A, R1_network_A_above, value1, value2, g)
print("your closed form for gamma -> oo:", sympy.limit(R1_network_A_above, gamma, sympy.oo))

# %% [markdown]
# ### (d) One function, many explanations
#
# In two or three sentences, in the next cell: what do (b) and (c) tell you about LRP
# explanations of a function that has many implementations?

# %% [markdown] nbgrader={"grade": true, "grade_id": "lrp_structure_discussion", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# LRP is not a property of the function alone but of its implementation: at $a_1 = a_2$
# the same input gets $(a, 0)$ from network A and $(a/2, a/2)$ from network B, for every
# γ. Even within one network, the rule's parameter moves relevance (from $a_2$ at γ = 0
# to $a_1$ as γ → ∞ in (c)), so explanations must be read together with the architecture
# and rules that produced them.

# %% [markdown]
# ## Exercise 3: Neuralization of a one-class SVM (12 points)
#
# A one-class SVM scores the "inlierness" of a point $x$ as
# $f(x) = \sum_{i=1}^M \alpha_i\, k(x, u_i)$ with support vectors $u_1, \dots, u_M$,
# weights $\alpha_i > 0$ and the Gaussian kernel $k(x, x') = \exp(-\gamma\|x - x'\|^2)$.
# The outlier score $o(x) = -\frac1\gamma \log f(x)$ grows with the degree of anomaly.
#
# ### (a) Two layers
#
# Show that $o(x)$ is the two-layer network
#
# $$h_i = \|x - u_i\|^2 - \tfrac1\gamma \log\alpha_i \quad\text{(layer 1)},\qquad
#   o(x) = -\tfrac1\gamma \log \sum_{i=1}^M \exp(-\gamma h_i) \quad\text{(layer 2)}.$$

# %% [markdown] nbgrader={"grade": true, "grade_id": "neuralization_proof", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Since $\alpha_i > 0$, $\alpha_i = \exp(\log\alpha_i) = \exp\!\big(-\gamma\cdot(-\tfrac1\gamma\log\alpha_i)\big)$. Hence
# $\alpha_i \exp(-\gamma\|x-u_i\|^2) = \exp\!\big(-\gamma(\|x-u_i\|^2 - \tfrac1\gamma\log\alpha_i)\big) = \exp(-\gamma h_i)$,
# so $f(x) = \sum_i \exp(-\gamma h_i)$ and $o(x) = -\frac1\gamma\log f(x) = -\frac1\gamma\log\sum_i\exp(-\gamma h_i)$.

# %% [markdown]
# Implement both layers in torch. `layer1(x, U, alpha, gamma)` takes a batch `x` of shape
# $(N, d)$, the support vectors `U` $(M, d)$, the weights `alpha` $(M,)$ and a float
# `gamma`, and returns $h$ of shape $(N, M)$. `layer2(h, gamma)` returns the shape-$(N,)$
# soft minimum of every row. Make `layer2` work for large $\gamma$ as well (say
# $\gamma = 500$), where $\exp(-\gamma h_i)$ underflows to 0 in floating point.

# %% nbgrader={"grade": false, "grade_id": "neuralization_layers", "locked": false, "schema_version": 3, "solution": true, "task": false}
def layer1(x, U, alpha, gamma):
    """h[n, i] = ||x_n - u_i||^2 - log(alpha_i) / gamma."""
    ### BEGIN SOLUTION
    squared_distances = ((x[:, None, :] - U[None, :, :]) ** 2).sum(dim=-1)
    return squared_distances - torch.log(alpha)[None, :] / gamma
    ### END SOLUTION


def layer2(h, gamma):
    """-(1/gamma) log sum_i exp(-gamma h[n, i]) for every row n."""
    ### BEGIN SOLUTION
    return -torch.logsumexp(-gamma * h, dim=1) / gamma
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_layer1", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
example_h = layer1(torch.zeros(2, 3, dtype=torch.float64), torch.ones(4, 3, dtype=torch.float64),
                   torch.ones(4, dtype=torch.float64), 1.0)
assert tuple(example_h.shape) == (2, 4), "layer1 should return shape (N, M)"
assert torch.allclose(example_h, torch.full((2, 4), 3.0, dtype=torch.float64)), "||0 - 1||^2 = 3 in three dimensions, log 1 = 0"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_layer1", layer1=layer1)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_layer2", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
example_h = torch.tensor([[1.0, 1.0], [2.0, 5.0]], dtype=torch.float64)
assert tuple(layer2(example_h, 1.0).shape) == (2,), "layer2 should return shape (N,)"
assert abs(float(layer2(example_h, 1.0)[0]) - (1.0 - np.log(2.0))) < 1e-12, "two equal values h give h - log(2)/gamma"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_layer2", layer2=layer2)
### END HIDDEN TESTS

# %% nbgrader={"grade": true, "grade_id": "test_neuralization", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# one support vector of weight 1: o(x) = ||x - u||^2 for every gamma
x_one = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
o_one = layer2(layer1(x_one, torch.zeros(1, 2, dtype=torch.float64), torch.ones(1, dtype=torch.float64), 2.0), 2.0)
assert abs(float(o_one[0]) - 5.0) < 1e-9, "with one support vector u = 0 of weight 1, o(x) = ||x||^2 = 5 here"
# the two layers together must reproduce the outlier score o(x) (checked on unseen data)
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_neuralization", layer1=layer1, layer2=layer2)
### END HIDDEN TESTS

# %% [markdown]
# The two layers against the definition of $o(x)$ on random data:

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
data = torch.Generator().manual_seed(7)
x_data = torch.randn(200, 2, generator=data, dtype=torch.float64)
U_data = torch.randn(6, 2, generator=data, dtype=torch.float64)
alpha_data = torch.rand(6, generator=data, dtype=torch.float64) + 0.1
for g in (0.5, 2.0):
    kernel = torch.exp(-g * ((x_data[:, None, :] - U_data[None, :, :]) ** 2).sum(dim=-1))
    outlier_score = -torch.log((alpha_data * kernel).sum(dim=1)) / g
    network_score = layer2(layer1(x_data, U_data, alpha_data, g), g)
    print(f"gamma = {g}: largest |network - o(x)| = {float((network_score - outlier_score).abs().max()):.1e}")
    assert torch.allclose(network_score, outlier_score, atol=1e-10)

# %% [markdown]
# ### (b) A soft min-pooling
#
# Show that layer 2 converges to a min-pooling, $\lim_{\gamma\to\infty} -\frac1\gamma \log
# \sum_i \exp(-\gamma h_i) = \min_i h_i$ (for fixed $h_1, \dots, h_M$). A sandwich helps:
# write $h_{\min} = \min_i h_i$ and find a lower bound $L(\gamma)$ with
# $L(\gamma) \le -\frac1\gamma\log\sum_i \exp(-\gamma h_i) \le h_{\min}$ where the left
# inequality is an equality when all $M$ values $h_i$ are equal.
# Assign $L(\gamma)$ to `softmin_lower_bound` (symbols `h_min`, `M`, `gamma`).

# %% [markdown] nbgrader={"grade": true, "grade_id": "softmin_limit_proof", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Factor out the smallest term: $\sum_i e^{-\gamma h_i} = e^{-\gamma h_{\min}} S$ with
# $S = \sum_i e^{-\gamma(h_i - h_{\min})}$. Every term of $S$ lies in $(0, 1]$ and the
# minimising one equals 1, so $1 \le S \le M$. Then
# $-\frac1\gamma\log\sum_i e^{-\gamma h_i} = h_{\min} - \frac1\gamma\log S$ lies in
# $[h_{\min} - \frac{\log M}{\gamma},\, h_{\min}]$ (the lower end is attained when all
# $h_i$ are equal, $S = M$). Both ends tend to $h_{\min}$ as $\gamma\to\infty$, so layer 2
# becomes $\min_i h_i$: the network is a distance to the nearest support vector, shifted
# by $-\frac1\gamma\log\alpha_i$.

# %% nbgrader={"grade": false, "grade_id": "softmin_lower_bound", "locked": false, "schema_version": 3, "solution": true, "task": false}
### BEGIN SOLUTION
softmin_lower_bound = h_min - sympy.log(M) / gamma
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "test_softmin_lower_bound", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print(check_form(softmin_lower_bound))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet1_analytic", "test_softmin_lower_bound", softmin_lower_bound=softmin_lower_bound)
### END HIDDEN TESTS

# %% [markdown]
# sympy agrees: the bound and the soft minimum of two values $h_1 < h_1 + \delta$ (after
# factoring out $e^{-\gamma h_1}$) both tend to the minimum. Numerically, layer 2
# approaches the row minimum as γ grows (with an error at most $\log(M)/\gamma$):

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
h1, delta = sympy.Symbol("h1", real=True), sympy.Symbol("delta", positive=True)
print("limit of the lower bound:", sympy.limit(softmin_lower_bound.subs(h_min, h1), gamma, sympy.oo))
print("limit of h1 - log(1 + exp(-gamma delta)) / gamma:",
      sympy.limit(h1 - sympy.log(1 + sympy.exp(-gamma * delta)) / gamma, gamma, sympy.oo))

h_example = torch.randn(5, 6, generator=data, dtype=torch.float64)
for g in (1.0, 10.0, 100.0, 1000.0, 10000.0):
    gap = float((layer2(h_example, g) - h_example.min(dim=1).values).abs().max())
    print(f"gamma = {g:>7}: largest |layer2 - min h| = {gap:.2e}  (bound log(M)/gamma = {np.log(6) / g:.2e})")
    assert gap <= np.log(6) / g + 1e-12
