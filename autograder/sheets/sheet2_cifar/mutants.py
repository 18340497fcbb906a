"""Plausible wrong answers to sheet 2, each of which a check must reject."""
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
    return (_softmax(y, extra=0.0) - t) / len(y)


def grad_unstable(y, t):  # overflows for large scores
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(y.astype(np.float32))
        return (e / (1 + e.sum(axis=-1, keepdims=True)) - t) / len(y)


def grad_fixed_25(y, t):  # divides by the sheet's batch size instead of the actual one
    return (_softmax(y) - t) / 25


def grad_sigmoid(y, t):  # treats the classes as independent
    return (1 / (1 + np.exp(-np.clip(y, -500, 500))) - t) / len(y)


def grad_clipped(y, t):  # "stabilises" by clipping the scores
    return (_softmax(np.clip(y, -30, 30)) - t) / len(y)


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


CORRECT = {
    "check_buildcnn": (ref.reference_buildcnn,),
    "check_geterrorgrad": (ref.reference_geterrorgrad,),
    "check_trainingstep": (step_reference,),
    "check_network_relprop": (ref.RefNetwork,),
    "check_relu_relprop": (ref.RefReLU,),
    "check_pooling_relprop": (ref.RefPooling,),
    "check_convolution_relprop": (ref.RefConvolution,),
    "check_firstconvolution_relprop": (ref.RefFirstConvolution,),
    "check_dtd_network": (ref.RefNetwork, ref.RefFirstConvolution, ref.RefConvolution, ref.RefReLU, ref.RefPooling),
}

MUTANTS = {
    "check_buildcnn": {
        "last layer random": (_build(last_init="normal"),),
        "all layers zero": (_all_zero,),
        "no pooling": (_build(pools=False),),
        "no ReLU": (_build(relus=False),),
        "transposed kernel shape": (_build(shapes=((5, 5, 10, 3),) + ref.SHAPES[1:]),),
        "pooling before ReLU": (_build(order=lambda ls: [ls[k] for k in (0, 2, 1, 3, 5, 4, 6, 8, 7, 9)]),),
        "bias on the last layer": (_random_last_layer_bias,),
    },
    "check_geterrorgrad": {
        "no 1/N": (grad_without_batch_mean,),
        "sign flipped": (grad_sign_flipped,),
        "softmax without the default class": (grad_plain_softmax,),
        "overflows for large scores": (grad_unstable,),
        "divides by 25, not N": (grad_fixed_25,),
        "sigmoid per class": (grad_sigmoid,),
        "clips the scores": (grad_clipped,),
    },
    "check_trainingstep": {
        "gradient ascent": (step_ascent,),
        "sum instead of mean": (step_no_mean,),
        "half the minibatch": (step_half_batch,),
        "no update": (step_no_update,),
        "targets of other images": (step_mismatched_targets,),
        "ignores lr": (step_fixed_lr,),
    },
    "check_network_relprop": {
        "bottom-up order": (NetForward,),
        "top layer only": (NetTopOnly,),
        "skips the first layer": (NetSkipsFirst,),
        "identity": (NetIdentity,),
        "every layer gets the input relevance": (NetSameInput,),
    },
    "check_relu_relprop": {
        "gradient of the ReLU": (ReLUGradient,),
        "times the activation": (ReLUTimesInput,),
        "zero": (ReLUZero,),
        "absolute value": (ReLUAbs,),
        "halved": (ReLUHalf,),
    },
    "check_pooling_relprop": {
        "gradient (copies R to every input)": (PoolingGradient,),
        "even split": (PoolingQuarter,),
        "forgets the input factor": (PoolingNoInput,),
        "winner takes all": (PoolingMax,),
        "squared inputs": (PoolingSquared,),
    },
    "check_convolution_relprop": {
        "z rule (negative weights)": (ConvZ,),
        "z⁺ with the bias": (ConvZPlusWithBias,),
        "modifies the layer in place": (ConvZPlusInPlace,),
        "w² rule": (ConvWSquare,),
        "no input factor": (ConvNoInputFactor,),
        "negative weights only": (ConvZMinus,),
    },
    "check_firstconvolution_relprop": {
        "box swapped (l = 1, h = −1)": (_zb(1.0, -1.0),),
        "box [0, 1]": (_zb(0.0, 1.0),),
        "w⁺ and w⁻ swapped": (_zb(-1.0, 1.0, swap=True),),
        "keeps the bias": (_zb(-1.0, 1.0, bias=True),),
        "without the x·w term": (_zb(-1.0, 1.0, with_x=False),),
        "z⁺ rule on the pixels": (FirstAsZPlus,),
    },
    "check_dtd_network": {
        "bottom-up order": (NetForward, ref.RefFirstConvolution, ref.RefConvolution, ref.RefReLU, ref.RefPooling),
        "z⁺ on the pixels": (ref.RefNetwork, ConvZPlusWithBias, ref.RefConvolution, ref.RefReLU, ref.RefPooling),
        "z rule above": (ref.RefNetwork, ref.RefFirstConvolution, ConvZ, ref.RefReLU, ref.RefPooling),
        "gradient through pooling": (ref.RefNetwork, ref.RefFirstConvolution, ref.RefConvolution, ref.RefReLU,
                                     PoolingGradient),
        "ReLU halves": (ref.RefNetwork, ref.RefFirstConvolution, ref.RefConvolution, ReLUHalf, ref.RefPooling),
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
