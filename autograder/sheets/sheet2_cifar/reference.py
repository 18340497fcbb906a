"""Sheet 2 (``sheet2_cifar``): reference solution and hidden-test checks.

The reference parts (``reference_*``, :class:`RefNetwork` and the relprop layers) are
the instructor's solution; :mod:`autograder.sheets.sheet2_cifar.train` trains the shipped parameters
with them.  The checks (``check_*``) run a student's code on small random inputs drawn
from fixed seeds and compare the results with explicit formulas written independently of
:mod:`utils.modules`: dense matrices of the convolutions, finite differences of the error,
the plain SGD update.

Deep Taylor decomposition: G. Montavon, S. Lapuschkin, A. Binder, W. Samek, K.-R. Müller,
"Explaining nonlinear classification decisions with deep Taylor decomposition",
Pattern Recognition 65 (2017), z⁺ rule (Sec. 4.1) and z^B rule (Sec. 4.3).
"""
import copy

import numpy as np
from scipy.special import logsumexp

from autograder.hidden import call_student as _call
from autograder.hidden import GradingError, as_array, handed_to_students, rng
from utils import modules as md

#: Stabiliser of the relevance rules' denominators (they are non-negative for z⁺ and z^B).
EPS = 1e-9
#: Box of the pixels for the z^B rule.
LOW, HIGH = -1.0, 1.0
#: The sheet's architecture: weight shapes of the four convolutions.
SHAPES = ((5, 5, 3, 10), (5, 5, 10, 50), (4, 4, 50, 250), (1, 1, 250, 10))


# ----------------------------------------------------------------------------------------
# Reference solution
# ----------------------------------------------------------------------------------------
def reference_buildcnn(generator=None) -> md.Network:
    """conv 5×5×3×10, ReLU, pool, 5×5×10×50, ReLU, pool, 4×4×50×250, ReLU, pool, 1×1×250×10 (zeros)."""
    generator = np.random.default_rng() if generator is None else generator
    layers = []
    for shape in SHAPES[:-1]:
        layers += [md.Convolution(shape, rng=generator), md.ReLU(), md.Pooling()]
    layers.append(md.Convolution(SHAPES[-1], init="zeros"))
    return md.Network(layers)


def reference_geterrorgrad(y, t):
    """∂E/∂y for E = mean_n Σ_i −t_i log p_i with p_i = exp(y_i) / (1 + Σ_j exp(y_j)).

    ∂E/∂y_i = (p_i − t_i) / N for one-hot t.  The exponentials are shifted by
    m = max(0, max_j y_j), which leaves p unchanged and keeps every exponent ≤ 0.
    """
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    shift = np.maximum(0.0, y.max(axis=-1, keepdims=True))
    e = np.exp(y - shift)
    p = e / (np.exp(-shift) + e.sum(axis=-1, keepdims=True))
    return ((p * t.sum(axis=-1, keepdims=True) - t) / len(y)).astype(np.float32)


def error(y, t) -> float:
    """E = mean_n Σ_i −t_i log p_i, computed stably in float64 (log p_i = y_i − log(1 + Σ_j e^{y_j}))."""
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    t = np.asarray(t, dtype=np.float64).reshape(len(y), -1)
    with_default = np.concatenate([np.zeros((len(y), 1)), y], axis=1)
    log_p = y - logsumexp(with_default, axis=1, keepdims=True)
    return float(-(t * log_p).sum() / len(y))


def reference_trainingstep(nn, Xtrain, Ttrain, lr=0.01, batchsize=25, generator=None):
    """One SGD step on a random minibatch: select, forward, error gradient, backward, update."""
    generator = np.random if generator is None else generator
    R = generator.permutation(len(Xtrain))[:batchsize]
    y = nn.forward(Xtrain[R])
    nn.gradprop(reference_geterrorgrad(y, Ttrain[R]))
    nn.update(lr)


