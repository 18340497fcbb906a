"""The answers of sheet 1 that are sympy closed forms, judged the way the grader judges
them: the student's value is written as a tree in the kernel (utils.sympy_tree), crosses
as JSON, is read back with the grader's own symbols and compared with the reference
(autograder.symbolic).  Many equivalent forms of every answer pass, many wrong ones fail
with a message that names the problem, and the reference closed forms agree with
numerical optimisation done independently here (SciPy)."""
import json
import signal
import time

import numpy as np
import pytest
import scipy.optimize
import scipy.stats
import sympy
import torch
from sympy import Abs, E, Eq, Heaviside, Matrix, Max, Min, Piecewise, Rational, exp, eye, log, sqrt

from autograder import symbolic
from autograder.checking import GradingError
from autograder.engine import answers
from autograder.sheets.sheet1_analytic import mutants
from autograder.sheets.sheet1_analytic import reference as grader
from utils import probing, sympy_tree
from utils import symbols as student_symbols
from utils.symbols import A, M, Sigma, a1, a2, c, gamma, h_min, lam, mu, w

half = Rational(1, 2)
plain_lambda = sympy.Symbol("lambda")  # a student's symbol without the positivity assumption
gap = sympy.Symbol("d", positive=True)  # a₁ = a₂ + d: the region a₁ > a₂
Sigma_inv = Sigma.inv()  # shared: inverting a symbolic 3×3 matrix takes a while
UNSIMPLIFIED = Sigma_inv.LUsolve(w)  # Σw, correct but unsimplified: far too slow for sympy's expand

# How each answer is checked: the reference closed form (grader side), shape, region, seed.
SPECS = {
    "x_star_l2": dict(reference=grader.PROTOTYPE_L2, shape=(3, 1), seed=11),
    "x_star_gaussian": dict(reference=grader.PROTOTYPE_GAUSSIAN, shape=(3, 1), seed=12),
    "z_star_generator": dict(reference=grader.CODE_GENERATOR, shape=(2, 1), seed=13),
    "x_star_generator": dict(reference=grader.PROTOTYPE_GENERATOR, shape=(3, 1), seed=14),
    "R1_network_A": dict(reference=grader.R1_NETWORK_A_EQUAL, substitutions={grader.a2: grader.a1}, seed=21),
    "R1_network_B": dict(reference=grader.R1_NETWORK_B_EQUAL, substitutions={grader.a2: grader.a1}, seed=22),
    "R1_network_A_above": dict(reference=grader.R1_NETWORK_A_ABOVE, substitutions={grader.a1: grader.a2 + gap},
                               seed=23),
    "softmin_lower_bound": dict(reference=grader.SOFTMIN_LOWER_BOUND, seed=31),
}


def judge(answer_name: str, value) -> None:
    """The whole path of a graded answer: encode in the kernel, JSON, decode and compare."""
    tree = json.loads(json.dumps(sympy_tree.encode(value)))
    spec = SPECS[answer_name]
    symbolic.check_tree(tree, spec["reference"], grader.SYMBOLS, shape=spec.get("shape"), name=answer_name,
                        substitutions=spec.get("substitutions"), seed=spec["seed"])


def _entry_changed(matrix, index, amount):
    entries = list(matrix)
    entries[index] = entries[index] + amount
    return Matrix(matrix.rows, matrix.cols, entries)


# The LRP-γ relevance of a₁ in network A where a₁ > a₂, written here in the textbook form
# (independently of the grader's reference): R₁ = γ(1+γ)a₁²a₂ / ((γa₁ + a₂)((1+γ)a₁ − a₂)).
R_ABOVE = gamma * (1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2))
R_NUMERATOR, R_DENOMINATOR = R_ABOVE.as_numer_denom()

L2 = w / (2 * lam)
GAUSSIAN = mu + Sigma * w
CODE = A.T * w / (2 * lam)
GENERATOR = A * A.T * w / (2 * lam) + c

