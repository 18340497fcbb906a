"""Plausible wrong answers to sheet 2, each of which a test must fail.

Objects are keyed by the names the test's probe receives them by (the names in the
sheet's hidden test cells)."""
import copy

import numpy as np

from autograder.sheets.sheet2_cifar import reference as ref
from utils import modules as md


# --- buildcnn --------------------------------------------------------------------------
def _build(shapes=ref.SHAPES, last_init="zeros", pools=True, relus=True, order=None):
    def buildcnn():
        layers = []
        for shape in shapes[:-1]:
            layers.append(md.Convolution(shape))
            layers += ([md.ReLU()] if relus else []) + ([md.Pooling()] if pools else [])
        layers.append(md.Convolution(shapes[-1], init=last_init))
        if order:
            layers = order(layers)
        return md.Network(layers)

    return buildcnn


def _all_zero():
    return md.Network([md.Convolution(ref.SHAPES[0], init="zeros"), md.ReLU(), md.Pooling(),
                       md.Convolution(ref.SHAPES[1], init="zeros"), md.ReLU(), md.Pooling(),
                       md.Convolution(ref.SHAPES[2], init="zeros"), md.ReLU(), md.Pooling(),
                       md.Convolution(ref.SHAPES[3], init="zeros")])


def _random_last_layer_bias():
    net = ref.reference_buildcnn()
    net.layers[-1].B[:] = 0.1
    return net


# --- geterrorgrad ----------------------------------------------------------------------
def _softmax(y, extra=1.0):
    shift = np.maximum(0, y.max(axis=-1, keepdims=True))
    e = np.exp(y - shift)
    return e / (extra * np.exp(-shift) + e.sum(axis=-1, keepdims=True))


def grad_without_batch_mean(y, t):
    return _softmax(y) - t


def grad_sign_flipped(y, t):
    return (t - _softmax(y)) / len(y)


def grad_plain_softmax(y, t):  # forgets the default class
    with np.errstate(invalid="ignore"):
        return (_softmax(y, extra=0.0) - t) / len(y)


def grad_unstable(y, t):  # overflows for large scores
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(y.astype(np.float32))
        return (e / (1 + e.sum(axis=-1, keepdims=True)) - t) / len(y)


def grad_fixed_25(y, t):  # divides by the sheet's batch size instead of the actual one
    return (_softmax(y) - t) / 25


def grad_sigmoid(y, t):  # treats the classes as independent
    with np.errstate(over="ignore"):
        return (1 / (1 + np.exp(-np.clip(y, -500, 500))) - t) / len(y)


def grad_clipped(y, t):  # "stabilises" by clipping the scores
    return (_softmax(np.clip(y, -30, 30)) - t) / len(y)


def grad_shifts_in_place(y, t):  # right values, but the caller's y is changed
    shift = np.maximum(0, y.max(axis=-1, keepdims=True))
    y -= shift
    e = np.exp(y)
    return (e / (np.exp(-shift) + e.sum(axis=-1, keepdims=True)) - t) / len(y)


# --- trainingstep ----------------------------------------------------------------------
def step_reference(nn, X, T, lr=0.01, batchsize=25):
    ref.reference_trainingstep(nn, X, T, lr, batchsize)


def step_ascent(nn, X, T, lr=0.01, batchsize=25):
    ref.reference_trainingstep(nn, X, T, -lr, batchsize)


def step_no_mean(nn, X, T, lr=0.01, batchsize=25):
    R = np.random.permutation(len(X))[:batchsize]
    y = nn.forward(X[R])
    nn.gradprop(ref.reference_geterrorgrad(y, T[R]) * len(R))
    nn.update(lr)


