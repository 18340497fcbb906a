"""Exact layer-wise relevance propagation in small dense ReLU networks, at numbers.

The networks here have a handful of neurons.  Their weights, inputs and rule parameters
are real numbers: integers, exact fractions such as ``sympy.Rational(1, 3)``, or floats.
With exact numbers the relevance scores come out exact, so a relevance you derived by
hand can be checked at as many points as you like: put numbers into your closed form and
into the engine, and compare.  The engine does not derive closed forms: an input, weight
or parameter that holds a sympy symbol is refused with a :class:`SymbolicInputError`.

A layer maps activations ``a`` (a column of n entries) to ``relu(W a + b)`` (or to
``W a + b`` for a linear layer, typically the output), with ``W`` of shape (m, n).  LRP
(Bach et al., "On pixel-wise explanations for non-linear classifier decisions by
layer-wise relevance propagation", PLoS ONE 2015; Montavon et al., "Layer-wise
relevance propagation: an overview", 2019) redistributes the relevance ``R_k`` of every
neuron k onto its inputs j in proportion to modified contributions:

    R_j = Σ_k  a_j ρ(w_jk) / (ε_k + Σ_{0,j} a_j ρ(w_jk))  R_k ,

where the sum "0,j" includes the bias as a neuron a_0 = 1 with weight w_0k = b_k, and

* LRP-0:  ρ(w) = w,           ε_k = 0;
* LRP-ε:  ρ(w) = w,           ε_k = ε · sign(z_k) (sign(0) taken as +1);
* LRP-γ:  ρ(w) = w + γ w⁺,    ε_k = 0, with w⁺ = max(0, w).

The same rule is applied to every layer, the linear output layer included, unless a list
of rules (one per layer, input side first) is given.  A neuron whose denominator is
exactly 0 passes no relevance (0/0 is read as 0).  The relevance of the output layer is
the output itself unless given.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import sympy


class SymbolicInputError(TypeError):
    """An input, weight, rule parameter or relevance of the engine is not a number."""


def _number(value, what: str) -> sympy.Expr:
    """``value`` as a sympy number; a symbolic, complex or infinite value is refused."""
    try:
        number = sympy.sympify(value)
    except (sympy.SympifyError, TypeError) as error:
        raise SymbolicInputError(f"{what} should be a real number, got {value!r} ({error})") from None
    if isinstance(number, sympy.Basic) and number.free_symbols:
        names = ", ".join(sorted(str(symbol) for symbol in number.free_symbols))
        raise SymbolicInputError(
            f"utils.lrp_exact evaluates networks and LRP at numbers, not symbolically: got {number} "
            f"for {what}, an expression in {names}. Put in numbers instead (floats, or exact ones "
            f"such as sympy.Rational(1, 2)) and compare with your closed form at the same numbers."
        )
    if not (isinstance(number, sympy.Expr) and number.is_real is True):
        raise SymbolicInputError(f"{what} should be a finite real number, got {value!r}")
    return number


def _numbers(matrix: sympy.ImmutableMatrix, what: str) -> sympy.ImmutableMatrix:
    """``matrix`` with every entry checked by :func:`_number`."""
    def entry(i, j):
        where = f"entry {i + 1}" if matrix.cols == 1 else f"entry ({i + 1}, {j + 1})"
        return _number(matrix[i, j], f"{where} of {what}")

    return sympy.ImmutableMatrix(matrix.rows, matrix.cols, entry)


def _column(values, what: str = "a column") -> sympy.ImmutableMatrix:
    matrix = sympy.ImmutableMatrix(values)
    if matrix.shape[1] != 1:
        matrix = matrix.reshape(len(matrix), 1)
    return _numbers(matrix, what)


def relu(value):
    """max(0, value), exact for exact numbers."""
    return sympy.Max(value, 0)


@dataclass(frozen=True)
class Dense:
    """One dense layer ``a ↦ relu(W a + b)`` (``relu=False``: ``a ↦ W a + b``)."""

    weight: sympy.ImmutableMatrix
    bias: sympy.ImmutableMatrix
    relu: bool = True

    def __post_init__(self):
        object.__setattr__(self, "weight", _numbers(sympy.ImmutableMatrix(self.weight), "the weights"))
        object.__setattr__(self, "bias", _numbers(sympy.ImmutableMatrix(self.bias), "the biases"))

    @classmethod
    def of(cls, weight, bias=None, relu: bool = True) -> "Dense":
        """A layer from nested lists (rows = output neurons); no bias means zero bias."""
        weight = sympy.ImmutableMatrix(weight)
        bias = sympy.zeros(weight.rows, 1) if bias is None else _column(bias, "the biases")
        if bias.shape != (weight.rows, 1):
            raise ValueError(f"bias should have {weight.rows} entries, got {bias.shape}")
        return cls(weight, sympy.ImmutableMatrix(bias), relu)

    def pre_activation(self, inputs) -> sympy.ImmutableMatrix:
        return self.weight * _column(inputs, "the input of a layer") + self.bias

    def __call__(self, inputs) -> sympy.ImmutableMatrix:
        z = self.pre_activation(inputs)
        return z.applyfunc(relu) if self.relu else z


@dataclass(frozen=True)
class Network:
    """A stack of :class:`Dense` layers, input side first."""

    layers: tuple

    def __init__(self, layers: Sequence[Dense]):
        object.__setattr__(self, "layers", tuple(layers))
        for below, above in zip(self.layers, self.layers[1:]):
            if above.weight.cols != below.weight.rows:
                raise ValueError(f"a layer with {below.weight.rows} outputs feeds one with {above.weight.cols} inputs")

    def activations(self, inputs) -> list:
        """[a_0 (the input), a_1, ..., a_L (the output)] as columns."""
        current = _column(inputs, "the input of the network")
        if current.rows != self.layers[0].weight.cols:
            raise ValueError(f"the network takes {self.layers[0].weight.cols} inputs, got {current.rows}")
        result = [current]
        for layer in self.layers:
            current = layer(current)
            result.append(current)
        return result

    def __call__(self, inputs) -> sympy.ImmutableMatrix:
        return self.activations(inputs)[-1]


def numeric_forward(network: Network, inputs) -> "numpy.ndarray":
    """The network on a batch of numeric inputs (rows), in float64 NumPy: fast for grids."""
    import numpy as np

    current = np.asarray(inputs, dtype=np.float64)
    for layer in network.layers:
        weight = np.array(layer.weight.tolist(), dtype=np.float64)
        bias = np.array(layer.bias.tolist(), dtype=np.float64).ravel()
        current = current @ weight.T + bias
        if layer.relu:
            current = np.maximum(current, 0.0)
    return current


class LRP0:
    """LRP-0: ρ(w) = w, no stabiliser (Bach et al. 2015)."""

    def modify(self, parameter):
        return parameter

    def stabilize(self, z):
        return z

    def __repr__(self):
        return "LRP0()"


class LRPEpsilon(LRP0):
    """LRP-ε: the denominator z gets ε·sign(z) added, sign(0) = +1."""

    def __init__(self, epsilon):
        self.epsilon = _number(epsilon, "the parameter epsilon")

    def stabilize(self, z):
        sign = sympy.sign(z)
        if sign == 0:
            sign = 1
        return z + self.epsilon * sign

    def __repr__(self):
        return f"LRPEpsilon({self.epsilon})"


class LRPGamma(LRP0):
    """LRP-γ: ρ(w) = w + γ max(0, w), applied to weights and bias (Montavon et al. 2019)."""

    def __init__(self, gamma):
        self.gamma = _number(gamma, "the parameter gamma")

    def modify(self, parameter):
        return parameter.applyfunc(lambda value: value + self.gamma * sympy.Max(value, 0))

    def __repr__(self):
        return f"LRPGamma({self.gamma})"


def _is_exactly_zero(value) -> bool:
    return value == 0 or value.is_zero is True


def propagate_layer(layer: Dense, inputs, relevance, rule) -> sympy.ImmutableMatrix:
    """Relevance of the inputs of ``layer`` given the relevance of its outputs."""
    inputs = _column(inputs, "the input of the layer")
    relevance = _column(relevance, "the relevance of the outputs")
    # a rule changed after it was made (or written by hand) is checked by what it returns
    weight = _numbers(sympy.ImmutableMatrix(rule.modify(layer.weight)), f"the weights modified by {rule!r}")
    bias = _numbers(sympy.ImmutableMatrix(rule.modify(layer.bias)), f"the biases modified by {rule!r}")
    n, m = layer.weight.cols, layer.weight.rows
    result = [sympy.Integer(0)] * n
    for k in range(m):
        contributions = [inputs[j] * weight[k, j] for j in range(n)]
        denominator = rule.stabilize(sum(contributions, sympy.Integer(0)) + bias[k])
        denominator = _number(denominator, f"a denominator of {rule!r}")
        if _is_exactly_zero(denominator) or _is_exactly_zero(relevance[k]):
            continue
        for j in range(n):
            result[j] += contributions[j] / denominator * relevance[k]
    return _column(result, "the relevance of the inputs")


def lrp(network: Network, inputs, rule, relevance=None) -> list:
    """Relevance scores of every layer, [R_0 (inputs), ..., R_L (outputs)], as columns.

    ``rule`` is one rule for all layers or a list with one rule per layer (input side
    first); ``relevance`` is the relevance of the outputs (default: the outputs).
    """
    rules = list(rule) if isinstance(rule, (list, tuple)) else [rule] * len(network.layers)
    if len(rules) != len(network.layers):
        raise ValueError(f"expected {len(network.layers)} rules, one per layer, got {len(rules)}")
    activations = network.activations(inputs)
    current = activations[-1] if relevance is None else _column(relevance, "the relevance of the outputs")
    result = [current]
    for layer, layer_rule, layer_inputs in zip(reversed(network.layers), reversed(rules), reversed(activations[:-1])):
        current = propagate_layer(layer, layer_inputs, current, layer_rule)
        result.append(current)
    return result[::-1]


def draw(network: Network, input_names: Sequence[str] | None = None, ax=None, title: str | None = None):
    """Draw ``network`` as a graph: columns of neurons (hidden ReLU neurons named h_i),
    edges labelled with their weights, red for positive and blue for negative weights;
    returns the matplotlib axes."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(2.2 * (len(network.layers) + 1), 3))
    sizes = [network.layers[0].weight.cols] + [layer.weight.rows for layer in network.layers]
    spacing = 1.8
    positions = [[(spacing * x, (size - 1) / 2 - i) for i in range(size)] for x, size in enumerate(sizes)]
    for depth, layer in enumerate(network.layers):
        fan_in = [sum(1 for v in layer.weight.row(k) if v != 0) for k in range(layer.weight.rows)]
        fan_out = [sum(1 for v in layer.weight.col(j) if v != 0) for j in range(layer.weight.cols)]
        for k in range(layer.weight.rows):
            for j in range(layer.weight.cols):
                value = layer.weight[k, j]
                if value == 0:
                    continue
                (x0, y0), (x1, y1) = positions[depth][j], positions[depth + 1][k]
                color = "#990000" if value.is_positive else ("#0b3d91" if value.is_negative else "gray")
                ax.plot([x0, x1], [y0, y1], color=color, lw=1.2, zorder=1)
                # the label sits near the end where fewer edges meet, so labels do not overlap
                t = 0.72 if fan_in[k] <= fan_out[j] else 0.28
                ax.text(x0 + t * (x1 - x0), y0 + t * (y1 - y0), str(value), color=color, fontsize=9,
                        ha="center", va="center", zorder=3, bbox=dict(fc="white", ec="none", pad=0.3))
    labels = list(input_names) if input_names else [f"$a_{j + 1}$" for j in range(sizes[0])]
    for depth, column in enumerate(positions):
        for index, (x, y) in enumerate(column):
            if depth == 0:
                text = labels[index]
            elif depth == len(positions) - 1:
                text = "$y$" if len(column) == 1 else f"$y_{index + 1}$"
            else:
                text = f"$h_{index + 1}$" if depth == 1 else f"$g_{index + 1}$"
            relu_node = depth > 0 and network.layers[depth - 1].relu
            ax.add_patch(plt.Circle((x, y), 0.25, fc="#f3f3f3" if relu_node else "white", ec="black", zorder=2))
            ax.text(x, y, text, ha="center", va="center", fontsize=10, zorder=4)
    ax.set_xlim(-0.5, spacing * (len(sizes) - 1) + 0.5)
    top = max(sizes) / 2
    ax.set_ylim(-top, top)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=10)
    return ax