EQUIVALENT = {
    "x_star_l2": [
        w / (2 * lam),
        w * (1 / (2 * lam)),
        half * w / lam,
        0.5 * w / lam,
        w / lam / 2,
        Matrix([w[i] / (2 * lam) for i in range(3)]),
        (w.T / (2 * lam)).T,
        eye(3) * w / (2 * lam),
        w * lam / (2 * lam**2),
        w / (lam + lam),
        sympy.MutableDenseMatrix(w) / (2 * lam),
        w / (2 * sqrt(lam**2)),
        w / (2 * Abs(lam)),
        L2.applyfunc(sympy.factor),
        w * (lam + 1) / (2 * lam**2 + 2 * lam),
        w * lam**-1 / 2,
        (2 * w) / (4 * lam),
        (w + mu - mu) / (2 * lam),
        sympy.SparseMatrix(w) / (2 * lam),
        w * (1 / lam - 1 / (2 * lam)),
        w / (2 * lam) + (Sigma - Sigma.T) * w,
        w * Rational(3, 6) / lam,
        w * (w.T * w)[0] / sympy.expand(2 * lam * (w.T * w)[0]),
        w / (2 * lam**1.0),
        Sigma * Sigma_inv * w / (2 * lam),
        w / lam - w / (2 * lam),
        Matrix(3, 1, lambda i, j: w[i] / (2 * lam)),
        w * (lam**2 + 1) / (2 * lam**3 + 2 * lam),
        w * (1 + 1 / lam) / (2 * lam + 2),
        w * ((lam**2 - 1) / (lam - 1) - lam) / (2 * lam),
        0.25 * w / (0.5 * lam),
        (w.T * (eye(3) / (2 * lam))).T,
        w / (2 * plain_lambda),
    ],
    "x_star_gaussian": [
        mu + Sigma * w,
        Sigma * w + mu,
        Sigma * (w + Sigma_inv * mu),
        Sigma.T * w + mu,
        Matrix([mu[i] + sum(Sigma[i, j] * w[j] for j in range(3)) for i in range(3)]),
        (w.T * Sigma).T + mu,
        mu + Sigma * w * lam / lam,
        (2 * mu + 2 * Sigma * w) / 2,
        mu + (Sigma * w).applyfunc(sympy.expand),
        sympy.MutableDenseMatrix(mu) + Sigma * w,
        mu + Sigma * (2 * w) / 2,
        UNSIMPLIFIED + mu,
        Sigma_inv.inv() * w + mu,
        Sigma.adjugate() * Sigma * Sigma * w / Sigma.det() + mu,
        mu + (Sigma + Sigma.T) * w / 2,
        mu + Sigma * Sigma * Sigma_inv * w,
        mu + 0.5 * Sigma * w * 2,
        mu + (Sigma * w).applyfunc(sympy.factor),
        mu - Sigma * (-w),
        Sigma * w * (w.T * w)[0] / sympy.expand((w.T * w)[0]) + mu,
        mu + Sigma * w + (A * A.T - (A * A.T).T) * c,
        mu + Sigma[:, 0] * w[0] + Sigma[:, 1] * w[1] + Sigma[:, 2] * w[2],
        mu + Sigma * w + (mu - mu),
        ((Sigma_inv * (mu + Sigma * w)).T * Sigma).T,
        Sigma * (Sigma_inv * mu + w),
        mu + (Sigma - sympy.diag(*[Sigma[i, i] for i in range(3)])) * w + sympy.diag(*[Sigma[i, i] for i in range(3)]) * w,
        1.0 * mu + Sigma * w,
        (mu.T + w.T * Sigma).T,
        mu + Sigma * w * (1 + lam) / (1 + lam),
        Sigma * (Sigma_inv * mu) + Sigma * w,
        sympy.SparseMatrix(mu) + sympy.SparseMatrix(Sigma) * sympy.SparseMatrix(w),
    ],
    "z_star_generator": [
        A.T * w / (2 * lam),
        (w.T * A).T / (2 * lam),
        A.T * (w / (2 * lam)),
        Matrix([sum(A[i, j] * w[i] for i in range(3)) / (2 * lam) for j in range(2)]),
        0.5 * A.T * w / lam,
        A.T * w * (2 * lam) ** -1,
        (A.T * w / lam) / 2,
        A.T * (2 * w) / (4 * lam),
        (A.T * w + A.T * w) / (4 * lam),
        A.T * (w + c - c) / (2 * lam),
        A.T * w / (2 * plain_lambda),
        A.T * Sigma * Sigma_inv * w / (2 * lam),
        (A.T * w).applyfunc(sympy.expand) / (2 * lam),
        CODE.applyfunc(sympy.factor),
        A.T * eye(3) * w / (2 * lam),
        A.T * w * (lam**2 + lam) / (2 * lam**3 + 2 * lam**2),
        ((A.T * w).T / (2 * lam)).T,
        Matrix.vstack(A[:, 0].T * w, A[:, 1].T * w) / (2 * lam),
        A.T * w / lam - A.T * w / (2 * lam),
        Rational(1, 4) * A.T * w * 2 / lam,
        A.T * w / (2 * lam**1.0),
        A.T * w * (1 + 1 / lam) / (2 * lam + 2),
        A.T * (w * lam) / (2 * lam**2),
        CODE.applyfunc(sympy.together),
        A.T * w / (2 * lam) + (A.T - A.T) * c,
        (w.T * A / (2 * lam)).T,
        A.T * w / (lam + lam),
        (A.T / (2 * lam)) * w,
        sympy.SparseMatrix(A).T * w / (2 * lam),
        (Sigma_inv * Sigma * A).T * w / (2 * lam),
        A.T * w * (lam**2 - 1) / (2 * lam * (lam - 1) * (lam + 1)),
    ],
    "x_star_generator": [
        A * A.T * w / (2 * lam) + c,
        A * (A.T * w / (2 * lam)) + c,
        c + A * A.T * w / (2 * lam),
        (A * A.T * w + 2 * lam * c) / (2 * lam),
        A * (w.T * A).T / (2 * lam) + c,
        Matrix([sum(A[i, j] * sum(A[k, j] * w[k] for k in range(3)) for j in range(2)) / (2 * lam) + c[i]
                for i in range(3)]),
        0.5 * A * A.T * w / lam + c,
        (A * A.T).T * w / (2 * lam) + c,
        A * A.T * (w / lam) / 2 + c,
        A * A.T * w / (2 * plain_lambda) + c,
        GENERATOR.applyfunc(sympy.expand),
        GENERATOR.applyfunc(sympy.together),
        GENERATOR.applyfunc(sympy.factor),
        A * CODE + c,
        A * (A.T * w) * (1 / lam) / 2 + c,
        (A * A.T * w + (2 * lam) * c) * (2 * lam) ** -1,
        c + A * A.T * w / lam - A * A.T * w / (2 * lam),
        Sigma_inv * Sigma * A * A.T * w / (2 * lam) + c,
        (A * A.T * w * lam + 2 * lam**2 * c) / (2 * lam**2),
        A * A.T * w / (2 * lam) + c + (A - A) * A.T * mu,
        A[:, 0] * (A[:, 0].T * w)[0] / (2 * lam) + A[:, 1] * (A[:, 1].T * w)[0] / (2 * lam) + c,
        A * A.T * w / (2 * lam**1.0) + 1.0 * c,
        (c.T + w.T * A * A.T / (2 * lam)).T,
        A * A.T * w * (lam + 1) / (2 * lam**2 + 2 * lam) + c,
        sympy.SparseMatrix(A) * sympy.SparseMatrix(A).T * w / (2 * lam) + c,
        A * (A.T * (2 * w)) / (4 * lam) + c,
        (A * A.T + A * A.T) * w / (4 * lam) + c,
        A * A.T * w / (2 * lam) + c * (lam**2 + 1) / (lam**2 + 1),
        (A * A.T * w / (2 * lam) + c).applyfunc(sympy.cancel),
        c + (A * A.T / (2 * lam)) * w,
        (A * A.T * w + 2 * c * lam) / (lam + lam),
    ],
    "R1_network_A": [
        a1,
        a2,
        (a1 + a2) / 2,
        Min(a1, a2),
        Max(a1, a2),
        sqrt(a1 * a2),
        a1 - Max(a1 - a2, 0),
        Max(a1, 0) - Max(a1 - a2, 0),  # the network itself: relu(a1) - relu(a1 - a2)
        2 * a1 - a2,
        a1**2 / a2,
        1.0 * a1,
        Piecewise((a1, a1 <= a2), (a2, True)),
        Piecewise((a1, Eq(a1, a2)), (0, True)),
        Piecewise((R_ABOVE, a1 > a2), (a1, True)),
        R_ABOVE,  # at a1 = a2 the closed form above the diagonal gives a1 too
        Abs(a1),
        a1 * (gamma**2 + gamma) / (gamma * (gamma + 1)),
        a1**3 / a2**2,
        (a1 + a2 + Abs(a1 - a2)) / 2,
        (a1 + a2 - Abs(a1 - a2)) / 2,
        a1 + (a1 - a2) * gamma,
        a1 + (a2 - a1) ** 2,
        a1 * (a2 / a1) ** gamma,
        (a1**3 * a2**3) ** (1 / 6),
        2 * a1 * a2 / (a1 + a2),
        (a1**2 + a2**2) / (a1 + a2),
        Max(a1, a2) - Max(a2 - a1, 0),
        Min(a1, a2, (a1 + a2) / 2),
        gamma * (a1 - a2) + a2,
        a1**gamma * a2 ** (1 - gamma),
        Piecewise((a2, sympy.And(a1 >= a2, gamma > 0)), (a1, True)),
        log(exp(a1) + exp(a2)) - log(2),
        Heaviside(a1 - a2) * 2 * a1,  # Heaviside(0) = 1/2
    ],
    "R1_network_A_above": [
        R_ABOVE,
        sympy.expand(R_NUMERATOR) / sympy.expand(R_DENOMINATOR),
        # the propagation, step by step: through h1 = a1 and through h2 = a1 - a2
        a1 * a2 * (1 + gamma) / (gamma * a1 + a2) - a1 * a2 * (1 + gamma) * (a1 - a2) / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2)),
        a1 * a2 * (1 + gamma) / (gamma * a1 + a2)
        - a1 * a2 * (1 + gamma) * Max(a1 - a2, 0) / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2)),
        (1 + gamma) * a1 * Min(a1, a2) / (gamma * a1 + a2) * gamma * a1 / ((1 + gamma) * a1 - a2),
        gamma * (1 + gamma) * a1 * a2 / ((gamma + a2 / a1) * ((1 + gamma) * a1 - a2)),
        sympy.together(R_ABOVE),
        sympy.factor(R_ABOVE),
        sympy.apart(R_ABOVE, gamma),
        sympy.apart(R_ABOVE, a2),
        sympy.cancel(R_ABOVE),
        (gamma + gamma**2) * a1**2 * a2 / ((gamma * a1 + a2) * (a1 + gamma * a1 - a2)),
        R_ABOVE.subs(a1, a2 + Max(a1 - a2, 0)),
        R_ABOVE.subs(a1, Max(a1, a2)),
        R_ABOVE.subs(a2, Min(a1, a2)),
        Piecewise((R_ABOVE, a1 > a2), (a1, True)),
        Piecewise((a1, a1 <= a2), (R_ABOVE, True)),
        gamma * (1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * (gamma * a1 + Abs(a1 - a2))),
        gamma * (1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * (gamma * a1 + Max(a1 - a2, 0))),
        1.0 * gamma * (1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2)),
        gamma * (1 + gamma) * a2 / ((gamma + a2 / a1) * ((1 + gamma) - a2 / a1)),
        (1 + gamma) * a1**2 * a2 / ((a1 + a2 / gamma) * ((1 + gamma) * a1 - a2)),
        1 / (1 / R_ABOVE),
        Abs(R_ABOVE),
        R_ABOVE * (a1**2 + a2**2) / sympy.expand((a1 + a2) ** 2 - 2 * a1 * a2),
        R_ABOVE + Max(a2 - a1, 0),
        gamma * (1 + gamma) * a1**2 * a2 * (gamma * a1 + a2) ** -1 * ((1 + gamma) * a1 - a2) ** -1,
        R_ABOVE.subs(gamma, 1 / (1 / gamma)),
        (1 + gamma) * a1 * a2 / (gamma * a1 + a2) * (1 - (a1 - a2) / ((1 + gamma) * a1 - a2)),
        R_ABOVE * exp(log(a1)) / a1,
        (R_ABOVE.subs(gamma, 2 * gamma / 2) + R_ABOVE) / 2,
    ],
    "softmin_lower_bound": [
        h_min - log(M) / gamma,
        h_min + log(1 / M) / gamma,
        (gamma * h_min - log(M)) / gamma,
        h_min - log(M**2) / (2 * gamma),
        h_min - log(M) * gamma**-1,
        -(log(M) - gamma * h_min) / gamma,
        h_min - log(2 * M) / gamma + log(2) / gamma,
        -log(M * exp(-gamma * h_min)) / gamma,
        h_min - (log(M) / log(10)) * log(10) / gamma,
        h_min - log(M, E) / gamma,
        -log(sympy.Sum(exp(-gamma * h_min), (sympy.Symbol("i", integer=True), 1, M)).doit()) / gamma,
        h_min - 3 * log(M ** (1 / 3)) / gamma,  # 1/3 typed as a Python float
        h_min - 2 * log(M**0.5) / gamma,
        h_min - 2 * log(sqrt(M)) / gamma,
        log(exp(gamma * h_min) / M) / gamma,
        -log(M / exp(gamma * h_min)) / gamma,
        h_min - log(M**3) / (3 * gamma),
        h_min - log(M) / Abs(gamma),
        (h_min - log(M) / gamma) * (1 + gamma) / (1 + gamma),
        h_min - (log(M) + log(gamma) - log(gamma)) / gamma,
        h_min - log(4 * M**2) / (2 * gamma) + log(2) / gamma,
        log(exp(h_min) * M ** (-1 / gamma)),
        h_min - log(M) / (0.5 * 2 * gamma),
        sympy.expand_log(h_min - log(M**2) / (2 * gamma), force=True),
        sympy.logcombine(h_min - 2 * log(M) / (2 * gamma), force=True),
        h_min - log(M) / gamma + log(M**2) / gamma - 2 * log(M) / gamma,
        (gamma**2 * h_min - gamma * log(M)) / gamma**2,
        h_min - log(M * gamma) / gamma + log(gamma) / gamma,
        -log(M) / gamma + h_min * exp(0),
        h_min - log(M) / gamma + log(6) - log(2) - log(3),
        h_min - log(M ** (1 / gamma)),
    ],
}
# Network B halves network A's relevance at a1 = a2: half of each form, halved in varied ways.
_HALVINGS = [lambda x: x / 2, lambda x: x * half, lambda x: 0.5 * x, lambda x: x - x / 2, lambda x: x / (1 + 1),
             lambda x: x * Rational(3, 6), lambda x: (x + x) / 4]
