"""Checks of sheet 2: every answer against the float64 formulas of :mod:`.reference`
(dense matrices of the convolutions and the pooling, PyTorch autograd for a training
step), on the student's challenge.

Inputs handed to the student's code must come back unchanged; a training step must use
exactly the minibatch that ``numpy.random.permutation`` draws from the seeded generator
(not the whole set, not other images, not another draw); relevance must reach the
layers in the network's order.
"""
import numpy as np

from autograder.checking import GradingError, assert_close, relative_error
from autograder.sheets.sheet2_cifar import reference as ref

#: Layers of the sheet's network, in order.
LAYER_KINDS = ["Convolution", "ReLU", "Pooling"] * 3 + ["Convolution"]
#: A float32 answer of the relevance rules matches the float64 formulas to this relative accuracy.
RELPROP_RTOL = 1e-4


# ----------------------------------------------------------------------------- helpers
def _unchanged(answer, name, original, what):
    """The input ``name`` recorded after the call must still equal ``original``."""
    after = answer.array(name, what=what)
    if after.shape != original.shape or not np.array_equal(after, original):
        raise GradingError(f"{what} was changed in place by the call; work on copies and leave the inputs as they were")


def _relevance_close(actual, expected, name):
    """Elementwise, relative to the largest relevance (float32 answers, float64 reference)."""
    assert_close(actual, expected, rtol=RELPROP_RTOL, atol=1e-6 * float(np.abs(expected).max()), name=name)


def _cases(challenge, prefix):
    return sorted(int(key.rsplit("_", 1)[1]) for key in challenge if key.startswith(prefix + "_"))


def _texts(answer, name, what):
    texts = []
    for item in answer.items(name, what=what):
        if item["kind"] != "text":
            raise GradingError(f"{what} could not be read")
        texts.append(item["value"])
    return texts


# ----------------------------------------------------------------------------- exercise 1
def test_buildcnn(challenge, answer):
    """Ten layers in the sheet's order, the four weight shapes, random weights below and
    all-zero weights and biases on top; the network maps images to zero scores."""
    if "network" in answer.values:
        raise GradingError("buildcnn() should return a modules.Network (md.Network([...])), whose .layers "
                           "is the list of layers")
    kinds = _texts(answer, "kinds", "the layers of buildcnn()")
    if len(kinds) != len(LAYER_KINDS):
        raise GradingError(f"the network should have {len(LAYER_KINDS)} layers (convolution, ReLU, pooling three "
                           f"times, then a convolution), got {len(kinds)}: {', '.join(kinds)}")
    for k, (kind, expected) in enumerate(zip(kinds, LAYER_KINDS)):
        if kind != expected:
            raise GradingError(f"layer {k} should be a modules.{expected}, got {kind} "
                               f"(expected order: {', '.join(LAYER_KINDS)})")
    weights = answer.arrays_of("weights", shapes=ref.SHAPES, what="the weights W of the convolutions")
    biases = answer.arrays_of("biases", shapes=[shape[-1:] for shape in ref.SHAPES],
                              what="the biases B of the convolutions")
    for k, W in enumerate(weights[:-1], start=1):
        if not W.std() > 0:
            raise GradingError(f"the weights of convolution {k} should be random, not constant: training cannot "
                               "start otherwise")
    if np.any(weights[-1] != 0) or np.any(biases[-1] != 0):
        raise GradingError("the last layer should start with all weights (and biases) zero: "
                           "md.Convolution((1, 1, 250, 10), init=\"zeros\")")
    node = answer.node("scores", "buildcnn().forward(X)")
    if node["kind"] == "text":
        raise GradingError(f"the network cannot run on a batch of images: {node['value']}")
    scores = answer.array("scores", shape=(len(challenge["X"]), 1, 1, 10), what="buildcnn().forward(X)")
    if np.any(scores != 0):
        raise GradingError("with the last layer at zero, every score of the new network should be 0")