def accuracy(nn, X, T) -> float:
    """Fraction of images whose largest score is at the target class."""
    scores = nn.forward(X)
    return float((np.argmax(scores, axis=-1) == np.argmax(T, axis=-1)).mean())


class RefNetwork(md.Network):
    def relprop(self, R):
        for layer in self.layers[::-1]:
            R = layer.relprop(R)
        return R


class RefReLU(md.ReLU):
    def relprop(self, R):
        return R  # the rule of a ReLU is applied in the layer below (convolution + ReLU = one neuron)


class RefPooling(md.Pooling):
    def relprop(self, R):
        Z = self.forward(self.X) + EPS
        return self.X * self.gradprop(R / Z)


class RefConvolution(md.Convolution):
    """z⁺ rule: R_i = Σ_j x_i w⁺_ij / (Σ_i x_i w⁺_ij) R_j (gradient trick, bias dropped)."""

    def relprop(self, R):
        positive = copy.deepcopy(self)
        positive.W = np.maximum(0, self.W)
        positive.B = np.zeros_like(self.B)
        Z = positive.forward(self.X) + EPS
        return self.X * positive.gradprop(R / Z)


class RefFirstConvolution(md.Convolution):
    """z^B rule with l = −1, h = 1: R_i = Σ_j (x_i w_ij − l w⁺_ij − h w⁻_ij) / (Σ_i …) R_j."""

    def relprop(self, R):
        plain, positive, negative = (copy.deepcopy(self) for _ in range(3))
        for layer in (plain, positive, negative):
            layer.B = np.zeros_like(self.B)
        positive.W = np.maximum(0, self.W)
        negative.W = np.minimum(0, self.W)
        L = np.full_like(self.X, LOW)
        H = np.full_like(self.X, HIGH)
        Z = plain.forward(self.X) - positive.forward(L) - negative.forward(H) + EPS
        S = R / Z
        return self.X * plain.gradprop(S) - L * positive.gradprop(S) - H * negative.gradprop(S)


def reference_dtd_network(folder) -> RefNetwork:
    """Sheet 2's trained network, with relprop, loaded from ``folder`` (ReLU on top, as in DTD)."""
    names = [f"{folder}/{name}" for name in md.SHEET2_LAYERS]
    return RefNetwork([
        RefFirstConvolution(names[0]), RefReLU(), RefPooling(),
        RefConvolution(names[1]), RefReLU(), RefPooling(),
        RefConvolution(names[2]), RefReLU(), RefPooling(),
        RefConvolution(names[3]), RefReLU(),
    ])


# ----------------------------------------------------------------------------------------
# Independent formulas used by the checks
# ----------------------------------------------------------------------------------------
def dense_convolution(W, in_shape) -> np.ndarray:
    """The matrix M with (conv X)[flat j] = Σ_i X[flat i] M[i, j], for one image of ``in_shape`` (H, W, C)."""
    h, w, cin, cout = W.shape
    H, W_, C = in_shape
    Ho, Wo = H - h + 1, W_ - w + 1
    M = np.zeros((H, W_, C, Ho, Wo, cout))
    for i in range(Ho):
        for j in range(Wo):
            M[i:i + h, j:j + w, :, i, j, :] = W
    return M.reshape(H * W_ * C, Ho * Wo * cout)


