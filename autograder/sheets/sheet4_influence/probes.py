"""Probes of sheet 4: run the student's functions on the challenge's cases.

This file runs inside the student's kernel: it imports only numpy, torch and ``utils``,
and it knows no expected value.  It builds the small test networks from the
challenge's weights, hands the student float64 tensors made for the call, and returns
what came back together with the evidence the checks need: the arguments after the
call (a function must not change its inputs in place) and the largest batch each test
network was called on (``batch_size`` must be respected).
"""
import re

import numpy as np
import torch

from utils.probing import call

# The order of the activation codes in a challenge (``<net>_activation``), as on the
# grader's side.
_ACTIVATIONS = (torch.tanh, torch.nn.functional.softplus, torch.relu)


class _TwoLayerNet(torch.nn.Module):
    """``y = V act(W vec(x) + b) + c``, the small network of a challenge; it takes batches
    ``(B, *in_shape)`` in any float dtype, computes in float64 on the batch's device and
    records the largest batch it was called on."""

    def __init__(self, challenge: dict, prefix: str):
        super().__init__()
        # Plain attributes, not buffers: `.float()` or `.to(...)` by the student's code
        # must not change the network's numbers.
        self._weights = [torch.tensor(challenge[f"{prefix}_{name}"], dtype=torch.float64) for name in "WbVc"]
        self.in_shape = tuple(int(n) for n in challenge[f"{prefix}_in_shape"])
        self.out_shape = tuple(int(n) for n in challenge[f"{prefix}_out_shape"])
        self._activation = _ACTIVATIONS[int(challenge[f"{prefix}_activation"])]
        self.largest_batch = 0

    def forward(self, X):
        if not isinstance(X, torch.Tensor) or X.ndim != len(self.in_shape) + 1 or tuple(X.shape[1:]) != self.in_shape:
            got = tuple(X.shape) if isinstance(X, torch.Tensor) else type(X).__name__
            raise ValueError(f"the test network expects a batch of shape (B, {', '.join(map(str, self.in_shape))}), "
                             f"got {got}")
        self.largest_batch = max(self.largest_batch, int(X.shape[0]))
        W, b, V, c = (p.to(X.device) for p in self._weights)
        flat = X.reshape(X.shape[0], -1).to(torch.float64)
        return (self._activation(flat @ W.T + b) @ V.T + c).reshape((X.shape[0],) + self.out_shape)


class _WeightedScore:
    """The scalar function ``x ↦ weights · net(x)`` on batches, returning ``(B,)``."""

    def __init__(self, net: _TwoLayerNet, weights: np.ndarray):
        self.net, self.weights = net, torch.tensor(weights, dtype=torch.float64)

    def __call__(self, X):
        y = self.net(X)
        return y.reshape(y.shape[0], -1) @ self.weights.to(y.device)


def _quantity_of_interest(weights: np.ndarray):
    """A quantity of interest ``y ↦ y · weights`` as the notebook writes them."""
    w = torch.tensor(weights, dtype=torch.float64)
    return lambda y: y.flatten(1).to(torch.float64) @ w.to(y.device)


def _cases(challenge: dict) -> range:
    return range(len({re.match(r"c(\d+)_", name).group(1) for name in challenge}))


def _tensor(array) -> torch.Tensor:
    """A fresh float64 tensor for the student (the challenge's array stays untouched)."""
    return torch.tensor(np.asarray(array), dtype=torch.float64)


def _batch_size(value):
    return None if int(value) == 0 else int(value)


def test_straight_line_path(challenge, straight_line_path):
    results, xs, baselines = [], [], []
    for i in _cases(challenge):
        x, baseline = _tensor(challenge[f"c{i}_x"]), _tensor(challenge[f"c{i}_baseline"])
        results.append(call(straight_line_path, "straight_line_path", x, baseline, int(challenge[f"c{i}_steps"])))
        xs.append(x)
        baselines.append(baseline)
    return {"points": results, "x_after": xs, "baseline_after": baselines}


def test_integrated_gradients(challenge, integrated_gradients):
    results, xs, baselines, largest = [], [], [], []
    for i in _cases(challenge):
        net = _TwoLayerNet(challenge, f"c{i}_net")
        x, baseline = _tensor(challenge[f"c{i}_x"]), _tensor(challenge[f"c{i}_baseline"])
        F = _WeightedScore(net, challenge[f"c{i}_weights"])
        results.append(call(integrated_gradients, "integrated_gradients", F, x, baseline,
                            steps=int(challenge[f"c{i}_steps"]), batch_size=_batch_size(challenge[f"c{i}_batch_size"])))
        xs.append(x)
        baselines.append(baseline)
        largest.append(net.largest_batch)
    return {"attributions": results, "x_after": xs, "baseline_after": baselines,
            "largest_batch": np.array(largest, dtype=np.int64)}


def test_influence(challenge, influence):
    results, samples, largest = [], [], []
    for i in _cases(challenge):
        h, g = _TwoLayerNet(challenge, f"c{i}_h"), _TwoLayerNet(challenge, f"c{i}_g")
        X = _tensor(challenge[f"c{i}_X"])
        results.append(call(influence, "influence", h, g, X, _quantity_of_interest(challenge[f"c{i}_weights"]),
                            batch_size=_batch_size(challenge[f"c{i}_batch_size"])))
        samples.append(X)
        largest.append(max(h.largest_batch, g.largest_batch))
    return {"influence": results, "X_after": samples, "largest_batch": np.array(largest, dtype=np.int64)}


def test_top_neurons(challenge, top_neurons):
    answer, maps = {}, []
    for i in _cases(challenge):
        chi = _tensor(challenge[f"c{i}_chi"])
        answer[f"channels_{i}"] = call(top_neurons, "top_neurons", chi, int(challenge[f"c{i}_k"]))
        maps.append(chi)
    return {**answer, "chi_after": maps}


def test_neuron_saliency(challenge, neuron_saliency):
    results, xs = [], []
    for i in _cases(challenge):
        h = _TwoLayerNet(challenge, f"c{i}_h")
        x = _tensor(challenge[f"c{i}_x"])
        results.append(call(neuron_saliency, "neuron_saliency", h, x, int(challenge[f"c{i}_channel"])))
        xs.append(x)
    return {"saliency": results, "x_after": xs}


def test_masked_output(challenge, masked_output):
    results, slices, channel_lists = [], [], {}
    for i in _cases(challenge):
        g = _TwoLayerNet(challenge, f"c{i}_g")
        Z = _tensor(challenge[f"c{i}_Z"])
        kept = [int(j) for j in challenge[f"c{i}_channels"]]
        channels = torch.tensor(kept, dtype=torch.int64) if int(challenge[f"c{i}_as_tensor"]) else kept
        results.append(call(masked_output, "masked_output", g, Z, channels))
        slices.append(Z)
        channel_lists[f"channels_after_{i}"] = channels
    return {"outputs": results, "Z_after": slices, **channel_lists}