# ----------------------------------------------------------------------------- exercise 2
def test_geterrorgrad(challenge, answer):
    """(p − t)/N with the default class in p, for every minibatch of the challenge, large
    scores included; y and t unchanged."""
    cases = _cases(challenge, "y")
    shapes = [challenge[f"y_{case}"].shape for case in cases]
    gradients = answer.arrays_of("gradients", shapes=shapes, what="geterrorgrad(y, t)")
    for case, gradient in zip(cases, gradients):
        y, t = challenge[f"y_{case}"], challenge[f"t_{case}"]
        expected = ref.errorgrad(y, t)
        what = f"geterrorgrad(y, t) for a minibatch of N={len(y)} with scores up to |y| = {np.abs(y).max():.0f}"
        try:
            assert_close(gradient, expected, rtol=1e-4, atol=1e-6, name=what)
        except GradingError as error:
            if np.allclose(gradient, expected * len(y), rtol=1e-4, atol=1e-6) and len(y) > 1:
                raise GradingError(f"{error}: it equals N times ∂E/∂y — E is the mean over the minibatch") from None
            raise GradingError(f"{error}. Expected ∂E/∂y = (p − t)/N, with p_i = exp(y_i) / (1 + Σ_j exp(y_j)) "
                               "computed without overflow") from None
    for name, arrays, what in (("y_after", "y", "y"), ("t_after", "t", "t")):
        for case, after in zip(cases, answer.arrays_of(name, shapes=shapes, what=f"{what} after geterrorgrad(y, t)")):
            if not np.array_equal(after, challenge[f"{arrays}_{case}"]):
                raise GradingError(f"geterrorgrad(y, t) changed its argument {what} in place; compute on a copy "
                                   f"(for example y - shift instead of y -= shift)")


# ----------------------------------------------------------------------------- exercise 3
def test_trainingstep(challenge, answer):
    """Two steps on a 37-image training set: one with the challenge's lr and batchsize,
    one with the defaults (0.01, 25).  Each must move every parameter by −lr ∂E/∂θ
    computed (PyTorch autograd, float64) on exactly the images that
    ``numpy.random.permutation(len(Xtrain))[:batchsize]`` selects from the generator the
    probe seeded; the training set must stay as it was."""
    X, T = challenge["Xtrain"], challenge["Ttrain"]
    _unchanged(answer, "Xtrain_after", X, "Xtrain")
    _unchanged(answer, "Ttrain_after", T, "Ttrain")
    draws = np.random.RandomState(int(challenge["seed"]))
    before = [challenge[name] for name in ("W1", "B1", "W2", "B2")]
    shapes = [array.shape for array in before]
    lr, batchsize = float(challenge["lr"]), int(challenge["batchsize"])
    steps = (("first", lr, batchsize, f"trainingstep(nn, Xtrain, Ttrain, lr={lr:.4g}, batchsize={batchsize})"),
             ("second", 0.01, 25, "trainingstep(nn, Xtrain, Ttrain) with the default lr and batchsize"))
    for step, step_lr, size, call_text in steps:
        minibatch = draws.permutation(len(X))[:size]
        params = [(before[0], before[1]), (before[2], before[3])]
        expected = [array for pair in ref.sgd_step(params, X[minibatch], T[minibatch], step_lr) for array in pair]
        after = answer.arrays_of(f"{step}_parameters", shapes=shapes, what=f"the parameters after {call_text}")
        worst = max(relative_error(a - b, e - b) for a, b, e in zip(after, before, expected))
        if worst > 1e-3:
            raise GradingError(f"after {call_text} the parameters differ from θ − lr·∂E/∂θ on the minibatch "
                               f"(relative error of the update {worst:.2g}): "
                               + _diagnose_step(answer, step, X, T, params, minibatch, step_lr, size))
        before = after


def _diagnose_step(answer, step, X, T, params, minibatch, lr, size) -> str:
    """What went wrong in a training step, from what the recording network received."""
    try:
        return _diagnosis(answer, step, X, T, params, minibatch, lr, size)
    except GradingError:  # the records themselves are unreadable: no finer diagnosis
        return "check the minibatch, the gradient, gradprop and update(lr)"


