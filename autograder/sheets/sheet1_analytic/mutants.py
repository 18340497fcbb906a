"""Plausible wrong answers of sheet 1 that the hidden tests must reject.

Answers are built from the student-side symbols (:mod:`utils.symbols`), exactly as a
student's notebook would build them.
"""
import sympy
import torch

from utils.symbols import A, M, Sigma, a1, a2, c, gamma, h_min, lam, mu, w

# --------------------------------------------------------------------------------------
# Correct answers, in more than one form
# --------------------------------------------------------------------------------------


def layer1(x, U, alpha, gamma_):
    return ((x[:, None, :] - U[None, :, :]) ** 2).sum(dim=-1) - torch.log(alpha)[None, :] / gamma_


def layer2(h, gamma_):
    return -torch.logsumexp(-gamma_ * h, dim=1) / gamma_


_CORRECT_ARGUMENTS = {
    "test_prototype_l2": (w / (2 * lam),),
    "test_prototype_gaussian": (mu + Sigma * w,),
    "test_code_generator": (A.T * w / (2 * lam),),
    "test_prototype_generator": (A * A.T * w / (2 * lam) + c,),
    "test_R1_network_A": (a1,),
    "test_R1_network_B": (a1 / 2,),
    "test_R1_network_A_above": (gamma * (1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2)),),
    "test_softmin_lower_bound": (h_min - sympy.log(M) / gamma,),
    "test_layer1": (layer1,),
    "test_layer2": (layer2,),
    "test_neuralization": (layer1, layer2),
}

# --------------------------------------------------------------------------------------
# Wrong answers of the neuralization layers
# --------------------------------------------------------------------------------------


def _distances(x, U):
    return ((x[:, None, :] - U[None, :, :]) ** 2).sum(dim=-1)


def layer1_unsquared(x, U, alpha, gamma_):
    return _distances(x, U).sqrt() - torch.log(alpha)[None, :] / gamma_


def layer1_plus_log(x, U, alpha, gamma_):
    return _distances(x, U) + torch.log(alpha)[None, :] / gamma_


def layer1_times_gamma(x, U, alpha, gamma_):
    return _distances(x, U) - torch.log(alpha)[None, :] * gamma_


def layer1_alpha_not_log(x, U, alpha, gamma_):
    return _distances(x, U) - alpha[None, :] / gamma_


def layer1_no_weights(x, U, alpha, gamma_):
    return _distances(x, U)


def layer1_transposed(x, U, alpha, gamma_):
    return layer1(x, U, alpha, gamma_).T


def layer2_no_minus(h, gamma_):
    return torch.logsumexp(-gamma_ * h, dim=1) / gamma_


def layer2_naive(h, gamma_):
    """Right for moderate γ, but exp(−γh) underflows for γ = 500."""
    return -torch.log(torch.exp(-gamma_ * h).sum(dim=1)) / gamma_


def layer2_times_gamma(h, gamma_):
    return -torch.logsumexp(-gamma_ * h, dim=1) * gamma_


def layer2_hard_min(h, gamma_):
    return h.min(dim=1).values


def layer2_mean(h, gamma_):
    return -torch.log(torch.exp(-gamma_ * h).mean(dim=1)) / gamma_


def layer2_soft_max(h, gamma_):
    return torch.logsumexp(gamma_ * h, dim=1) / gamma_


def layer2_keepdim(h, gamma_):
    return -torch.logsumexp(-gamma_ * h, dim=1, keepdim=True) / gamma_


