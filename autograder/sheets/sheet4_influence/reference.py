"""Reference solutions and hidden-test checks of sheet 4: Integrated Gradients and
influence-directed explanations.

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

The ``check_*`` functions run a student's function on small random models whose exact
gradients are known in closed form and compare with NumPy references that use neither
torch's autograd nor the student's objects: explicit Jacobians for Integrated Gradients
and saliency, central finite differences of ``g`` for the influence.
"""
import numpy as np
import torch

from autograder.hidden import call_student as _call
from autograder.hidden import GradingError, as_array, assert_close, handed_to_students, rng
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
# Random test models: torch for the student, NumPy with explicit derivatives for us
# --------------------------------------------------------------------------------------

_ACTIVATIONS = {
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2, torch.tanh),
    "softplus": (lambda a: np.logaddexp(0.0, a), lambda a: 1.0 / (1.0 + np.exp(-a)), torch.nn.functional.softplus),
    "relu": (lambda a: np.maximum(a, 0.0), lambda a: (a > 0).astype(np.float64), torch.relu),
}


@handed_to_students
class _TwoLayerNet:
    """``y = V act(W vec(x) + b) + c`` with random weights, from inputs of shape
    ``in_shape`` to outputs of shape ``out_shape``; callable on torch batches, with a
    NumPy forward pass and Jacobian-vector products for the references."""

    def __init__(self, generator, in_shape, hidden, out_shape, activation="tanh"):
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        d_in, d_out = int(np.prod(in_shape)), int(np.prod(out_shape))
        self.W = generator.normal(0, 1 / np.sqrt(d_in), (hidden, d_in))
        self.b = generator.normal(0, 0.5, hidden)
        self.V = generator.normal(0, 1 / np.sqrt(hidden), (d_out, hidden))
        self.c = generator.normal(0, 0.5, d_out)
        self.act, self.act_prime, self.torch_act = _ACTIVATIONS[activation]
        self.largest_batch = 0

    def _check(self, X):
        if not isinstance(X, torch.Tensor) or tuple(X.shape[1:]) != self.in_shape or X.ndim != len(self.in_shape) + 1:
            got = tuple(X.shape) if hasattr(X, "shape") else type(X).__name__
            raise GradingError(f"the test model expects a torch batch of shape (B, {', '.join(map(str, self.in_shape))}), got {got}")

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        self._check(X)
        self.largest_batch = max(self.largest_batch, X.shape[0])
        flat = X.reshape(X.shape[0], -1).to(torch.float64)
        W, b, V, c = (torch.from_numpy(p) for p in (self.W, self.b, self.V, self.c))
        return (self.torch_act(flat @ W.T + b) @ V.T + c).reshape((X.shape[0],) + self.out_shape)

    def numpy(self, X: np.ndarray) -> np.ndarray:
        flat = X.reshape(len(X), -1)
        return (self.act(flat @ self.W.T + self.b) @ self.V.T + self.c).reshape((len(X),) + self.out_shape)

    def vjp(self, X: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """∇_x Σ weights·y(x) for each row of X (weights over the flattened output)."""
        flat = X.reshape(len(X), -1)
        local = self.act_prime(flat @ self.W.T + self.b) * (weights @ self.V)
        return (local @ self.W).reshape(X.shape)


@handed_to_students
class _Scalar:
    """The scalar function ``x ↦ weights · net(x)`` on torch batches, returning (B,)."""

    def __init__(self, net: _TwoLayerNet, weights: np.ndarray):
        self.net, self.weights = net, weights

    def __call__(self, X):
        return self.net(X).reshape(X.shape[0], -1) @ torch.from_numpy(self.weights)


def _qoi(weights: np.ndarray):
    """A quantity of interest ``y ↦ y @ weights`` as the notebook writes them (torch)."""
    w = torch.from_numpy(weights)
    return lambda y: y.to(torch.float64) @ w


def _integrated_gradients_reference(net, weights, x, baseline, steps):
    alphas = np.arange(1, steps + 1) / steps
    points = baseline[None] + alphas.reshape((-1,) + (1,) * x.ndim) * (x - baseline)[None]
    return (x - baseline) * net.vjp(points, np.broadcast_to(weights, (steps, len(weights)))).mean(axis=0)


def _finite_difference_influence(g, weights, Z, eps=1e-5):
    """Mean over the rows of Z of ∂(weights·g)/∂z by central differences in float64."""
    flat = Z.reshape(len(Z), -1)
    gradient = np.zeros(flat.shape[1])
    for j in range(flat.shape[1]):
        step = np.zeros(flat.shape[1])
        step[j] = eps
        up = g.numpy((flat + step).reshape(Z.shape)).reshape(len(Z), -1) @ weights
        down = g.numpy((flat - step).reshape(Z.shape)).reshape(len(Z), -1) @ weights
        gradient[j] = np.mean((up - down) / (2 * eps))
    return gradient.reshape(Z.shape[1:])


# --------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------


def check_straight_line_path(student_path):
    """The path points for k = 1..m, in order, on unseen inputs."""
    generator = rng(4001)
    for shape, steps in (((3,), 4), ((2, 3, 3), 7), ((1, 4), 1)):
        x, baseline = generator.normal(size=shape), generator.normal(size=shape)
        expected = np.stack([baseline + k / steps * (x - baseline) for k in range(1, steps + 1)])
        result = _call(student_path, torch.from_numpy(x), torch.from_numpy(baseline), steps, name="straight_line_path")
        assert_close(result, expected, rtol=1e-6, atol=1e-7, name=f"straight_line_path(x, baseline, {steps}) for x of shape {shape}")


def check_integrated_gradients(student_ig):
    """Formula (3) on random networks, against their exact gradients; F is called on
    batches of at most ``batch_size`` path points."""
    generator = rng(4002)
    cases = (((2, 3, 3), "tanh", 5, None), ((6,), "relu", 12, 5), ((3, 2, 2), "softplus", 1, None), ((4, 2), "tanh", 9, 4))
    for shape, activation, steps, batch_size in cases:
        net = _TwoLayerNet(generator, shape, 8, (3,), activation)
        weights = generator.normal(size=3)
        x, baseline = generator.normal(size=shape), generator.normal(0, 0.3, size=shape)
        expected = _integrated_gradients_reference(net, weights, x, baseline, steps)
        result = _call(
            student_ig, _Scalar(net, weights), torch.from_numpy(x), torch.from_numpy(baseline),
            steps=steps, batch_size=batch_size, name="integrated_gradients",
        )
        scale = np.abs(expected).max()
        assert_close(result, expected, rtol=1e-4, atol=1e-6 * scale,
                     name=f"integrated_gradients with steps={steps}, batch_size={batch_size} for x of shape {shape}")
        if batch_size is not None and net.largest_batch > batch_size:
            raise GradingError(f"with batch_size={batch_size}, F was called on {net.largest_batch} points at once")


def check_influence(student_influence):
    """Distributional influence of a random slice against central finite differences of g."""
    generator = rng(4003)
    cases = (((3, 2, 2), (2, 3, 3), 6, None, 1), ((5,), (4, 2, 2), 1, None, 2), ((2, 2, 2), (3, 2, 3), 9, 4, 3))
    for in_shape, slice_shape, n, batch_size, kind in cases:
        h = _TwoLayerNet(generator, in_shape, 6, slice_shape, "relu")
        g = _TwoLayerNet(generator, slice_shape, 7, (4,), "tanh")
        weights = np.zeros(4)
        if kind == 1:
            weights[2] = 1.0
            qoi_text = "y[:, 2]"
        elif kind == 2:
            weights[0], weights[3] = 1.0, -1.0
            qoi_text = "y[:, 0] - y[:, 3]"
        else:
            weights = generator.normal(size=4)
            qoi_text = "a random linear combination of y"
        X = generator.normal(size=(n,) + in_shape)
        expected = _finite_difference_influence(g, weights, h.numpy(X))
        result = _call(student_influence, h, g, torch.from_numpy(X), _qoi(weights), batch_size=batch_size, name="influence")
        assert_close(result, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max(),
                     name=f"influence for {n} inputs, quantity of interest {qoi_text}, batch_size={batch_size}")
        if batch_size is not None and max(h.largest_batch, g.largest_batch) > batch_size:
            raise GradingError(f"with batch_size={batch_size}, h or g was called on more than {batch_size} inputs at once")


def check_top_neurons(student_top):
    """Channels ordered by their largest influence over positions."""
    generator = rng(4004)
    for shape, k in (((6, 3, 3), 3), ((10, 2, 4), 10), ((5, 4, 4), 1)):
        chi = generator.normal(size=shape)
        # The expected order, written as an explicit ranking of (peak, channel) pairs.
        peaks = [(max(chi[j].ravel()), j) for j in range(shape[0])]
        expected = np.array([j for _, j in sorted(peaks, reverse=True)[:k]], dtype=np.float64)
        result = as_array(_call(student_top, torch.from_numpy(chi.copy()), k, name="top_neurons"), name="top_neurons(chi, k)")
        if result.shape != (k,):
            raise GradingError(f"top_neurons(chi, {k}) should return {k} channel indices, got shape {result.shape}")
        if not np.array_equal(result, expected):
            raise GradingError(
                f"top_neurons(chi, {k}) for chi of shape {shape} returned {result.astype(int).tolist()}, "
                "expected the channels with the largest maximum over positions, most influential first"
            )


def check_neuron_saliency(student_saliency):
    """Gradient of a channel's summed activation, against the exact Jacobian."""
    generator = rng(4005)
    for in_shape, slice_shape, channel in (((2, 3, 3), (4, 2, 2), 1), ((3, 2, 2), (3, 3, 2), 2), ((6,), (5, 1, 3), 0)):
        h = _TwoLayerNet(generator, in_shape, 9, slice_shape, "softplus")
        x = generator.normal(size=in_shape)
        selector = np.zeros(slice_shape)
        selector[channel] = 1.0
        expected = h.vjp(x[None], selector.ravel()[None])[0]
        result = _call(student_saliency, h, torch.from_numpy(x), channel, name="neuron_saliency")
        assert_close(result, expected, rtol=1e-5, atol=1e-7 * np.abs(expected).max(),
                     name=f"neuron_saliency for channel {channel} of a slice of shape {slice_shape}")


def check_masked_output(student_masked):
    """g on the slice with every channel but the chosen ones zeroed."""
    generator = rng(4006)
    for slice_shape, channels in (((5, 2, 2), [3, 0]), ((4, 3, 1), [2]), ((6, 2, 3), [1, 5, 4, 2])):
        g = _TwoLayerNet(generator, slice_shape, 6, (3,), "relu")
        Z = np.abs(generator.normal(size=(4,) + slice_shape))
        kept = np.zeros_like(Z)
        kept[:, channels] = Z[:, channels]
        expected = g.numpy(kept)
        result = _call(student_masked, g, torch.from_numpy(Z), list(channels), name="masked_output")
        assert_close(result, expected, rtol=1e-6, atol=1e-8,
                     name=f"masked_output keeping channels {channels} of a slice of shape {slice_shape}")
