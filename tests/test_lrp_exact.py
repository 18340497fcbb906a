"""The exact LRP engine (utils.lrp_exact) against independent computations: LRP by the
gradient trick in torch (z ← p·[z/p]_const, then Gradient × Input), a hand-written
formula per layer, conservation, and the closed forms of sheet 1.

Students get the engine, so it evaluates at numbers only: it refuses symbols, and a call
such as ``lrp(network_A, [a1, a2], LRPGamma(gamma))`` cannot hand out the answers of
sheet 1.  The symbolic propagation that confirms the derivations of sheet 1 lives here,
on the instructors' side (:func:`symbolic_lrp_gamma`), written in matrix form
independently of the engine's loops.
"""
import numpy as np
import pytest
import sympy
import torch

from autograder.sheets.sheet1_analytic import reference as grader
from utils import lrp_exact, symbols
from utils.lrp_exact import Dense, LRP0, LRPEpsilon, LRPGamma, Network, SymbolicInputError, lrp

a1, a2, gamma = grader.a1, grader.a2, grader.gamma


def random_network(seed, sizes=(4, 5, 3, 1), bias=True):
    generator = np.random.default_rng(seed)
    layers = []
    for depth, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        weight = np.round(generator.normal(size=(n_out, n_in)), 3)
        offset = np.round(generator.normal(scale=0.3, size=n_out), 3) if bias else np.zeros(n_out)
        layers.append(Dense.of(weight.tolist(), offset.tolist(), relu=depth < len(sizes) - 2))
    return Network(layers)


def torch_lrp(network, inputs, rule_name, parameter):
    """LRP by the gradient trick: each layer's pre-activation z is replaced by
    p·[z/p]_const, where p uses the modified weights (γ) or z itself plus ε·sign(z) (ε),
    so that Gradient × Input of the modified network gives the relevance."""
    x = torch.tensor(inputs, dtype=torch.float64, requires_grad=True)
    a = x
    for layer in network.layers:
        weight = torch.tensor(np.array(layer.weight.tolist(), dtype=np.float64))
        bias = torch.tensor(np.array(layer.bias.tolist(), dtype=np.float64)).ravel()
        z = a @ weight.T + bias
        if rule_name == "gamma":
            p = a @ (weight + parameter * weight.clamp(min=0)).T + (bias + parameter * bias.clamp(min=0))
        elif rule_name == "epsilon":
            p = z + parameter * torch.where(z >= 0, 1.0, -1.0)
        else:
            p = z
        z = p * (z / p).detach()
        a = torch.relu(z) if layer.relu else z
    (gradient,) = torch.autograd.grad(a.sum(), x)
    return (x * gradient).detach().numpy()


def hand_lrp(network, inputs, rule_name, parameter):
    """The LRP formula written out with explicit loops in NumPy, rule by rule."""
    activations = [np.asarray(inputs, dtype=np.float64)]
    for layer in network.layers:
        weight = np.array(layer.weight.tolist(), dtype=np.float64)
        bias = np.array(layer.bias.tolist(), dtype=np.float64).ravel()
        z = weight @ activations[-1] + bias
        activations.append(np.maximum(z, 0) if layer.relu else z)
    relevance = activations[-1].copy()
    for layer, a in zip(reversed(network.layers), reversed(activations[:-1])):
        weight = np.array(layer.weight.tolist(), dtype=np.float64)
        bias = np.array(layer.bias.tolist(), dtype=np.float64).ravel()
        below = np.zeros(len(a))
        for k in range(len(relevance)):
            if rule_name == "gamma":
                contributions = a * (weight[k] + parameter * np.maximum(weight[k], 0))
                denominator = contributions.sum() + bias[k] + parameter * max(bias[k], 0.0)
            else:
                contributions = a * weight[k]
                denominator = contributions.sum() + bias[k]
                if rule_name == "epsilon":
                    denominator += parameter * (1.0 if denominator >= 0 else -1.0)
            if denominator != 0:
                below += contributions / denominator * relevance[k]
        relevance = below
    return relevance


RULES = [("zero", None, LRP0()), ("epsilon", 0.25, LRPEpsilon(sympy.Rational(1, 4))), ("gamma", 0.5, LRPGamma(sympy.Rational(1, 2)))]


