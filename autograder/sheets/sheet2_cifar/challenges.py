"""Challenge inputs of sheet 2's autograded tests.

Everything is small (networks of a few thousand weights, images of at most 10×10
pixels, except the one forward pass through the sheet's network), so that the whole
sheet grades in well under a second of computation.  Numbers the student's float32 code
receives are drawn in float64 and rounded to float32 here, so that the probe's
conversion loses nothing and the check computes on exactly the same inputs.
"""
import numpy as np

#: The trainingstep test's network: conv 3×3×3×4, ReLU, pool, conv 3×3×4×10 on 8×8×3
#: images, so that its scores have the sheet's shape (N, 1, 1, 10).
TRAINING_SHAPES = ((3, 3, 3, 4), (3, 3, 4, 10))
TRAINING_IMAGE = (8, 8, 3)
#: Images in the trainingstep test's training set: more than the default minibatch of 25.
TRAINING_SET = 37
#: The DTD test's network: conv 3×3×3×4, ReLU, pool, conv 3×3×4×6, ReLU, pool, conv 1×1×6×3, ReLU on 10×10×3.
DTD_SHAPES = ((3, 3, 3, 4), (3, 3, 4, 6), (1, 1, 6, 3))


def _f32(array) -> np.ndarray:
    """``array`` rounded to float32, kept as float64."""
    return np.asarray(array, dtype=np.float32).astype(np.float64)


def _weights(rng, shape) -> np.ndarray:
    return _f32(rng.standard_normal(shape) / np.sqrt(np.prod(shape[:3])))


def _one_hot(labels, classes) -> np.ndarray:
    return np.eye(classes)[labels].reshape(len(labels), 1, 1, classes)


def test_buildcnn(rng):
    """Two images for one forward pass through the network the student builds."""
    return {"X": _f32(rng.uniform(-1, 1, (2, 32, 32, 3)))}


def test_geterrorgrad(rng):
    """Six minibatches of 1 to 7 images (never 25), scores of scale 1, 5 and 300; the
    last one holds an image without evidence for any class (all scores −400, where the
    default class takes the probability) and one with a score of 500.  Targets are
    spread over the classes and often differ from the largest score."""
    challenge = {}
    sizes = rng.permutation([1, 2, 3, 4, 5, 7])
    for case, size in enumerate(sizes):
        scale = (1.0, 5.0, 300.0)[case % 3]
        y = rng.standard_normal((size, 1, 1, 10)) * scale
        if case == len(sizes) - 1:
            y[0, 0, 0, :] = -400.0 + rng.standard_normal(10)
            y[-1, 0, 0, rng.integers(0, 10)] = 500.0
        challenge[f"y_{case}"] = _f32(y)
        challenge[f"t_{case}"] = _one_hot(rng.integers(0, 10, size), 10)
    return challenge


def test_trainingstep(rng):
    """A training set of 37 images, larger than both minibatches the probe asks for: a
    first step with a drawn learning rate and minibatch size (5 to 9), then a step with
    the default arguments (0.01, 25).  The probe seeds NumPy's global generator with
    ``seed``, so the check knows which images numpy.random.permutation selects."""
    challenge = {"Xtrain": _f32(rng.uniform(-1, 1, (TRAINING_SET,) + TRAINING_IMAGE)),
                 "Ttrain": _one_hot(rng.permutation(np.arange(TRAINING_SET) % 10), 10),
                 "lr": np.array(float(np.float32(rng.uniform(0.05, 0.2)))),
                 "batchsize": np.array(float(rng.integers(5, 10))),
                 "seed": np.array(float(rng.integers(0, 2**31)))}
    for k, shape in enumerate(TRAINING_SHAPES, start=1):
        challenge[f"W{k}"] = _weights(rng, shape)
        challenge[f"B{k}"] = _f32(rng.standard_normal(shape[-1]) * 0.1)
    return challenge


def test_network_relprop(rng):
    """Three 4×4 matrices, one per stand-in layer whose relprop multiplies by it (matrix
    products do not commute, so the order of the visit shows), and the relevance."""
    challenge = {f"M{k}": rng.standard_normal((4, 4)) for k in range(3)}
    challenge["R"] = rng.standard_normal((3, 1, 1, 4))
    return challenge


def test_relu_relprop(rng):
    """Inputs of both signs and a positive relevance of the same shape."""
    X = rng.standard_normal((3, 4, 4, 5))
    X[0, 0, 0, :] = -np.abs(X[0, 0, 0, :])  # surely some negative inputs
    return {"X": _f32(X), "R": _f32(np.abs(rng.standard_normal(X.shape)) + 0.1)}


def test_pooling_relprop(rng):
    """Non-negative inputs (ReLU activations, a quarter of them 0, but every window with
    a positive input), no ties, on a non-square map, and a positive relevance."""
    X = np.abs(rng.standard_normal((3, 6, 4, 5))) + 0.05
    X[rng.random(X.shape) < 0.25] = 0.0
    X[:, ::2, ::2, :] = np.abs(rng.standard_normal((3, 3, 2, 5))) + 0.05
    return {"X": _f32(X), "R": _f32(np.abs(rng.standard_normal((3, 3, 2, 5))) + 0.1)}


def _relprop_layers(rng, cases, positive_inputs):
    challenge = {}
    for case, (shape, (height, width)) in enumerate(cases):
        challenge[f"W_{case}"] = _f32(rng.standard_normal(shape))
        challenge[f"B_{case}"] = _f32(rng.standard_normal(shape[-1]))
        size = (2, height, width, shape[2])
        challenge[f"X_{case}"] = _f32(np.maximum(0, rng.standard_normal(size)) if positive_inputs
                                      else rng.uniform(-1, 1, size))
        out = (2, height - shape[0] + 1, width - shape[1] + 1, shape[3])
        challenge[f"R_{case}"] = _f32(np.abs(rng.standard_normal(out)) + 0.1)
    return challenge


def test_convolution_relprop(rng):
    """Two layers with weights and biases of both signs, ReLU activations as inputs; the
    second layer's kernel and input are not square (height and width must not be mixed up)."""
    return _relprop_layers(rng, [((3, 3, 4, 6), (7, 7)), ((2, 3, 5, 3), (5, 6))], positive_inputs=True)


def test_firstconvolution(rng):
    """Two layers with weights and biases of both signs, pixels in [−1, 1] as inputs; the
    second layer's kernel and input are not square."""
    return _relprop_layers(rng, [((3, 3, 3, 4), (6, 6)), ((5, 4, 3, 2), (7, 8))], positive_inputs=False)


def test_dtd(rng):
    """A small random network and four images in [−1, 1]; each image's target is a
    class with a clearly positive score (with a ReLU on top, a class at score 0 would
    bring no relevance and hide every mistake)."""
    from autograder.sheets.sheet2_cifar.reference import dtd_forward

    while True:
        params = [(_weights(rng, shape), _f32(rng.standard_normal(shape[-1]) * 0.1 + 0.1)) for shape in DTD_SHAPES]
        X = _f32(rng.uniform(-1, 1, (4, 10, 10, 3)))
        scores = dtd_forward(params, X)[0].reshape(len(X), -1)
        if scores.max(axis=1).min() > 0.1:
            break
    labels = np.array([rng.choice(np.flatnonzero(row > 0.1)) for row in scores])
    challenge = {"X": X, "T": _one_hot(labels, scores.shape[1])}
    for k, (W, B) in enumerate(params, start=1):
        challenge[f"W{k}"], challenge[f"B{k}"] = W, B
    return challenge