def _diagnosis(answer, step, X, T, params, minibatch, lr, size) -> str:
    fed = answer.arrays_of(f"{step}_fed")
    if not fed:
        return "nn.forward was never called"
    images = fed[0]
    if images.ndim != 4 or images.shape[1:] != X.shape[1:]:
        return f"nn.forward received a batch of shape {images.shape}, not images of shape {X.shape[1:]} from Xtrain"
    flat, pool = images.reshape(len(images), -1), X.reshape(len(X), -1)
    distance = np.abs(flat[:, None, :] - pool[None, :, :]).max(axis=2)
    indices = distance.argmin(axis=1)
    if np.any(distance.min(axis=1) > 1e-6):
        return "nn.forward received images that are not images of Xtrain"
    chosen = set(indices.tolist())
    if len(images) == len(X) and chosen == set(range(len(X))):
        return (f"the network was fed the whole training set ({len(X)} images); a minibatch holds batchsize = "
                f"{size} images drawn at random")
    if len(images) != size:
        return f"the network was fed {len(images)} images; the minibatch should hold batchsize = {size}"
    if len(chosen) != size:
        return "the minibatch holds an image more than once; it should hold distinct images"
    if chosen != set(minibatch.tolist()):
        if chosen == set(range(size)):
            return "the minibatch is the first batchsize images, not a random draw"
        return ("the minibatch is not the one numpy.random.permutation(len(Xtrain))[:batchsize] draws (the test "
                "seeds NumPy's global generator; draw exactly once per step, with numpy.random.permutation)")
    gradients = answer.arrays_of(f"{step}_gradients")
    if not gradients:
        return "nn.gradprop was never called"
    import torch

    leaves = [(torch.as_tensor(W), torch.as_tensor(B)) for W, B in params]
    scores = ref.training_scores(leaves, images).numpy().reshape(len(images), 1, 1, -1)
    expected = ref.errorgrad(scores, T[indices])
    if gradients[0].shape != expected.shape:
        return f"nn.gradprop received an array of shape {gradients[0].shape}, expected {expected.shape}"
    if relative_error(gradients[0], expected) > 1e-3:
        if relative_error(gradients[0], expected * len(images)) < 1e-3:
            return "the gradient handed to nn.gradprop lacks the 1/N of the mean error"
        return ("the gradient handed to nn.gradprop is not ∂E/∂y for the minibatch's images and their own targets "
                "(check geterrorgrad and that Xtrain and Ttrain are indexed alike)")
    rates = answer.arrays_of(f"{step}_rates")
    if not rates:
        return "nn.update(lr) was never called"
    if rates[0].shape != () or not np.isclose(float(rates[0]), lr, rtol=1e-6):
        return f"nn.update received lr = {float(rates[0].ravel()[0]) if rates[0].size else None}, expected {lr:.4g}"
    return "check gradprop and update(lr)"


# ----------------------------------------------------------------------------- exercise 4
def test_network_relprop(challenge, answer):
    """Three stand-in layers R ↦ R·M_k: the result must be R·M₂·M₁·M₀ (top layer first,
    each layer receiving the result of the one above), also when called again."""
    M = [challenge[f"M{k}"] for k in range(3)]
    R = challenge["R"]
    expected = R @ M[2] @ M[1] @ M[0]
    for name, what in (("relevance", "Network.relprop(R)"), ("relevance_again", "Network.relprop(R), called again")):
        got = answer.array(name, shape=R.shape, what=what)
        if np.allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max()):
            continue
        if name == "relevance_again":
            raise GradingError("a second call of Network.relprop gives another result: relprop should not change "
                               "the network (for instance its list of layers)")
        if np.allclose(got, R @ M[0] @ M[1] @ M[2], rtol=1e-5, atol=1e-6 * np.abs(expected).max()):
            raise GradingError("Network.relprop visits the layers from the bottom up; start at the last layer")
        raise GradingError("Network.relprop should call relprop of every layer, last layer first, passing each "
                           "result to the layer below, and return what the first layer returns")
    _unchanged(answer, "R_after", R, "the relevance R given to Network.relprop")


def test_relu_relprop(challenge, answer):
    """The relevance passes through unchanged (the rule is applied in the convolution below)."""
    X, R = challenge["X"], challenge["R"]
    got = answer.array("relevance", shape=X.shape, what="ReLU.relprop(R)")
    if not np.allclose(got, R, rtol=1e-6, atol=1e-7):
        raise GradingError("ReLU.relprop should return the relevance unchanged: DTD applies its rule in the "
                           "convolution below, which together with the ReLU forms one layer of neurons")
    _unchanged(answer, "X_after", X, "the input X of ReLU.forward")
    _unchanged(answer, "R_after", R, "the relevance R given to ReLU.relprop")


