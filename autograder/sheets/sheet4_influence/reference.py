"""Reference solutions of sheet 4: Integrated Gradients and influence-directed
explanations.

References implemented here (torch):

* :func:`straight_line_path` and :func:`integrated_gradients`: Sundararajan et al.,
  "Axiomatic Attribution for Deep Networks" (2017), the right Riemann sum of the
  homework briefing's formula (3), ``(x − x') ⊙ (1/m) Σ_{k=1..m} ∇F(x' + k/m (x − x'))``.
* :func:`influence`: Leino et al., "Influence-directed explanations for deep
  convolutional networks" (2018), Definition 1, the distributional influence
  ``χ_j = E_{x∼P}[∂(q∘g)/∂z_j |_{h(x)}]`` of the slice ``f = g ∘ h`` for a quantity of
  interest ``q`` (a class score ``f_c`` or a comparative score ``f_c1 − f_c2``).
* :func:`top_neurons`: channels ranked by their largest influence over positions (the
  briefing: "use max for this homework").
* :func:`neuron_saliency`: the gradient of a channel's total activation with respect to
  the pixels (Leino et al., Section II-C, interpretation of a neuron).
* :func:`masked_output`: ``g`` on the slice with all but the chosen channels zeroed
  (Leino et al., Section IV-B, the "essence" of a class).

The checks (``checks.py``) grade on small random two-layer networks, built from the
challenge's weights: :class:`TwoLayerNet` is their NumPy form, with explicit Jacobians,
so that the expected values of Integrated Gradients, the influence and the saliency
come from closed forms that use neither torch's autograd nor anything the student wrote.
"""
import numpy as np
import torch

from utils.attribution import batches

# --------------------------------------------------------------------------------------
# Reference solutions
# --------------------------------------------------------------------------------------


