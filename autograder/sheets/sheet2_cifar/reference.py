"""Sheet 2 (``sheet2_cifar``): the reference solution and the formulas the checks use.

The reference parts (``reference_*``, :class:`RefNetwork` and the relprop layers) are
the instructor's solution; :mod:`autograder.sheets.sheet2_cifar.train` trains the
shipped parameters with them.  The formulas below them are written independently of
:mod:`utils.modules` — dense matrices of the convolutions and the pooling, PyTorch
autograd for a training step — and are what :mod:`.checks` compares answers with, in
float64.

Deep Taylor decomposition: G. Montavon, S. Lapuschkin, A. Binder, W. Samek, K.-R. Müller,
"Explaining nonlinear classification decisions with deep Taylor decomposition",
Pattern Recognition 65 (2017), z⁺ rule (Sec. 4.1) and z^B rule (Sec. 4.3).
"""
import contextlib
import copy

import numpy as np
from scipy.special import logsumexp

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


def errorgrad(y, t) -> np.ndarray:
    """∂E/∂y in float64 for E = mean_n Σ_i −t_i log p_i with p_i = exp(y_i) / (1 + Σ_j exp(y_j)).

    ∂E/∂y_i = (p_i Σ_j t_j − t_i) / N, which is (p_i − t_i) / N for one-hot t.  The
    exponentials are shifted by m = max(0, max_j y_j), which leaves p unchanged and keeps
    every exponent ≤ 0.
    """
    y = np.asarray(y, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    shift = np.maximum(0.0, y.max(axis=-1, keepdims=True))
    e = np.exp(y - shift)
    p = e / (np.exp(-shift) + e.sum(axis=-1, keepdims=True))
    return (p * t.sum(axis=-1, keepdims=True) - t) / len(y)


def reference_geterrorgrad(y, t):
    """The sheet's ``geterrorgrad``: :func:`errorgrad` in the network's float32."""
    return errorgrad(y, t).astype(np.float32)


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


def dtd_forward(params, X):
    """Forward pass of conv-ReLU-pool-…-conv-ReLU (the DTD network: a ReLU on top) with
    dense matrices in float64.  Returns the scores and, for the relevance rules, every
    convolution's input and dense matrix, and every pooling's input."""
    x = np.asarray(X, dtype=np.float64)
    conv_inputs, matrices, pool_inputs = [], [], []
    for k, (W, B) in enumerate(params):
        W = np.asarray(W, dtype=np.float64)
        M = dense_convolution(W, x.shape[1:])
        Ho, Wo = x.shape[1] - W.shape[0] + 1, x.shape[2] - W.shape[1] + 1
        conv_inputs.append(x)
        matrices.append(M)
        x = np.maximum(0, (x.reshape(len(x), -1) @ M).reshape(len(x), Ho, Wo, W.shape[3]) + np.asarray(B, np.float64))
        if k < len(params) - 1:
            pool_inputs.append(x)
            x = (x.reshape(len(x), -1) @ dense_pooling(x.shape[1:])).reshape(len(x), Ho // 2, Wo // 2, W.shape[3])
    return x, conv_inputs, matrices, pool_inputs


def reference_relevance(params, X, R):
    """DTD of the network conv-ReLU-pool-…-conv-ReLU with dense matrices, float64: z^B
    (box [−1, 1]) on the pixels, z⁺ on the other convolutions, pooling in proportion to
    its inputs, ReLUs passing relevance through."""
    _, conv_inputs, matrices, pool_inputs = dtd_forward(params, X)
    R = np.asarray(R, dtype=np.float64)
    for k in range(len(params) - 1, 0, -1):
        R = ratio_rule(conv_inputs[k], np.maximum(0, matrices[k]), R)
        R = ratio_rule(pool_inputs[k - 1], dense_pooling(pool_inputs[k - 1].shape[1:]), R)
    return zb_rule(conv_inputs[0], np.asarray(params[0][0], dtype=np.float64), R)


@contextlib.contextmanager
def _one_torch_thread():
    """Run PyTorch on one thread: on these tiny tensors further threads only wait for one
    another (and for other processes), which can make a step a thousand times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def training_scores(params, X):
    """Scores of conv-ReLU-pool-…-conv (the trained network: no ReLU on top) in PyTorch,
    float64, from NHWC weights ``params = [(W, B), ...]`` given as tensors."""
    import torch

    with _one_torch_thread():
        x = torch.as_tensor(np.asarray(X, dtype=np.float64).transpose(0, 3, 1, 2))
        for k, (W, B) in enumerate(params):
            x = torch.nn.functional.conv2d(x, W.permute(3, 2, 0, 1), B)
            if k < len(params) - 1:
                x = torch.nn.functional.avg_pool2d(torch.relu(x), 2) * 4
        return x.flatten(1)


def sgd_step(params, X, T, lr):
    """θ − lr ∂E/∂θ for the minibatch ``X``, ``T`` (one-hot, (N, 1, 1, C)) by PyTorch
    autograd in float64, E being the mean error with the default class (score 0)."""
    import torch

    leaves = [(torch.tensor(np.asarray(W, dtype=np.float64), requires_grad=True),
               torch.tensor(np.asarray(B, dtype=np.float64), requires_grad=True)) for W, B in params]
    with _one_torch_thread():
        scores = training_scores(leaves, X)
        with_default = torch.cat([torch.zeros(len(scores), 1, dtype=torch.float64), scores], dim=1)
        labels = torch.as_tensor(np.asarray(T).reshape(len(T), -1).argmax(axis=1) + 1)
        torch.nn.functional.cross_entropy(with_default, labels).backward()
    return [((W - lr * W.grad).detach().numpy(), (B - lr * B.grad).detach().numpy()) for W, B in leaves]