EQUIVALENT["R1_network_B"] = [halve(form) for halve, form in
                              zip(_HALVINGS * 5, EQUIVALENT["R1_network_A"])] + [a1 - a2 / 2, Heaviside(a1 - a2) * a1]

WRONG = {  # (answer, a phrase the message must contain)
    "x_star_l2": [
        (w / lam, "differ"), (2 * lam * w, "differ"), (-w / (2 * lam), "differ"), (w / (2 * lam**2), "differ"),
        (w / 2, "differ"), (_entry_changed(L2, 0, 1), "entry (0, 0)"), (L2.T, "transposed"),
        (Matrix([w[0], w[1]]) / (2 * lam), "shape (3, 1)"), (Sigma * w / (2 * lam), "differ"),
        (w / (2 * sympy.Symbol("lam")), "'lam'"), ((w.T * w) / (2 * lam), "shape (3, 1)"),
        (L2 + mu, "differ"), (w / (2 * gamma), "differ"), (_entry_changed(L2, 2, 1e-30), "entry (2, 0)"),
        (Matrix([w[1], w[0], w[2]]) / (2 * lam), "differ"), (w[0] / (2 * lam), "Matrix of shape"),
        (w / (2 * lam + 1), "differ"), (0.333 * 1.5 * w / lam, "decimal numbers"),
    ],
    "x_star_gaussian": [
        (mu + Sigma_inv * w, "differ"), (Sigma * w, "differ"), (mu - Sigma * w, "differ"), (mu + w, "differ"),
        (mu + Sigma * w / 2, "differ"), (Sigma * (mu + w), "differ"), (mu + Sigma * w / (2 * lam), "differ"),
        (mu + Sigma**2 * w, "differ"), (_entry_changed(GAUSSIAN, 1, w[1]), "entry (1, 0)"),
        (GAUSSIAN.T, "transposed"), (mu + Sigma_inv * w / 2, "differ"),
        (mu + sympy.diag(*[Sigma[i, i] for i in range(3)]) * w, "differ"),
        (_entry_changed(GAUSSIAN, 0, Rational(1, 10**30)), "entry (0, 0)"), (GAUSSIAN[0], "Matrix of shape"),
        (mu + A * A.T * w, "differ"), (UNSIMPLIFIED - mu, "differ"),
        (GAUSSIAN + Matrix([0, 0, sympy.Symbol("sigma")]), "'sigma'"),
    ],
    "z_star_generator": [
        (A.T * w / lam, "differ"), (A.T * w, "differ"), (A.T * (w + c) / (2 * lam), "differ"),
        (-CODE, "differ"), (A.T * A * A.T * w / (2 * lam), "differ"), ((w.T * A) / (2 * lam), "transposed"),
        (GENERATOR, "shape (2, 1)"), (A.T * w / (2 * lam**2), "differ"), (A.T * w * 2 * lam, "differ"),
        (CODE + A.T * c, "differ"), (A.T * mu / (2 * lam), "differ"), (_entry_changed(CODE, 1, half), "entry (1, 0)"),
        (_entry_changed(CODE, 0, 1e-30 * lam), "entry (0, 0)"), (A.T * Sigma * w / (2 * lam), "differ"),
        (CODE[0], "Matrix of shape"), (Matrix([CODE[1], CODE[0]]), "differ"),
    ],
    "x_star_generator": [
        (A * A.T * w / (2 * lam), "differ"), (A * A.T * w / lam + c, "differ"), (A * A.T * w / (2 * lam) - c, "differ"),
        (w / (2 * lam) + c, "differ"), (A * A.T * (w + c) / (2 * lam), "differ"), (2 * lam * A * A.T * w + c, "differ"),
        (CODE, "shape (3, 1)"), (A * A.T * w / (2 * lam) + mu, "differ"), (A * A.T * w / (2 * lam) + 2 * c, "differ"),
        (_entry_changed(GENERATOR, 0, A[0, 0]), "entry (0, 0)"), (GENERATOR.T, "transposed"),
        (A * A.T * w / (2 * lam**2) + c, "differ"), (_entry_changed(GENERATOR, 2, 1e-30), "entry (2, 0)"),
        (GENERATOR[:2, :], "shape (3, 1)"), (A * A.T * Sigma * w / (2 * lam) + c, "differ"),
        (GENERATOR + Matrix([sympy.Symbol("z1"), 0, 0]), "'z1'"),
    ],
    "R1_network_A": [
        (a1 / 2, "differ"), (sympy.Integer(0), "differ"), (a1 * (1 + gamma), "differ"), (a1 / (1 + gamma), "differ"),
        (a1 * gamma / (1 + gamma), "differ"), (a1**2, "differ"), (a2 / 2, "differ"), (-a1, "differ"),
        (a1 + gamma, "differ"), (a1 + h_min, "differ"), (a1 * sympy.Symbol("g"), "'g'"),
        (Matrix([a1]), "single expression"), (Piecewise((a1, a1 > a2), (0, True)), "differ"),
        (a1 + 1e-30, "differ"), (a1 + Rational(1, 10**30), "differ"), (Heaviside(a1 - a2) * a1, "differ"),
        (Max(a1 - a2, 0), "differ"), (sqrt(a1), "differ"), (a1 * a2, "differ"),
        (a1 + Min(a1, a2) / 1000, "differ"), (0.333 * 3 * a1, "decimal numbers"),
    ],
    "R1_network_B": [
        (a1, "differ"), (a1 / 4, "differ"), (a1 * (1 + gamma) / 2, "differ"), (sympy.Integer(0), "differ"),
        (a1 / (2 * (1 + gamma)), "differ"), (a1 * gamma / (1 + 2 * gamma), "differ"), (a1 / 3, "differ"),
        (a2, "differ"), (-a1 / 2, "differ"), (a1**2 / 2, "differ"), (Matrix([a1 / 2, a2 / 2]), "single expression"),
        (a1 / 2 + 1e-30, "differ"), (0.333 * a1, "decimal numbers"),
        (Piecewise((a1 / 2, a1 > a2), (a1, True)), "differ"), (Max(a1, a2) / 2 + Min(a1, a2) / 2, "differ"),
        (a1 / 2 + sympy.Symbol("b2"), "'b2'"),
    ],
    "R1_network_A_above": [
        (R_ABOVE.subs(gamma, 2 * gamma), "differ"), (R_ABOVE * a1 / a2, "differ"), (R_ABOVE + 1, "differ"),
        (gamma * (1 + gamma) * a1**2 * a2 / ((gamma * a2 + a1) * ((1 + gamma) * a1 - a2)), "differ"),
        (a1, "differ"), (R_ABOVE.subs(gamma, 0), "differ"), (R_ABOVE / (1 + gamma), "differ"),
        ((1 + gamma) * a1 * a2 / (gamma * a1 + a2), "differ"), (R_ABOVE.subs(a1, a2), "differ"),
        (Piecewise((R_ABOVE, a1 < a2), (a1, True)), "differ"), (R_ABOVE + 1e-30, "differ"),
        (R_ABOVE * a2 / a1, "differ"), (Matrix([R_ABOVE]), "single expression"),
        (R_ABOVE + sympy.Symbol("d"), "'d'"),  # the grader's name for a1 - a2 is not a student symbol
        (a1 * a2 * (1 + gamma) / (gamma * a1 + a2) + a1 * a2 * (1 + gamma) * (a1 - a2)
         / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2)), "differ"),
        (Min(a1, a2), "differ"),
    ],
    "softmin_lower_bound": [
        (h_min - log(M + 1) / gamma, "differ"), (h_min - log(M) / (2 * gamma), "differ"),
        (h_min + log(M) / gamma, "differ"), (h_min - log(M) * gamma, "differ"), (h_min - log(M), "differ"),
        (h_min - M / gamma, "differ"), (h_min, "differ"), (-log(M) / gamma, "differ"),
        (h_min - log(M) / gamma + 1e-30, "differ"), (h_min - log(M) / gamma + Rational(1, 10**30), "differ"),
        (h_min - 3 * log(M**0.333) / gamma, "decimal numbers"), (Matrix([h_min - log(M) / gamma]), "single expression"),
        (h_min - log(M) / gamma + a1, "differ"), (h_min - log(M) / gamma**2, "differ"),
        (h_min * gamma - log(M), "differ"), (h_min - log(2 * M) / gamma, "differ"),
        (h_min - log(M) / gamma + log(M) ** 2 - log(M**2) ** 2 / 4 + 10**-20 * log(M), "differ"),
    ],
}