def straight_line_path(x: torch.Tensor, baseline: torch.Tensor, steps: int) -> torch.Tensor:
    """The ``steps`` points ``x' + (k/m)(x − x')``, k = 1..m, of the right Riemann sum,
    stacked on a new first axis: shape ``(steps, *x.shape)``."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    alphas = torch.arange(1, steps + 1, dtype=x.dtype, device=x.device) / steps
    alphas = alphas.reshape((steps,) + (1,) * x.ndim)
    return baseline.unsqueeze(0) + alphas * (x - baseline).unsqueeze(0)


def _summed_gradient(function, points: torch.Tensor, batch_size) -> torch.Tensor:
    """Σ_n ∇function(points[n]), evaluated ``batch_size`` points at a time."""
    total = torch.zeros_like(points[0])
    for part in batches(len(points), batch_size):
        chunk = points[part].detach()
        if chunk.ndim == 4:
            # Image batches in channels-last order: oneDNN's CPU convolutions run about
            # 20 % faster on it than on NCHW; the numbers are the same.
            chunk = chunk.contiguous(memory_format=torch.channels_last)
        chunk.requires_grad_(True)
        (gradient,) = torch.autograd.grad(function(chunk).sum(), chunk)
        total += gradient.sum(dim=0)
    return total


def integrated_gradients(F, x: torch.Tensor, baseline: torch.Tensor, steps: int = 50, batch_size=None):
    """Integrated Gradients of the scalar function ``F`` (a batch ``(B, *x.shape)`` to
    ``(B,)``) at ``x`` against ``baseline``, by formula (3) with ``m = steps``."""
    points = straight_line_path(x, baseline, steps)
    return (x - baseline) * _summed_gradient(F, points, batch_size) / steps


def influence(h, g, X: torch.Tensor, qoi, batch_size=None) -> torch.Tensor:
    """Distributional influence of the slice ``z = h(x)`` on ``qoi(g(z))``: the gradient
    with respect to ``z``, averaged over the sample ``X`` of the distribution of interest.
    Shape: one activation, ``h(X).shape[1:]``."""
    total = None
    for part in batches(len(X), batch_size):
        with torch.no_grad():
            z = h(X[part])
        z.requires_grad_(True)
        (gradient,) = torch.autograd.grad(qoi(g(z)).sum(), z)
        total = gradient.sum(dim=0) if total is None else total + gradient.sum(dim=0)
    return total / len(X)


def top_neurons(chi, k: int) -> np.ndarray:
    """The ``k`` channels of the influence map ``chi`` (C, H, W) with the largest
    influence at any position, most influential first."""
    peak = np.asarray(chi, dtype=np.float64).reshape(len(chi), -1).max(axis=1)
    return np.argsort(-peak, kind="stable")[:k]


def neuron_saliency(h, x: torch.Tensor, channel: int) -> torch.Tensor:
    """Gradient of channel ``channel``'s activation summed over positions, at the single
    input ``x`` (no batch axis), with respect to ``x``."""
    x = x.detach().unsqueeze(0).requires_grad_(True)
    (gradient,) = torch.autograd.grad(h(x)[0, channel].sum(), x)
    return gradient[0]


def masked_output(g, Z: torch.Tensor, channels) -> torch.Tensor:
    """``g`` on the slice activations ``Z`` (N, C, …) with every channel outside
    ``channels`` set to zero."""
    mask = torch.zeros(Z.shape[1], dtype=Z.dtype, device=Z.device)
    mask[torch.as_tensor(np.asarray(channels, dtype=np.int64))] = 1
    with torch.no_grad():
        return g(Z * mask.reshape((1, -1) + (1,) * (Z.ndim - 2)))


# --------------------------------------------------------------------------------------
# The test networks of the checks, in NumPy, with explicit derivatives
# --------------------------------------------------------------------------------------

#: Activations of the test networks, by the code a challenge stores (``<net>_activation``).
#: The probes build the same networks in torch; their table must list the same order.
ACTIVATION_NAMES = ("tanh", "softplus", "relu")
_ACTIVATIONS = {
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2),
    "softplus": (lambda a: np.logaddexp(0.0, a), lambda a: 0.5 * (1.0 + np.tanh(a / 2))),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(np.float64)),
}


class TwoLayerNet:
    """``y = V act(W vec(x) + b) + c`` from inputs of shape ``in_shape`` to outputs of
    shape ``out_shape``: the forward pass and vector-Jacobian products in NumPy."""

    def __init__(self, W, b, V, c, in_shape, out_shape, activation: str):
        self.W, self.b, self.V, self.c = (np.asarray(p, dtype=np.float64) for p in (W, b, V, c))
        self.in_shape, self.out_shape = tuple(int(n) for n in in_shape), tuple(int(n) for n in out_shape)
        self.act, self.act_prime = _ACTIVATIONS[activation]

    @classmethod
    def from_challenge(cls, challenge: dict, prefix: str) -> "TwoLayerNet":
        """The network stored under ``prefix`` (``<prefix>_W``, ``_b``, ``_V``, ``_c``,
        ``_in_shape``, ``_out_shape``, ``_activation``) in a challenge."""
        part = {name: challenge[f"{prefix}_{name}"] for name in ("W", "b", "V", "c", "in_shape", "out_shape")}
        return cls(**part, activation=ACTIVATION_NAMES[int(challenge[f"{prefix}_activation"])])

    def __call__(self, X: np.ndarray) -> np.ndarray:
        flat = X.reshape(len(X), -1)
        return (self.act(flat @ self.W.T + self.b) @ self.V.T + self.c).reshape((len(X),) + self.out_shape)

    def vjp(self, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """∇_x Σ weights·y(x) for each row of X (``weights``: one row per input, over the
        flattened output)."""
        flat = X.reshape(len(X), -1)
        local = self.act_prime(flat @ self.W.T + self.b) * (weights @ self.V)
        return (local @ self.W).reshape(X.shape)


def random_net(rng: np.random.Generator, in_shape, hidden: int, out_shape, activation: str) -> dict:
    """The arrays of a random :class:`TwoLayerNet` (names without the prefix), scaled so
    that pre-activations and outputs are of order one."""
    d_in, d_out = int(np.prod(in_shape)), int(np.prod(out_shape))
    return {
        "W": rng.normal(0, 1 / np.sqrt(d_in), (hidden, d_in)),
        "b": rng.normal(0, 0.5, hidden),
        "V": rng.normal(0, 1 / np.sqrt(hidden), (d_out, hidden)),
        "c": rng.normal(0, 0.5, d_out),
        "in_shape": np.array(in_shape, dtype=np.int64),
        "out_shape": np.array(out_shape, dtype=np.int64),
        "activation": np.array(ACTIVATION_NAMES.index(activation), dtype=np.int64),
    }


# --------------------------------------------------------------------------------------
# Closed forms on the test networks (what the checks compare with)
# --------------------------------------------------------------------------------------


def path_points(x: np.ndarray, baseline: np.ndarray, steps: int) -> np.ndarray:
    """The right Riemann points ``x' + (k/m)(x − x')``, k = 1..m, one by one."""
    return np.stack([baseline + k / steps * (x - baseline) for k in range(1, steps + 1)])


def integrated_gradients_of_net(net: TwoLayerNet, weights, x, baseline, steps: int) -> np.ndarray:
    """Formula (3) for ``F(x) = weights · net(x)`` with the network's exact gradient."""
    points = path_points(x, baseline, steps)
    return (x - baseline) * net.vjp(points, np.broadcast_to(weights, (steps, len(weights)))).mean(axis=0)


def influence_of_net(g: TwoLayerNet, weights, Z: np.ndarray) -> np.ndarray:
    """Mean over the rows of Z of ∂(weights · g)/∂z, by g's exact gradient."""
    return g.vjp(Z, np.broadcast_to(weights, (len(Z), len(weights)))).mean(axis=0)


def neuron_saliency_of_net(h: TwoLayerNet, x: np.ndarray, channel: int) -> np.ndarray:
    """∂/∂x of the summed activation of ``channel`` of h at the single input x."""
    selector = np.zeros(h.out_shape)
    selector[channel] = 1.0
    return h.vjp(x[None], selector.reshape(1, -1))[0]


def masked_output_of_net(g: TwoLayerNet, Z: np.ndarray, channels) -> np.ndarray:
    """g on a copy of Z in which only ``channels`` keep their values."""
    kept = np.zeros_like(Z)
    kept[:, list(channels)] = Z[:, list(channels)]
    return g(kept)


def ranking_by_peak(chi: np.ndarray, k: int) -> list:
    """The top ``k`` channels of ``chi`` by their largest value, written as an explicit
    ranking of (peak, channel) pairs (no argsort)."""
    peaks = [(float(np.max(chi[j])), j) for j in range(len(chi))]
    return [j for _, j in sorted(peaks, reverse=True)[:k]]
