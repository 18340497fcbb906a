"""Probes of sheet 2, run in the student's kernel (numpy and utils only).

They build small networks from the challenge's weights with the student's classes (or
with :mod:`utils.modules` where the student's function receives a network), run the
student's code on float32 copies of the challenge's arrays, as the sheet's own code
does, and record what came back.  Where an answer could change its inputs in place, the
inputs are recorded again after the call.
"""
import numpy as np

from utils import modules as md
from utils.probing import StudentCodeError, call

#: At most this many calls of a recording network's methods are kept per step.
_RECORDED_CALLS = 3


def _f32(array) -> np.ndarray:
    """A fresh float32 copy."""
    return np.array(array, dtype=np.float32)


def _cases(challenge, prefix):
    return sorted(int(key.rsplit("_", 1)[1]) for key in challenge if key.startswith(prefix + "_"))


def _attempt(function, name, *args):
    """The result of the student's call, or the message of its failure (a string)."""
    try:
        return call(function, name, *args)
    except StudentCodeError as failure:
        return f"error: {failure}"


def _layer_kind(layer) -> str:
    for kind in (md.Convolution, md.ReLU, md.Pooling):
        if isinstance(layer, kind):
            return kind.__name__
    return type(layer).__name__


def test_buildcnn(challenge, buildcnn):
    net = call(buildcnn, "buildcnn()")
    layers = getattr(net, "layers", None)
    if type(layers) not in (list, tuple):
        return {"network": type(net).__name__}
    layers = list(layers)[:50]
    convolutions = [layer for layer in layers if isinstance(layer, md.Convolution)]
    return {
        "kinds": [_layer_kind(layer) for layer in layers],
        "weights": [getattr(layer, "W", None) for layer in convolutions],
        "biases": [getattr(layer, "B", None) for layer in convolutions],
        "scores": _attempt(getattr(net, "forward", None), "buildcnn().forward", _f32(challenge["X"])),
    }


def test_geterrorgrad(challenge, geterrorgrad):
    gradients, scores_after, targets_after = [], [], []
    for case in _cases(challenge, "y"):
        y, t = _f32(challenge[f"y_{case}"]), _f32(challenge[f"t_{case}"])
        gradients.append(call(geterrorgrad, f"geterrorgrad(y, t) with y of shape {y.shape}", y, t))
        scores_after.append(y)
        targets_after.append(t)
    return {"gradients": gradients, "y_after": scores_after, "t_after": targets_after}


class _RecordingNetwork(md.Network):
    """A network of the course's modules that also keeps what a training step hands it."""

    def __init__(self, layers):
        super().__init__(layers)
        self.start_record()

    def start_record(self):
        self.fed, self.gradients, self.rates = [], [], []

    def forward(self, X):
        if len(self.fed) < _RECORDED_CALLS:
            self.fed.append(np.array(X, dtype=np.float64))
        return super().forward(X)

    def gradprop(self, DY):
        if len(self.gradients) < _RECORDED_CALLS:
            self.gradients.append(np.array(DY, dtype=np.float64))
        return super().gradprop(DY)

    def update(self, lr):
        if len(self.rates) < _RECORDED_CALLS:
            self.rates.append(lr)
        super().update(lr)


def _parameters(net) -> list:
    """[W1, B1, W2, B2, ...] of the network's convolutions, as float64 copies."""
    return [np.array(getattr(layer, name), dtype=np.float64)
            for layer in net.layers if isinstance(layer, md.Convolution) for name in ("W", "B")]


def test_trainingstep(challenge, trainingstep):
    layers = []
    for k in (1, 2):
        layer = md.Convolution(challenge[f"W{k}"].shape, init="zeros")
        layer.W, layer.B = _f32(challenge[f"W{k}"]), _f32(challenge[f"B{k}"])
        layers += [layer] + ([md.ReLU(), md.Pooling()] if k == 1 else [])
    net = _RecordingNetwork(layers)
    Xtrain, Ttrain = _f32(challenge["Xtrain"]), _f32(challenge["Ttrain"])
    lr, batchsize = float(challenge["lr"]), int(challenge["batchsize"])
    results = {}
    state = np.random.get_state()  # the student's own draws continue unchanged after the test
    try:
        np.random.seed(int(challenge["seed"]))
        for step, arguments in (("first", (lr, batchsize)), ("second", ())):
            net.start_record()
            call(trainingstep, f"trainingstep(nn, Xtrain, Ttrain{''.join(f', {a}' for a in arguments)})",
                 net, Xtrain, Ttrain, *arguments)
            results[f"{step}_parameters"] = _parameters(net)
            results[f"{step}_fed"] = net.fed
            results[f"{step}_gradients"] = net.gradients
            results[f"{step}_rates"] = net.rates
    finally:
        np.random.set_state(state)
    results["Xtrain_after"], results["Ttrain_after"] = Xtrain, Ttrain
    return results