EQUIVALENT_CASES = [(name, index) for name, forms in EQUIVALENT.items() for index in range(len(forms))]
WRONG_CASES = [(name, index) for name, forms in WRONG.items() for index in range(len(forms))]


def test_every_answer_has_many_variants():
    assert set(EQUIVALENT) == set(WRONG) == set(SPECS)
    for name in SPECS:
        assert len(EQUIVALENT[name]) >= 30 and len(WRONG[name]) >= 15, name


@pytest.mark.parametrize("name, index", EQUIVALENT_CASES)
def test_equivalent_forms_pass(name, index):
    judge(name, EQUIVALENT[name][index])


@pytest.mark.parametrize("name, index", WRONG_CASES)
def test_wrong_forms_fail_with_a_message(name, index):
    value, phrase = WRONG[name][index]
    with pytest.raises(GradingError) as failure:
        judge(name, value)
    assert phrase in str(failure.value) and name in str(failure.value)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_form_self_check_accepts_every_equivalent_form(name):
    shape = SPECS[name].get("shape")
    for value in EQUIVALENT[name]:
        assert student_symbols.check_form(value, shape=shape).startswith("form OK")


# --------------------------------------------------------------------------------------
# The defects this design removes, one by one
# --------------------------------------------------------------------------------------


def test_piecewise_answers_are_read_and_judged():
    answer = Piecewise((a1, a1 <= a2), (a2, True))
    assert student_symbols.check_form(answer).startswith("form OK")
    judge("R1_network_A", answer)
    with pytest.raises(GradingError, match="differ"):
        judge("R1_network_B", answer)