def test_pooling_relprop(challenge, answer):
    """R_i = x_i / (Σ_window x) · R_window, against the dense 0/1 matrix of the pooling."""
    X, R = challenge["X"], challenge["R"]
    got = answer.array("relevance", shape=X.shape, what="Pooling.relprop(R)")
    try:
        _relevance_close(got, ref.ratio_rule(X, ref.dense_pooling(X.shape[1:]), R), "Pooling.relprop(R)")
    except GradingError as error:
        raise GradingError(f"{error}. Each window should share its relevance in proportion to its inputs, "
                           "R_i = x_i / (Σ_window x) · R_window") from None
    _unchanged(answer, "X_after", X, "the input X of Pooling.forward (the layer's self.X)")
    _unchanged(answer, "R_after", R, "the relevance R given to Pooling.relprop")


def _convolution_relprops(challenge, answer, name, rule, rule_text):
    for case in _cases(challenge, "W"):
        W, B, X, R = (challenge[f"{key}_{case}"] for key in ("W", "B", "X", "R"))
        what = f"{name}.relprop(R) for a {'×'.join(map(str, W.shape))} layer"
        got = answer.array(f"relevance_{case}", shape=X.shape, what=what)
        try:
            _relevance_close(got, rule(X, W, R), what)
        except GradingError as error:
            raise GradingError(f"{error}. {name}.relprop should follow {rule_text}") from None
        for key, original, text in (("W_array", W, "W"), ("B_array", B, "B"), ("W_attribute", W, "W"),
                                    ("B_attribute", B, "B")):
            after = answer.array(f"{key}_after_{case}", what=f"the layer's {text} after relprop")
            if after.shape != original.shape or not np.array_equal(after, original):
                raise GradingError(f"{name}.relprop changed the layer's own {text}: work on copies "
                                   "(copy.deepcopy(self)) and leave self.W and self.B as they were")
        _unchanged(answer, f"X_after_{case}", X, f"the input X of {name}.forward (the layer's self.X)")
        _unchanged(answer, f"R_after_{case}", R, f"the relevance R given to {name}.relprop")


def _zplus(X, W, R):
    return ref.ratio_rule(X, np.maximum(0, ref.dense_convolution(W, X.shape[1:])), R)


def test_convolution_relprop(challenge, answer):
    """z⁺ rule against the dense-matrix formula on two layers; W, B, X and R unchanged."""
    _convolution_relprops(challenge, answer, "Convolution", _zplus,
                          "the z⁺ rule R_i = Σ_j x_i w⁺_ij / (Σ_i x_i w⁺_ij) R_j (positive weights, no bias)")


def test_firstconvolution(challenge, answer):
    """z^B rule (l = −1, h = 1) against the dense-matrix formula on two layers; W, B, X and R unchanged."""
    _convolution_relprops(challenge, answer, "FirstConvolution", ref.zb_rule,
                          "the z^B rule with l = −1, h = 1: R_i = Σ_j (x_i w_ij − l w⁺_ij − h w⁻_ij) / (Σ_i …) R_j")


def test_dtd(challenge, answer):
    """A small random network built from the student's classes: its scores, and the
    relevance of the target classes on the pixels against the dense formulas; a second
    forward and relprop must give the same results."""
    params = [(challenge[f"W{k}"], challenge[f"B{k}"]) for k in (1, 2, 3)]
    X, T = challenge["X"], challenge["T"]
    scores = ref.dtd_forward(params, X)[0]
    relevance = ref.reference_relevance(params, X, scores * T)
    for run, when in (("", ""), ("_again", " (second forward and relprop)")):
        got = answer.array("scores" + run, shape=scores.shape, what="Network.forward(X)" + when)
        if relative_error(got, scores) > 1e-4:
            raise GradingError(f"the network built from your classes computes other scores{when}"
                               + ("; relprop should leave the layers' weights as they were" if run else ""))
        got = answer.array("relevance" + run, shape=X.shape, what="Network.relprop(Y * T)" + when)
        if np.linalg.norm(got - relevance) > 1e-4 * np.linalg.norm(relevance) + 1e-6:
            raise GradingError(f"the relevance of a small random network{when} (z^B on the pixels, z⁺ above, pooling "
                               "in proportion to the inputs, ReLU passing through) differs from the expected one "
                               f"(relative error {relative_error(got, relevance):.2g})")