_MUTANT_ARGUMENTS = {
    "test_prototype_l2": {
        "factor 2 missing": (w / lam,),
        "multiplied by 2 lambda": (2 * lam * w,),
        "sign flipped": (-w / (2 * lam),),
        "lambda squared": (w / (2 * lam**2),),
        "lambda forgotten": (w / 2,),
        "row vector": ((w / (2 * lam)).T,),
        "a string": ("w/(2*lambda)",),
    },
    "test_prototype_gaussian": {
        "inverse covariance": (mu + Sigma.inv() * w,),
        "mean forgotten": (Sigma * w,),
        "minus sign": (mu - Sigma * w,),
        "covariance forgotten": (mu + w,),
        "half of the step": (mu + Sigma * w / 2,),
        "covariance applied to the mean": (Sigma * (mu + w),),
        "lambda from (a) carried over": (mu + Sigma * w / (2 * lam),),
    },
    "test_code_generator": {
        "factor 2 missing": (A.T * w / lam,),
        "lambda forgotten": (A.T * w,),
        "c added in code space": (A.T * (w + c) / (2 * lam),),
        "sign flipped": (-A.T * w / (2 * lam),),
        "extra A^T A": (A.T * A * A.T * w / (2 * lam),),
        "transpose on the wrong side": ((w.T * A) / (2 * lam),),
        "x instead of z": (A * A.T * w / (2 * lam) + c,),
    },
    "test_prototype_generator": {
        "c forgotten": (A * A.T * w / (2 * lam),),
        "factor 2 missing": (A * A.T * w / lam + c,),
        "c subtracted": (A * A.T * w / (2 * lam) - c,),
        "generator ignored": (w / (2 * lam) + c,),
        "c inside the product": (A * A.T * (w + c) / (2 * lam),),
        "lambda multiplied": (2 * lam * A * A.T * w + c,),
    },
    "test_R1_network_A": {
        "half": (a1 / 2,),
        "zero": (sympy.Integer(0),),
        "gamma-boosted": (a1 * (1 + gamma),),
        "divided by 1+gamma": (a1 / (1 + gamma),),
        "gamma fraction": (a1 * gamma / (1 + gamma),),
        "squared": (a1**2,),
    },
    "test_R1_network_B": {
        "all of it": (a1,),
        "a quarter": (a1 / 4,),
        "gamma-boosted": (a1 * (1 + gamma) / 2,),
        "zero": (sympy.Integer(0),),
        "divided by 1+gamma": (a1 / (2 * (1 + gamma)),),
        "gamma fraction": (a1 * gamma / (1 + 2 * gamma),),
    },
    "test_R1_network_A_above": {
        "wrong power of gamma": (gamma**2 * (1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2)),),
        "gamma factor missing": ((1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * ((1 + gamma) * a1 - a2)),),
        "only the pass-through neuron": (a1 * (1 + gamma) * a2 / (gamma * a1 + a2),),
        "negative relevance added": (a1 * (1 + gamma) * a2 / (gamma * a1 + a2) * (1 + (a1 - a2) / ((1 + gamma) * a1 - a2)),),
        "LRP-0 answer": (sympy.Integer(0),),
        "sign in a denominator": (gamma * (1 + gamma) * a1**2 * a2 / ((gamma * a1 + a2) * ((1 + gamma) * a1 + a2)),),
        "large-gamma limit": (a2,),
        "a Max term kept wrongly": (sympy.Max(a1 - a2, 0),),
    },
    "test_softmin_lower_bound": {
        "wrong power of gamma": (h_min - sympy.log(M) / gamma**2,),
        "M without log": (h_min - M / gamma,),
        "multiplied by gamma": (h_min - sympy.log(M) * gamma,),
        "plus instead of minus": (h_min + sympy.log(M) / gamma,),
        "the upper bound": (h_min,),
        "gamma forgotten": (h_min - sympy.log(M),),
        "unknown symbol": (h_min - sympy.log(sympy.Symbol("N")) / gamma,),
    },
    "test_layer1": {
        "distance not squared": (layer1_unsquared,),
        "log alpha added": (layer1_plus_log,),
        "log alpha times gamma": (layer1_times_gamma,),
        "alpha instead of log alpha": (layer1_alpha_not_log,),
        "weights forgotten": (layer1_no_weights,),
        "transposed": (layer1_transposed,),
    },
    "test_layer2": {
        "minus forgotten": (layer2_no_minus,),
        "underflows for large gamma": (layer2_naive,),
        "times gamma": (layer2_times_gamma,),
        "hard minimum": (layer2_hard_min,),
        "mean instead of sum": (layer2_mean,),
        "soft maximum": (layer2_soft_max,),
        "keeps a dimension": (layer2_keepdim,),
    },
    "test_neuralization": {
        "layer 1 without weights": (layer1_no_weights, layer2),
        "layer 1 with log alpha added": (layer1_plus_log, layer2),
        "layer 2 with a mean": (layer1, layer2_mean),
        "layer 2 hard minimum": (layer1, layer2_hard_min),
        "layer 2 without the minus": (layer1, layer2_no_minus),
    },
}

#: The names under which each test's probe receives the student's objects.
_OBJECTS = {
    "test_prototype_l2": ('x_star_l2',),
    "test_prototype_gaussian": ('x_star_gaussian',),
    "test_code_generator": ('z_star_generator',),
    "test_prototype_generator": ('x_star_generator',),
    "test_R1_network_A": ('R1_network_A',),
    "test_R1_network_B": ('R1_network_B',),
    "test_R1_network_A_above": ('R1_network_A_above',),
    "test_softmin_lower_bound": ('softmin_lower_bound',),
    "test_layer1": ('layer1',),
    "test_layer2": ('layer2',),
    "test_neuralization": ('layer1', 'layer2'),
}

CORRECT = {test: dict(zip(_OBJECTS[test], arguments)) for test, arguments in _CORRECT_ARGUMENTS.items()}
MUTANTS = {test: {what: dict(zip(_OBJECTS[test], arguments)) for what, arguments in variants.items()}
           for test, variants in _MUTANT_ARGUMENTS.items()}

PARTLY_WRONG = {
    "prototype_gaussian": "x_star_gaussian = mu + Sigma.inv() * w\n",
    "R1_network_B": "R1_network_B = a1\n",
    "neuralization_layers": (
        "def layer1(x, U, alpha, gamma):\n"
        "    return ((x[:, None, :] - U[None, :, :]) ** 2).sum(dim=-1) - torch.log(alpha)[None, :] / gamma\n"
        "\n\n"
        "def layer2(h, gamma):\n"
        "    # forgets to factor out the minimum: exp(-gamma h) underflows for large gamma\n"
        "    return -torch.log(torch.exp(-gamma * h).sum(dim=1)) / gamma\n"
    ),
}