def test_an_unsimplified_correct_answer_is_decided_quickly_and_exactly():
    # sympy's expand on this difference runs for minutes; exact evaluation at points does not
    judge("x_star_gaussian", UNSIMPLIFIED + mu)
    with pytest.raises(GradingError, match="differ"):
        judge("x_star_gaussian", _entry_changed(UNSIMPLIFIED + mu, 1, Rational(1, 10**40)))


def test_a_check_that_runs_out_of_time_says_so_and_restores_the_alarm(monkeypatch):
    monkeypatch.setattr(symbolic, "BUDGET_SECONDS", 0.3)
    monkeypatch.setattr(symbolic, "_is_zero", lambda number: time.sleep(10))  # a hopelessly slow evaluation
    before = signal.getsignal(signal.SIGALRM)
    started = time.monotonic()
    with pytest.raises(GradingError, match="could not be checked within"):
        judge("x_star_l2", w * (lam + 1) / (2 * lam**2 + 2 * lam))
    assert time.monotonic() - started < 5
    assert signal.getsignal(signal.SIGALRM) is before and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_an_undecided_difference_is_not_accepted(monkeypatch):
    monkeypatch.setattr(symbolic, "_is_zero", lambda number: None)
    with pytest.raises(GradingError, match="could not be checked: .*Simplify"):
        judge("softmin_lower_bound", h_min - log(M**2) / (2 * gamma))