class _Scale:
    """A stand-in layer whose relprop multiplies the relevance by a fixed matrix."""

    def __init__(self, M):
        self.M = M

    def forward(self, X):
        return X

    def relprop(self, R):
        return np.asarray(R, dtype=np.float64) @ self.M


def test_network_relprop(challenge, Network):
    net = call(Network, "Network(layers)", [_Scale(challenge[f"M{k}"].copy()) for k in range(3)])
    R = challenge["R"].copy()
    first = call(getattr(net, "relprop", None), "Network.relprop", R)
    R_after = R.copy()
    # a second call: relprop may not change the network (for instance reverse its list of layers)
    second = call(getattr(net, "relprop", None), "Network.relprop (called a second time)", challenge["R"].copy())
    return {"relevance": first, "relevance_again": second, "R_after": R_after}


def _relprop(layer, name, X, R):
    """Forward ``X``, then relprop ``R``; the result and both inputs after the call."""
    call(getattr(layer, "forward", None), f"{name}.forward", X)
    relevance = call(getattr(layer, "relprop", None), f"{name}.relprop", R)
    return {"relevance": relevance, "X_after": X, "R_after": R}


def test_relu_relprop(challenge, ReLU):
    layer = call(ReLU, "ReLU()")
    return _relprop(layer, "ReLU()", _f32(challenge["X"]), _f32(challenge["R"]))


def test_pooling_relprop(challenge, Pooling):
    layer = call(Pooling, "Pooling()")
    return _relprop(layer, "Pooling()", _f32(challenge["X"]), _f32(challenge["R"]))


def _convolution(Class, name, W, B):
    """The student's convolution class with the challenge's weights (float32 copies)."""
    layer = call(Class, f"{name}({tuple(W.shape)})", tuple(W.shape))
    layer.W, layer.B = _f32(W), _f32(B)
    return layer


def _convolution_relprops(challenge, Class, name):
    results = {}
    for case in _cases(challenge, "W"):
        layer = _convolution(Class, name, challenge[f"W_{case}"], challenge[f"B_{case}"])
        W, B = layer.W, layer.B
        outcome = _relprop(layer, name, _f32(challenge[f"X_{case}"]), _f32(challenge[f"R_{case}"]))
        outcome.update({"W_array_after": W, "B_array_after": B,
                        "W_attribute_after": getattr(layer, "W", None), "B_attribute_after": getattr(layer, "B", None)})
        results.update({f"{key}_{case}": value for key, value in outcome.items()})
    return results


def test_convolution_relprop(challenge, Convolution):
    return _convolution_relprops(challenge, Convolution, "Convolution")


def test_firstconvolution(challenge, FirstConvolution):
    return _convolution_relprops(challenge, FirstConvolution, "FirstConvolution")


def test_dtd(challenge, Network, FirstConvolution, Convolution, ReLU, Pooling):
    layers = []
    for k, Class, name in ((1, FirstConvolution, "FirstConvolution"), (2, Convolution, "Convolution"),
                           (3, Convolution, "Convolution")):
        layers.append(_convolution(Class, name, challenge[f"W{k}"], challenge[f"B{k}"]))
        layers.append(call(ReLU, "ReLU()"))
        if k < 3:
            layers.append(call(Pooling, "Pooling()"))
    net = call(Network, "Network(layers)", layers)
    T = _f32(challenge["T"])
    results = {}
    # twice: the second pass shows whether relprop changed the layers
    for run in ("", "_again"):
        Y = call(getattr(net, "forward", None), "Network.forward", _f32(challenge["X"]))
        R = np.asarray(Y, dtype=np.float32) * T
        results["scores" + run] = Y
        results["relevance" + run] = call(getattr(net, "relprop", None), "Network.relprop", R)
    return results