def step_half_batch(nn, X, T, lr=0.01, batchsize=25):
    ref.reference_trainingstep(nn, X, T, lr, batchsize // 2)


def step_no_update(nn, X, T, lr=0.01, batchsize=25):
    R = np.random.permutation(len(X))[:batchsize]
    nn.gradprop(ref.reference_geterrorgrad(nn.forward(X[R]), T[R]))


def step_mismatched_targets(nn, X, T, lr=0.01, batchsize=25):
    R = np.random.permutation(len(X))[:batchsize]
    y = nn.forward(X[R])
    nn.gradprop(ref.reference_geterrorgrad(y, T[np.random.permutation(len(X))[:batchsize]]))
    nn.update(lr)


def step_fixed_lr(nn, X, T, lr=0.01, batchsize=25):
    ref.reference_trainingstep(nn, X, T, 0.01, batchsize)


def step_full_batch(nn, X, T, lr=0.01, batchsize=25):  # gradient descent on the whole set
    y = nn.forward(X)
    nn.gradprop(ref.reference_geterrorgrad(y, T))
    nn.update(lr)


def step_first_images(nn, X, T, lr=0.01, batchsize=25):  # no random draw
    y = nn.forward(X[:batchsize])
    nn.gradprop(ref.reference_geterrorgrad(y, T[:batchsize]))
    nn.update(lr)


def step_own_generator(nn, X, T, lr=0.01, batchsize=25):  # the same "random" minibatch at every step
    ref.reference_trainingstep(nn, X, T, lr, batchsize, generator=np.random.default_rng(0))


def step_with_replacement(nn, X, T, lr=0.01, batchsize=25):  # images may repeat
    R = np.random.randint(0, len(X), batchsize)
    y = nn.forward(X[R])
    nn.gradprop(ref.reference_geterrorgrad(y, T[R]))
    nn.update(lr)


def step_shuffles_in_place(nn, X, T, lr=0.01, batchsize=25):  # the right minibatch, but reorders the training set
    R = np.random.permutation(len(X))
    X[:], T[:] = X[R], T[R]
    y = nn.forward(X[:batchsize])
    nn.gradprop(ref.reference_geterrorgrad(y, T[:batchsize]))
    nn.update(lr)


def step_batch_25(nn, X, T, lr=0.01, batchsize=25):  # ignores the batchsize argument
    ref.reference_trainingstep(nn, X, T, lr, 25)


def step_default_lr(nn, X, T, lr=0.1, batchsize=25):  # another default learning rate
    ref.reference_trainingstep(nn, X, T, lr, batchsize)


def step_default_batch(nn, X, T, lr=0.01, batchsize=32):  # another default minibatch size
    ref.reference_trainingstep(nn, X, T, lr, batchsize)


# --- Network.relprop -------------------------------------------------------------------
class NetForward(md.Network):
    def relprop(self, R):
        for layer in self.layers:
            R = layer.relprop(R)
        return R


class NetTopOnly(md.Network):
    def relprop(self, R):
        return self.layers[-1].relprop(R)


class NetSkipsFirst(md.Network):
    def relprop(self, R):
        for layer in self.layers[:0:-1]:
            R = layer.relprop(R)
        return R


class NetIdentity(md.Network):
    def relprop(self, R):
        return R


class NetReversesInPlace(md.Network):
    """Right the first time, but the network's own list of layers is left reversed."""

    def relprop(self, R):
        self.layers.reverse()
        for layer in self.layers:
            R = layer.relprop(R)
        return R


class NetSameInput(md.Network):
    def relprop(self, R):
        out = R
        for layer in self.layers[::-1]:
            out = layer.relprop(R)
        return out


# --- ReLU.relprop ----------------------------------------------------------------------
class ReLUGradient(md.ReLU):
    def relprop(self, R):
        return self.gradprop(R)


class ReLUTimesInput(md.ReLU):
    def relprop(self, R):
        return R * np.maximum(0, self.X)


class ReLUZero(md.ReLU):
    def relprop(self, R):
        return np.zeros_like(R)


class ReLUAbs(md.ReLU):
    def relprop(self, R):
        return np.abs(R) * np.sign(self.X)


class ReLUHalf(md.ReLU):
    def relprop(self, R):
        return R / 2


# --- Pooling.relprop -------------------------------------------------------------------
class PoolingGradient(md.Pooling):
    def relprop(self, R):
        return self.gradprop(R)


class PoolingQuarter(md.Pooling):
    def relprop(self, R):
        return self.gradprop(R) / 4


class PoolingNoInput(md.Pooling):
    def relprop(self, R):
        return self.gradprop(R / (self.forward(self.X) + 1e-9))


class PoolingMax(md.Pooling):
    def relprop(self, R):
        N, H, W, C = self.X.shape
        blocks = self.X.reshape(N, H // 2, 2, W // 2, 2, C)
        winner = blocks == blocks.max(axis=(2, 4), keepdims=True)
        return (winner * R[:, :, None, :, None, :]).reshape(self.X.shape)


class PoolingOverwritesInput(md.Pooling):
    """Right values, computed in the memory of the layer's input."""

    def relprop(self, R):
        Z = self.forward(self.X) + 1e-9
        self.X *= self.gradprop(R / Z)
        return self.X


class PoolingSquared(md.Pooling):
    def relprop(self, R):
        Z = self.forward(self.X ** 2) + 1e-9
        return self.X ** 2 * self.gradprop(R / Z)


# --- Convolution.relprop (z⁺) ----------------------------------------------------------
class ConvZ(md.Convolution):
    """Plain z rule (all weights and the bias)."""

    def relprop(self, R):
        Z = self.forward(self.X) + 1e-9
        return self.X * self.gradprop(R / Z)


class ConvZPlusWithBias(md.Convolution):
    def relprop(self, R):
        positive = copy.deepcopy(self)
        positive.W = np.maximum(0, self.W)
        Z = positive.forward(self.X) + 1e-9
        return self.X * positive.gradprop(R / Z)


class ConvZPlusInPlace(md.Convolution):
    """Right values, but destroys the layer's negative weights."""

    def relprop(self, R):
        self.W = np.maximum(0, self.W)
        self.B = self.B * 0
        Z = self.forward(self.X) + 1e-9
        return self.X * self.gradprop(R / Z)


class ConvShallowCopy(md.Convolution):
    """copy.copy shares W with the layer, and the clipping happens in that shared array."""

    def relprop(self, R):
        positive = copy.copy(self)
        positive.W[positive.W < 0] = 0
        positive.B = self.B * 0
        Z = positive.forward(self.X) + 1e-9
        return self.X * positive.gradprop(R / Z)


class ConvWSquare(md.Convolution):
    def relprop(self, R):
        square = copy.deepcopy(self)
        square.W = self.W ** 2
        square.B = self.B * 0
        Z = square.forward(np.ones_like(self.X)) + 1e-9
        return square.gradprop(R / Z)


class ConvNoInputFactor(md.Convolution):
    def relprop(self, R):
        positive = copy.deepcopy(self)
        positive.W, positive.B = np.maximum(0, self.W), self.B * 0
        Z = positive.forward(self.X) + 1e-9
        return positive.gradprop(R / Z)


class ConvZMinus(md.Convolution):
    def relprop(self, R):
        negative = copy.deepcopy(self)
        negative.W, negative.B = np.minimum(0, self.W), self.B * 0
        Z = negative.forward(self.X) - 1e-9
        return self.X * negative.gradprop(R / Z)


# --- FirstConvolution.relprop (z^B) ----------------------------------------------------
def _zb(low, high, swap=False, bias=False, with_x=True):
    class ZB(md.Convolution):
        def relprop(self, R):
            plain, positive, negative = (copy.deepcopy(self) for _ in range(3))
            for layer in (positive, negative) + (() if bias else (plain,)):
                layer.B = self.B * 0
            positive.W, negative.W = np.maximum(0, self.W), np.minimum(0, self.W)
            if swap:
                positive, negative = negative, positive
            L, H = np.full_like(self.X, low), np.full_like(self.X, high)
            Z = (plain.forward(self.X) if with_x else 0) - positive.forward(L) - negative.forward(H) + 1e-9
            S = R / Z
            return (self.X * plain.gradprop(S) if with_x else 0) - L * positive.gradprop(S) - H * negative.gradprop(S)

    return ZB


class FirstAsZPlus(ConvZPlusWithBias):
    pass


class FirstZeroesSharedBias(md.Convolution):
    """Right values, but copy.copy shares B with the layer, and the bias is zeroed in place."""

    def relprop(self, R):
        plain, positive, negative = (copy.copy(self) for _ in range(3))
        for layer in (plain, positive, negative):
            layer.B[:] = 0
        positive.W, negative.W = np.maximum(0, self.W), np.minimum(0, self.W)
        L, H = np.full_like(self.X, -1.0), np.full_like(self.X, 1.0)
        Z = plain.forward(self.X) - positive.forward(L) - negative.forward(H) + 1e-9
        S = R / Z
        return self.X * plain.gradprop(S) - L * positive.gradprop(S) - H * negative.gradprop(S)


_DTD = {"Network": ref.RefNetwork, "FirstConvolution": ref.RefFirstConvolution, "Convolution": ref.RefConvolution,
        "ReLU": ref.RefReLU, "Pooling": ref.RefPooling}

CORRECT = {
    "test_buildcnn": {"buildcnn": ref.reference_buildcnn},
    "test_geterrorgrad": {"geterrorgrad": ref.reference_geterrorgrad},
    "test_trainingstep": {"trainingstep": step_reference},
    "test_network_relprop": {"Network": ref.RefNetwork},
    "test_relu_relprop": {"ReLU": ref.RefReLU},
    "test_convolution_relprop": {"Convolution": ref.RefConvolution},
    "test_pooling_relprop": {"Pooling": ref.RefPooling},
    "test_firstconvolution": {"FirstConvolution": ref.RefFirstConvolution},
    "test_dtd": dict(_DTD),
}

MUTANTS = {
    "test_buildcnn": {what: {"buildcnn": wrong} for what, wrong in {
        "last layer random": _build(last_init="normal"),
        "all layers zero": _all_zero,
        "no pooling": _build(pools=False),
        "no ReLU": _build(relus=False),
        "transposed kernel shape": _build(shapes=((5, 5, 10, 3),) + ref.SHAPES[1:]),
        "pooling before ReLU": _build(order=lambda ls: [ls[k] for k in (0, 2, 1, 3, 5, 4, 6, 8, 7, 9)]),
        "bias on the last layer": _random_last_layer_bias,
    }.items()},
    "test_geterrorgrad": {what: {"geterrorgrad": wrong} for what, wrong in {
        "no 1/N": grad_without_batch_mean,
        "sign flipped": grad_sign_flipped,
        "softmax without the default class": grad_plain_softmax,
        "overflows for large scores": grad_unstable,
        "divides by 25, not N": grad_fixed_25,
        "sigmoid per class": grad_sigmoid,
        "clips the scores": grad_clipped,
        "shifts y in place": grad_shifts_in_place,
    }.items()},
    "test_trainingstep": {what: {"trainingstep": wrong} for what, wrong in {
        "gradient ascent": step_ascent,
        "sum instead of mean": step_no_mean,
        "half the minibatch": step_half_batch,
        "no update": step_no_update,
        "targets of other images": step_mismatched_targets,
        "ignores lr": step_fixed_lr,
        "whole training set (full-batch descent)": step_full_batch,
        "first batchsize images": step_first_images,
        "own generator (another draw)": step_own_generator,
        "draws with replacement": step_with_replacement,
        "shuffles the training set in place": step_shuffles_in_place,
        "ignores batchsize": step_batch_25,
        "default lr 0.1": step_default_lr,
        "default batchsize 32": step_default_batch,
    }.items()},
    "test_network_relprop": {what: {"Network": wrong} for what, wrong in {
        "bottom-up order": NetForward,
        "top layer only": NetTopOnly,
        "skips the first layer": NetSkipsFirst,
        "identity": NetIdentity,
        "every layer gets the input relevance": NetSameInput,
        "reverses its list of layers in place": NetReversesInPlace,
    }.items()},
    "test_relu_relprop": {what: {"ReLU": wrong} for what, wrong in {
        "gradient of the ReLU": ReLUGradient,
        "times the activation": ReLUTimesInput,
        "zero": ReLUZero,
        "absolute value": ReLUAbs,
        "halved": ReLUHalf,
    }.items()},
    "test_pooling_relprop": {what: {"Pooling": wrong} for what, wrong in {
        "gradient (copies R to every input)": PoolingGradient,
        "even split": PoolingQuarter,
        "forgets the input factor": PoolingNoInput,
        "winner takes all": PoolingMax,
        "squared inputs": PoolingSquared,
        "overwrites its input": PoolingOverwritesInput,
    }.items()},
    "test_convolution_relprop": {what: {"Convolution": wrong} for what, wrong in {
        "z rule (negative weights)": ConvZ,
        "z⁺ with the bias": ConvZPlusWithBias,
        "modifies the layer in place": ConvZPlusInPlace,
        "shallow copy, clips the shared W": ConvShallowCopy,
        "w² rule": ConvWSquare,
        "no input factor": ConvNoInputFactor,
        "negative weights only": ConvZMinus,
    }.items()},
    "test_firstconvolution": {what: {"FirstConvolution": wrong} for what, wrong in {
        "box swapped (l = 1, h = −1)": _zb(1.0, -1.0),
        "box [0, 1]": _zb(0.0, 1.0),
        "w⁺ and w⁻ swapped": _zb(-1.0, 1.0, swap=True),
        "keeps the bias": _zb(-1.0, 1.0, bias=True),
        "without the x·w term": _zb(-1.0, 1.0, with_x=False),
        "z⁺ rule on the pixels": FirstAsZPlus,
        "shallow copies, zeroes the shared bias": FirstZeroesSharedBias,
    }.items()},
    "test_dtd": {
        "bottom-up order": {**_DTD, "Network": NetForward},
        "z⁺ on the pixels": {**_DTD, "FirstConvolution": ConvZPlusWithBias},
        "z rule above": {**_DTD, "Convolution": ConvZ},
        "gradient through pooling": {**_DTD, "Pooling": PoolingGradient},
        "ReLU halves": {**_DTD, "ReLU": ReLUHalf},
        "convolution modifies its weights": {**_DTD, "Convolution": ConvZPlusInPlace},
    },
}

PARTLY_WRONG = {
    "geterrorgrad": (
        "def geterrorgrad(y, t):\n"
        "    p = numpy.exp(y) / (1 + numpy.exp(y).sum(axis=-1, keepdims=True))\n"
        "    return (p - t) / len(y)\n"
    ),
    "firstconvolution": (
        "class FirstConvolution(Convolution):\n"
        "    pass  # falls back to the z+ rule\n"
    ),
}