def test_decimals_are_exact_fractions():
    judge("softmin_lower_bound", h_min - 3 * log(M ** (1 / 3)) / gamma)
    judge("x_star_l2", 0.5 * w / lam)
    with pytest.raises(GradingError, match="decimal numbers, which are read exactly as written"):
        judge("softmin_lower_bound", h_min - 3 * log(M**0.3333) / gamma)


def test_a_nonzero_difference_is_never_accepted_however_small():
    for tiny in (Rational(1, 10**30), 1e-30, sympy.Float("1e-60", 30), Rational(1, 10**30) * a1 / (a1 + 1)):
        with pytest.raises(GradingError, match="differ"):
            judge("R1_network_A", a1 + tiny)


@pytest.mark.parametrize("value, phrase", [
    (sympy.Derivative(a1**2 / 2, a1), "Derivative"),
    (sympy.UnevaluatedExpr(a1), "UnevaluatedExpr"),
    (Eq(sympy.Symbol("R1"), a1), "Equality"),
    (sympy.Tuple(a1, a2), "Tuple"),
    (sympy.Integral(a1, a1), "Integral"),
    (sympy.Function("R")(a1), "R ("),
    ("a1", "str"),
    ([a1 / 2], "list"),
])
def test_values_that_are_not_expressions_get_a_message(value, phrase):
    """Through the real path: the probe records what it cannot encode, and the reader's
    message names it (never a raw TypeError from sympy)."""
    manifest, arrays = probing.run_probe(lambda challenge, R1: {"value": R1}, {}, {"R1": value})
    answer = answers.read(*probing.pack(manifest, arrays))
    with pytest.raises(GradingError) as failure:
        symbolic.check_tree(answer.expression_tree("value", what="R1_network_A"), grader.R1_NETWORK_A_EQUAL,
                            grader.SYMBOLS, name="R1_network_A", substitutions={grader.a2: grader.a1})
    assert "R1_network_A" in str(failure.value) and phrase in str(failure.value)
    if type(value) is not str:
        with pytest.raises(TypeError):
            student_symbols.check_form(value)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_probe_files_carry_the_answer(name):
    """The first form of every answer through the probe's files and the strict reader."""
    manifest, arrays = probing.run_probe(lambda challenge, value: {"value": value}, {}, {"value": EQUIVALENT[name][0]})
    answer = answers.read(*probing.pack(manifest, arrays))
    spec = SPECS[name]
    symbolic.check_tree(answer.expression_tree("value", what=name), spec["reference"], grader.SYMBOLS,
                        shape=spec.get("shape"), name=name, substitutions=spec.get("substitutions"), seed=spec["seed"])