@pytest.mark.parametrize("rule_name, parameter, rule", RULES, ids=[r[0] for r in RULES])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_engine_matches_the_gradient_trick_and_the_formula(rule_name, parameter, rule, seed):
    network = random_network(seed)
    inputs = np.round(np.random.default_rng(100 + seed).uniform(0.1, 2.0, size=4), 3)
    exact = np.array([float(v) for v in lrp(network, inputs.tolist(), rule)[0]])
    np.testing.assert_allclose(exact, torch_lrp(network, inputs, rule_name, parameter), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(exact, hand_lrp(network, inputs, rule_name, parameter), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("rule", [LRP0(), LRPGamma(2)], ids=["zero", "gamma"])
def test_relevance_is_conserved_without_bias(rule):
    network = random_network(7, bias=False)
    inputs = [sympy.Rational(n, 7) for n in (3, 5, 11, 2)]
    relevances = lrp(network, inputs, rule)
    totals = [sympy.nsimplify(sum(layer_relevance)) for layer_relevance in relevances]
    output = network(inputs)[0]
    # every layer sums to the output unless a neuron with nonzero relevance had a zero denominator
    assert all(sympy.simplify(total - output) == 0 for total in totals)


def test_exact_and_float_numbers_agree():
    network = random_network(4, sizes=(2, 3, 1))
    exact = lrp(network, [sympy.Rational(7, 10), sympy.Rational(19, 10)], LRPGamma(sympy.Rational(3, 10)))[0]
    floating = lrp(network, [0.7, 1.9], LRPGamma(0.3))[0]
    np.testing.assert_allclose([float(v) for v in exact], [float(v) for v in floating], rtol=1e-12)


# --------------------------------------------------------------------------------------
# The engine evaluates at numbers only
# --------------------------------------------------------------------------------------


def _min_network_a():
    return Network([Dense.of([[1, 0], [1, -1]]), Dense.of([[1, -1]], relu=False)])


def test_the_one_liner_of_sheet_1_yields_no_expression():
    """The engine call that used to print the closed forms of 2(b) and 2(c) is refused."""
    network_a = _min_network_a()
    with pytest.raises(SymbolicInputError, match="at numbers"):
        lrp(network_a, [symbols.a1, symbols.a2], LRPGamma(symbols.gamma))
    with pytest.raises(SymbolicInputError, match="at numbers"):
        lrp(network_a, [symbols.a1, symbols.a1], LRPGamma(2))
    with pytest.raises(SymbolicInputError, match="at numbers"):
        lrp(network_a, [3, 1], LRPGamma(symbols.gamma))


@pytest.mark.parametrize(
    "call",
    [
        lambda x: LRPEpsilon(x),
        lambda x: LRPGamma(x + 1),
        lambda x: Dense.of([[1, x]]),
        lambda x: Dense.of([[1, 1]], bias=[x]),
        lambda x: _min_network_a()([2, x]),
        lambda x: lrp(_min_network_a(), [2, 1], LRP0(), relevance=[x]),
        lambda x: lrp_exact.propagate_layer(_min_network_a().layers[0], [x, 1], [1, 1], LRP0()),
        lambda x: lrp_exact.propagate_layer(_min_network_a().layers[0], [2, 1], [x, 1], LRP0()),
    ],
    ids=["epsilon", "gamma", "weight", "bias", "forward", "relevance", "layer input", "layer relevance"],
)
def test_every_entry_point_refuses_symbols(call):
    with pytest.raises(SymbolicInputError, match="at numbers"):
        call(sympy.Symbol("x", positive=True))


def test_a_rule_changed_after_it_was_made_is_refused_when_used():
    rule = LRPGamma(1)
    rule.gamma = symbols.gamma
    with pytest.raises(SymbolicInputError, match="at numbers"):
        lrp(_min_network_a(), [3, 1], rule)


@pytest.mark.parametrize("value", [sympy.oo, sympy.nan, sympy.I, "a1"])
def test_non_numbers_are_refused(value):
    with pytest.raises(SymbolicInputError):
        lrp(_min_network_a(), [value, 1], LRP0())


def test_constant_sympy_numbers_are_numbers():
    relevance = lrp(_min_network_a(), [sympy.sqrt(2), sympy.Rational(1, 2)], LRPGamma(sympy.Integer(1)))[0]
    assert not any(value.free_symbols for value in relevance)
    expected = torch_lrp(_min_network_a(), np.array([np.sqrt(2), 0.5]), "gamma", 1.0)
    np.testing.assert_allclose([float(v) for v in relevance], expected, rtol=1e-12)


def test_forward_pass_numeric_and_exact():
    network = random_network(5)
    points = np.random.default_rng(0).uniform(0, 1, size=(6, 4))
    exact = np.array([[float(v) for v in network(p.tolist())] for p in points])
    np.testing.assert_allclose(lrp_exact.numeric_forward(network, points), exact, rtol=1e-12)


def test_zero_denominator_passes_nothing():
    network = Network([Dense.of([[1, -1]]), Dense.of([[1]], relu=False)])
    assert list(lrp(network, [2, 2], LRP0())[0]) == [0, 0]


# --------------------------------------------------------------------------------------
# The min networks of sheet 1 and their closed forms
# --------------------------------------------------------------------------------------


def symbolic_lrp_gamma(layers, inputs, rule_gamma):
    """Relevance of the inputs by LRP-γ at every layer, in closed form (sympy).

    ``layers``: [(weight matrix, apply ReLU), ...], input side first, no biases.  Per layer
    the modified weights are W_γ = W + γW⁺, the denominators z = W_γ a, and
    R_below = a ⊙ (W_γᵀ (R / z)), a neuron whose denominator simplifies to 0 giving nothing.
    """
    activations = [sympy.Matrix(inputs)]
    for weight, relu in layers:
        z = sympy.Matrix(weight) * activations[-1]
        activations.append(z.applyfunc(lambda v: sympy.Max(v, 0)) if relu else z)
    relevance = activations[-1]
    for (weight, _), below in zip(reversed(layers), reversed(activations[:-1])):
        modified = sympy.Matrix(weight).applyfunc(lambda v: v + rule_gamma * sympy.Max(v, 0))
        denominators = (modified * below).applyfunc(sympy.simplify)
        ratios = sympy.Matrix([0 if d == 0 else r / d for r, d in zip(relevance, denominators)])
        relevance = below.multiply_elementwise(modified.T * ratios).applyfunc(sympy.simplify)
    return relevance


def _layers(weights):
    hidden, output = weights
    return [(hidden, True), (output, False)]


def _network(weights):
    hidden, output = weights
    return Network([Dense.of(hidden), Dense.of(output, relu=False)])


NETWORK_A, NETWORK_B = _network(grader.network_a()), _network(grader.network_b())
LAYERS_A, LAYERS_B = _layers(grader.network_a()), _layers(grader.network_b())


@pytest.mark.parametrize("layers, network", [(LAYERS_A, NETWORK_A), (LAYERS_B, NETWORK_B)], ids=["A", "B"])
@pytest.mark.parametrize("point", [(3, 1), (1, 3), (2, 2), (sympy.Rational(5, 2), sympy.Rational(1, 3))])
@pytest.mark.parametrize("g", [0, sympy.Rational(1, 4), 5])
def test_symbolic_propagation_equals_the_engine_at_numbers(layers, network, point, g):
    """The instructors' symbolic LRP-γ, run at exact numbers, gives the engine's result."""
    by_matrices = symbolic_lrp_gamma(layers, list(point), g)
    engine = lrp(network, list(point), LRPGamma(g))[0]
    assert list(by_matrices) == list(engine)


def test_min_networks_compute_min():
    grid = np.linspace(0, 2, 41)
    points = np.array([(p, q) for p in grid for q in grid])
    for network in (NETWORK_A, NETWORK_B):
        np.testing.assert_allclose(lrp_exact.numeric_forward(network, points)[:, 0], points.min(axis=1), atol=1e-14)


def test_closed_forms_at_the_diagonal_symbolically():
    for layers, closed_form in ((LAYERS_A, grader.R1_NETWORK_A_EQUAL), (LAYERS_B, grader.R1_NETWORK_B_EQUAL)):
        propagated = symbolic_lrp_gamma(layers, [a1, a1], gamma)[0]
        assert sympy.simplify(propagated - closed_form) == 0


def test_closed_form_above_the_diagonal_symbolically():
    gap = sympy.Symbol("d", positive=True)
    propagated = symbolic_lrp_gamma(LAYERS_A, [a2 + gap, a2], gamma)[0]
    assert sympy.simplify(propagated - grader.R1_NETWORK_A_ABOVE.subs(a1, a2 + gap)) == 0


def test_a_wrong_closed_form_is_told_apart_symbolically():
    """The symbolic comparison can fail: network B's diagonal value is not network A's."""
    propagated = symbolic_lrp_gamma(LAYERS_B, [a1, a1], gamma)[0]
    assert sympy.simplify(propagated - grader.R1_NETWORK_A_EQUAL) != 0


@pytest.mark.parametrize("g", [0.1, 1.0, 7.5])
@pytest.mark.parametrize("point", [(1.3, 1.3), (2.0, 0.5), (3.0, 2.9)])
def test_closed_forms_against_the_gradient_trick(point, g):
    first, second = point
    for network, closed_form in ((NETWORK_A, grader.R1_NETWORK_A_ABOVE), (NETWORK_B, None)):
        by_torch = torch_lrp(network, np.array(point), "gamma", g)[0]
        if first == second:
            closed_form = grader.R1_NETWORK_A_EQUAL if network is NETWORK_A else grader.R1_NETWORK_B_EQUAL
        elif closed_form is None:
            continue
        expected = float(closed_form.subs({a1: first, a2: second, gamma: g}))
        assert abs(by_torch - expected) < 1e-10


def test_gamma_limits_of_network_a():
    assert sympy.limit(grader.R1_NETWORK_A_ABOVE, gamma, sympy.oo) == a2
    assert grader.R1_NETWORK_A_ABOVE.subs(gamma, 0) == 0