def dense_pooling(in_shape) -> np.ndarray:
    """The 0/1 matrix of 2×2 sum-pooling for one image of ``in_shape`` (H, W, C)."""
    H, W, C = in_shape
    M = np.zeros((H, W, C, H // 2, W // 2, C))
    for i in range(H):
        for j in range(W):
            M[i, j, np.arange(C), i // 2, j // 2, np.arange(C)] = 1
    return M.reshape(H * W * C, -1)


def ratio_rule(X, M, R, eps=EPS) -> np.ndarray:
    """R_i = Σ_j x_i M_ij / (Σ_i x_i M_ij + eps) R_j, image by image (z⁺ with M = W⁺, pooling with M = 0/1)."""
    x = X.reshape(len(X), -1).astype(np.float64)
    r = R.reshape(len(R), -1).astype(np.float64)
    Z = x @ M + eps
    return (x * ((r / Z) @ M.T)).reshape(X.shape)


def zb_rule(X, W, R, low=LOW, high=HIGH, eps=EPS) -> np.ndarray:
    """z^B rule written with the dense matrix of the convolution."""
    M = dense_convolution(W, X.shape[1:])
    Mp, Mn = np.maximum(M, 0), np.minimum(M, 0)
    x = X.reshape(len(X), -1).astype(np.float64)
    r = R.reshape(len(R), -1).astype(np.float64)
    contributions = lambda S: x * (S @ M.T) - low * (S @ Mp.T) - high * (S @ Mn.T)  # noqa: E731
    Z = x @ M - low * np.ones_like(x) @ Mp - high * np.ones_like(x) @ Mn + eps
    return contributions(r / Z).reshape(X.shape)


# ----------------------------------------------------------------------------------------
# Checks
# ----------------------------------------------------------------------------------------


def check_buildcnn(buildcnn):
    """Ten layers in the sheet's order, the four weight shapes, random weights below, zeros on top."""
    net = _call(buildcnn, name="buildcnn()")
    layers = getattr(net, "layers", None)
    if not isinstance(layers, (list, tuple)):
        raise GradingError("buildcnn() should return a modules.Network, whose .layers is the list of layers")
    layers = list(layers)
    expected = [md.Convolution, md.ReLU, md.Pooling] * 3 + [md.Convolution]
    if len(layers) != len(expected):
        raise GradingError(f"the network should have {len(expected)} layers (conv, ReLU, pool ×3, conv), got {len(layers)}")
    for k, (layer, kind) in enumerate(zip(layers, expected)):
        if not isinstance(layer, kind):
            raise GradingError(f"layer {k} should be a modules.{kind.__name__}, got {type(layer).__name__}")
    convolutions = [layer for layer in layers if isinstance(layer, md.Convolution)]
    for k, (layer, shape) in enumerate(zip(convolutions, SHAPES), start=1):
        W = as_array(layer.W, shape=shape, name=f"the weights of convolution {k}")
        as_array(layer.B, shape=shape[-1:], name=f"the biases of convolution {k}")
        if k < 4 and not W.std() > 0:
            raise GradingError(f"the weights of convolution {k} should be random, not constant: training cannot start otherwise")
    if np.any(as_array(convolutions[-1].W) != 0) or np.any(as_array(convolutions[-1].B) != 0):
        raise GradingError("the last layer should start with all weights (and biases) zero")


def check_geterrorgrad(geterrorgrad, trials=6):
    """Compare with central finite differences of E on random scores, large ones included."""
    generator = rng(2201)
    for trial in range(trials):
        N = int(generator.integers(1, 6))
        scale = (1.0, 5.0, 300.0)[trial % 3]
        y = (generator.standard_normal((N, 1, 1, 10)) * scale).astype(np.float32)
        if trial == trials - 1:
            y[0, 0, 0, :] = -400.0  # all classes far below the default class
            y[-1, 0, 0, 3] = 500.0
        t = np.zeros((N, 1, 1, 10), dtype=np.float32)
        t[np.arange(N), 0, 0, generator.integers(0, 10, N)] = 1
        grad = as_array(_call(geterrorgrad, y.copy(), t.copy(), name="geterrorgrad"), shape=y.shape,
                        name="geterrorgrad(y, t)")
        y64 = y.astype(np.float64)
        numeric = np.zeros_like(y64)
        step = 1e-4 * np.maximum(1.0, np.abs(y64))
        for index in np.ndindex(y.shape):
            plus, minus = y64.copy(), y64.copy()
            plus[index] += step[index]
            minus[index] -= step[index]
            numeric[index] = (error(plus, t) - error(minus, t)) / (2 * step[index])
        if not np.allclose(grad, numeric, rtol=1e-3, atol=1e-5):
            worst = np.unravel_index(np.argmax(np.abs(grad - numeric)), y.shape)
            raise GradingError(
                f"geterrorgrad(y, t) does not match the derivative of the mean error over the minibatch "
                f"(N={N}, |y| up to {np.abs(y).max():.0f}): at index {tuple(int(i) for i in worst)} "
                f"got {grad[worst]:.6g}, expected {numeric[worst]:.6g}"
            )


def _small_net(generator):
    """(W, B) of three small random convolutions for a 10×10×3 input: 3×3×3×4, 3×3×4×6, 1×1×6×3."""
    conv = lambda shape: (generator.standard_normal(shape) / np.sqrt(np.prod(shape[:3]))).astype(np.float32)  # noqa
    params = [(conv((3, 3, 3, 4)), generator.standard_normal(4).astype(np.float32) * 0.1),
              (conv((3, 3, 4, 6)), generator.standard_normal(6).astype(np.float32) * 0.1),
              (conv((1, 1, 6, 3)), generator.standard_normal(3).astype(np.float32) * 0.1)]
    return params


def check_trainingstep(trainingstep):
    """One step on a 25-image training set (so the minibatch is the whole set, in any order)
    must move every parameter by −lr ∂E/∂θ, computed here with PyTorch autograd."""
    import torch

    generator = rng(2202)
    params = _small_net(generator)
    layers = [md.Convolution(W.shape, init="zeros") for W, _ in params]
    for layer, (W, B) in zip(layers, params):
        layer.W, layer.B = W.copy(), B.copy()
    net = md.Network([layers[0], md.ReLU(), md.Pooling(), layers[1], md.ReLU(), md.Pooling(), layers[2]])
    X = generator.uniform(-1, 1, (25, 10, 10, 3)).astype(np.float32)
    T = np.eye(3, dtype=np.float32)[generator.integers(0, 3, 25)].reshape(25, 1, 1, 3)
    lr = 0.05
    _call(trainingstep, net, X.copy(), T.copy(), lr, name="trainingstep(nn, Xtrain, Ttrain, lr)")

    tparams = [(torch.tensor(W, dtype=torch.float64, requires_grad=True),
                torch.tensor(B, dtype=torch.float64, requires_grad=True)) for W, B in params]
    x = torch.tensor(X.transpose(0, 3, 1, 2), dtype=torch.float64)
    conv = lambda x, p: torch.nn.functional.conv2d(x, p[0].permute(3, 2, 0, 1), p[1])  # noqa: E731
    pool = lambda x: torch.nn.functional.avg_pool2d(x, 2) * 4  # noqa: E731
    y = conv(pool(torch.relu(conv(pool(torch.relu(conv(x, tparams[0]))), tparams[1]))), tparams[2]).flatten(1)
    scores = torch.cat([torch.zeros(25, 1, dtype=torch.float64), y], dim=1)
    labels = torch.tensor(T.reshape(25, 3).argmax(axis=1) + 1)
    torch.nn.functional.cross_entropy(scores, labels).backward()
    for k, (layer, (W, B)) in enumerate(zip(layers, tparams), start=1):
        for got, p, what in ((layer.W, W, "weights"), (layer.B, B, "biases")):
            expected = (p - lr * p.grad).detach().numpy()
            actual = as_array(got, shape=expected.shape, name=f"the {what} of convolution {k} after the step")
            if not np.allclose(actual, expected, rtol=1e-4, atol=1e-6):
                raise GradingError(
                    f"after one training step the {what} of convolution {k} differ from θ − lr·∂E/∂θ "
                    f"(largest difference {np.abs(actual - expected).max():.3g}); check the minibatch, "
                    "the gradient, gradprop and update(lr)"
                )


def _relprop(layer, X, R, what):
    _call(layer.forward, X.copy(), name=f"{what}.forward")
    return _call(layer.relprop, R.copy(), name=f"{what}.relprop")


def check_relu_relprop(ReLU):
    generator = rng(2203)
    X = generator.standard_normal((3, 4, 4, 5)).astype(np.float32)
    R = np.abs(generator.standard_normal(X.shape)).astype(np.float32)
    got = as_array(_relprop(ReLU(), X, R, "ReLU()"), shape=X.shape, name="ReLU.relprop(R)")
    if not np.allclose(got, R, rtol=1e-6, atol=1e-7):
        raise GradingError("ReLU.relprop should pass the relevance through unchanged (the rule is applied below)")


def check_pooling_relprop(Pooling):
    generator = rng(2204)
    X = np.abs(generator.standard_normal((3, 6, 4, 5))).astype(np.float32)
    R = np.abs(generator.standard_normal((3, 3, 2, 5))).astype(np.float32)
    got = as_array(_relprop(Pooling(), X, R, "Pooling()"), shape=X.shape, name="Pooling.relprop(R)")
    expected = ratio_rule(X, dense_pooling(X.shape[1:]), R)
    if not np.allclose(got, expected, rtol=1e-4, atol=1e-6):
        raise GradingError("Pooling.relprop should share each window's relevance in proportion to its inputs, "
                           "R_i = x_i / (Σ_window x) · R_window")


def _conv_layer(Class, W, B, what):
    layer = _call(Class, W.shape, name=f"{what}({W.shape})")
    layer.W, layer.B = W.copy(), B.copy()
    return layer


def check_convolution_relprop(Convolution):
    """z⁺ rule against the dense-matrix formula, on two random layers; W must stay as it was."""
    generator = rng(2205)
    for shape, size in (((3, 3, 4, 6), 7), ((2, 2, 5, 3), 4)):
        W = generator.standard_normal(shape).astype(np.float32)
        B = generator.standard_normal(shape[-1]).astype(np.float32)
        X = np.maximum(0, generator.standard_normal((2, size, size, shape[2]))).astype(np.float32)
        Ho = size - shape[0] + 1
        R = np.abs(generator.standard_normal((2, Ho, Ho, shape[3]))).astype(np.float32)
        layer = _conv_layer(Convolution, W, B, "Convolution")
        got = as_array(_relprop(layer, X, R, "Convolution"), shape=X.shape, name="Convolution.relprop(R)")
        expected = ratio_rule(X, np.maximum(0, dense_convolution(W, X.shape[1:])), R)
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max()):
            raise GradingError("Convolution.relprop does not follow the z⁺ rule "
                               "R_i = Σ_j x_i w⁺_ij / (Σ_i x_i w⁺_ij) R_j (positive weights, no bias)")
        if not np.array_equal(as_array(layer.W), W) or not np.array_equal(as_array(layer.B), B):
            raise GradingError("Convolution.relprop changed the layer's own W or B: work on copies")


def check_firstconvolution_relprop(FirstConvolution):
    """z^B rule (l = −1, h = 1) against the dense-matrix formula; W must stay as it was."""
    generator = rng(2206)
    for shape, size in (((3, 3, 3, 4), 6), ((5, 5, 3, 2), 7)):
        W = generator.standard_normal(shape).astype(np.float32)
        B = generator.standard_normal(shape[-1]).astype(np.float32)
        X = generator.uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
        Ho = size - shape[0] + 1
        R = np.abs(generator.standard_normal((2, Ho, Ho, shape[3]))).astype(np.float32)
        layer = _conv_layer(FirstConvolution, W, B, "FirstConvolution")
        got = as_array(_relprop(layer, X, R, "FirstConvolution"), shape=X.shape, name="FirstConvolution.relprop(R)")
        expected = zb_rule(X, W, R)
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max()):
            raise GradingError("FirstConvolution.relprop does not follow the z^B rule with l = −1, h = 1: "
                               "R_i = Σ_j (x_i w_ij − l w⁺_ij − h w⁻_ij) / (Σ_i …) R_j")
        if not np.array_equal(as_array(layer.W), W) or not np.array_equal(as_array(layer.B), B):
            raise GradingError("FirstConvolution.relprop changed the layer's own W or B: work on copies")


@handed_to_students
class _Scale:
    """A grader-owned layer whose relprop multiplies by a fixed matrix, to see the order of the visit."""

    def __init__(self, M):
        self.M = M

    def forward(self, X):
        return X

    def relprop(self, R):
        return np.asarray(R) @ self.M


def check_network_relprop(Network, layers=None):
    """``Network.relprop`` must visit the layers from the top down, feeding each output to the next."""
    generator = rng(2207)
    matrices = [generator.standard_normal((4, 4)) for _ in range(3)]
    net = _call(Network, [_Scale(M) for M in matrices], name="Network([...])")
    R = generator.standard_normal((2, 4))
    got = as_array(_call(net.relprop, R.copy(), name="Network.relprop"), shape=R.shape, name="Network.relprop(R)")
    expected = R @ matrices[2] @ matrices[1] @ matrices[0]
    if not np.allclose(got, expected, rtol=1e-6, atol=1e-8):
        raise GradingError("Network.relprop should call relprop of every layer, last layer first, "
                           "passing each result to the layer below")


def check_dtd_network(Network, FirstConvolution, Convolution, ReLU, Pooling):
    """A whole small random network built from the student's classes against the dense formulas."""
    generator = rng(2208)
    params = _small_net(generator)
    layers = [_conv_layer(FirstConvolution, *params[0], "FirstConvolution"), _call(ReLU, name="ReLU()"),
              _call(Pooling, name="Pooling()"),
              _conv_layer(Convolution, *params[1], "Convolution"), _call(ReLU, name="ReLU()"),
              _call(Pooling, name="Pooling()"),
              _conv_layer(Convolution, *params[2], "Convolution"), _call(ReLU, name="ReLU()")]
    net = _call(Network, layers, name="Network([...])")
    X = generator.uniform(-1, 1, (3, 10, 10, 3)).astype(np.float32)
    Y = as_array(_call(net.forward, X.copy(), name="Network.forward"), shape=(3, 1, 1, 3), name="the output")
    T = np.eye(3)[[0, 1, 2]].reshape(3, 1, 1, 3)
    got = as_array(_call(net.relprop, (Y * T).astype(np.float32), name="Network.relprop"), shape=X.shape,
                   name="the input relevance")
    expected = reference_relevance(params, X, Y * T)
    if np.linalg.norm(got - expected) > 1e-4 * np.linalg.norm(expected) + 1e-6:
        raise GradingError("the relevance of a small random network (z^B below, z⁺ above, pooling in "
                           "proportion to the inputs) differs from the expected one")


def reference_relevance(params, X, R):
    """DTD of the network conv-ReLU-pool-conv-ReLU-pool-conv-ReLU with dense matrices, float64."""
    X = np.asarray(X, dtype=np.float64)
    activations, x = [X], X
    mats = []
    for k, (W, B) in enumerate(params):
        M = dense_convolution(W.astype(np.float64), x.shape[1:])
        Ho = x.shape[1] - W.shape[0] + 1
        x = np.maximum(0, (x.reshape(len(x), -1) @ M).reshape(len(x), Ho, Ho, W.shape[3]) + B)
        mats.append(M)
        if k < len(params) - 1:
            activations.append(x)
            P = dense_pooling(x.shape[1:])
            x = (x.reshape(len(x), -1) @ P).reshape(len(x), x.shape[1] // 2, x.shape[2] // 2, x.shape[3])
            activations.append(x)
    R = np.asarray(R, dtype=np.float64)
    R = ratio_rule(activations[4], np.maximum(0, mats[2]), R)
    R = ratio_rule(activations[3], dense_pooling(activations[3].shape[1:]), R)
    R = ratio_rule(activations[2], np.maximum(0, mats[1]), R)
    R = ratio_rule(activations[1], dense_pooling(activations[1].shape[1:]), R)
    return zb_rule(activations[0], params[0][0].astype(np.float64), R)