def test_student_and_grader_symbols_agree():
    assert set(student_symbols.SYMBOLS) == set(grader.SYMBOLS)
    for name, symbol in grader.SYMBOLS.items():
        assert student_symbols.SYMBOLS[name] == symbol, name  # same name and same assumptions
    assert student_symbols.Sigma.is_symmetric() and grader.Sigma == student_symbols.Sigma


def test_form_self_check_says_nothing_about_correctness():
    # a wrong answer of the right form passes the student's self-check
    assert student_symbols.check_form(w / lam, shape=(3, 1)).startswith("form OK")
    with pytest.raises(ValueError):
        student_symbols.check_form(w.T, shape=(3, 1))
    with pytest.raises(ValueError):
        student_symbols.check_form(sympy.Symbol("q") * a1)
    with pytest.raises(TypeError):
        student_symbols.check_form("a1")


# --------------------------------------------------------------------------------------
# The reference closed forms against numerical optimisation (SciPy, not the notebook's torch)
# --------------------------------------------------------------------------------------


def _instance(seed=5):
    generator = np.random.default_rng(seed)
    root = generator.normal(size=(3, 3))
    values = {
        "w": generator.normal(size=3),
        "mu": generator.normal(size=3),
        "c": generator.normal(size=3),
        "A": generator.normal(size=(3, 2)),
        "Sigma": root @ root.T + 0.3 * np.eye(3),
        "lambda": 0.8,
        "b": -0.4,
    }
    table = {grader.lam: values["lambda"], grader.b: values["b"]}
    table.update(zip(grader.w, values["w"]))
    table.update(zip(grader.mu, values["mu"]))
    table.update(zip(grader.c, values["c"]))
    table.update(zip(grader.A, values["A"].ravel()))
    table.update(zip(grader.Sigma, values["Sigma"].ravel()))
    return values, table


def _numbers(expression, table):
    return np.array(sympy.ImmutableMatrix(expression).xreplace(table).evalf().tolist(), dtype=np.float64).ravel()


def _maximise(objective, start):
    result = scipy.optimize.minimize(lambda x: -objective(x), start, method="BFGS", options={"gtol": 1e-11})
    return result.x


def test_prototypes_maximise_their_objectives():
    v, table = _instance()
    f = lambda x: v["w"] @ x + v["b"]  # noqa: E731
    found = _maximise(lambda x: f(x) - v["lambda"] * x @ x, np.zeros(3))
    np.testing.assert_allclose(found, _numbers(grader.PROTOTYPE_L2, table), atol=1e-6)

    log_p = lambda x: scipy.stats.multivariate_normal(v["mu"], v["Sigma"]).logpdf(x)  # noqa: E731
    found = _maximise(lambda x: f(x) + log_p(x), np.zeros(3))
    np.testing.assert_allclose(found, _numbers(grader.PROTOTYPE_GAUSSIAN, table), atol=1e-5)

    found_z = _maximise(lambda z: f(v["A"] @ z + v["c"]) - v["lambda"] * z @ z, np.zeros(2))
    np.testing.assert_allclose(found_z, _numbers(grader.CODE_GENERATOR, table), atol=1e-6)
    np.testing.assert_allclose(v["A"] @ found_z + v["c"], _numbers(grader.PROTOTYPE_GENERATOR, table), atol=1e-6)


def test_softmin_bounds_and_limit():
    generator = np.random.default_rng(3)
    for gamma_ in (0.5, 3.0, 40.0):
        h = generator.normal(size=(20, 6))
        soft = grader.reference_layer2(h, gamma_)
        lower = h.min(axis=1) - np.log(6) / gamma_
        assert np.all(soft <= h.min(axis=1) + 1e-12) and np.all(soft >= lower - 1e-12)
    equal = np.full((1, 6), 1.3)
    bound = float(grader.SOFTMIN_LOWER_BOUND.subs({grader.h_min: 1.3, grader.M: 6, grader.gamma: 2.0}))
    assert abs(grader.reference_layer2(equal, 2.0)[0] - bound) < 1e-12  # attained when all h are equal
    assert sympy.limit(grader.SOFTMIN_LOWER_BOUND, grader.gamma, sympy.oo) == grader.h_min


def test_neuralization_reference_matches_the_definition():
    generator = np.random.default_rng(9)
    x, U, alpha = generator.normal(size=(7, 4)), generator.normal(size=(5, 4)), generator.uniform(0.2, 2.0, size=5)
    for gamma_ in (0.2, 1.0, 3.0):
        network = grader.reference_layer2(grader.reference_layer1(x, U, alpha, gamma_), gamma_)
        np.testing.assert_allclose(network, grader.outlier_score(x, U, alpha, gamma_), rtol=1e-12)
    # and the torch answer of the mutants module reproduces it at a large gamma where the naive form fails
    h = torch.tensor(3.0 + np.random.default_rng(1).uniform(size=(4, 5)))
    np.testing.assert_allclose(mutants.layer2(h, 800.0).numpy(), grader.reference_layer2(h.numpy(), 800.0), rtol=1e-12)
    assert not np.all(np.isfinite(mutants.layer2_naive(h, 800.0).numpy()))
