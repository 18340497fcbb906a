"""Challenge inputs of sheet 3's autograded tests.

The methods of the sheet are run on small random networks whose weights are part of the
challenge: a VGG-like network (3×3 convolutions with ReLU, 2×2 max-pooling, a classifier
Linear–ReLU–Dropout–Linear) for most tests, single convolutions for ``Conv``, a network
that uses one in-place ReLU module twice for DeconvNet and guided backprop, and a linear
model for the class model.  Weights are named like the entries of a ``state_dict`` (with
a prefix where a challenge holds several networks); ``cfg`` lists the widths of the
convolutions of ``features``, 0 standing for a max-pooling layer.

Everything is float64.  Batches hold several different images and every method is asked
about more than one class, so that an answer which explains one image or one class only
does not pass by chance; layer indices come in a non-ascending order with repeats.
"""
import numpy as np

#: Convolution widths of the small VGG's ``features``; 0 is a 2×2 max-pooling.  On 8×8
#: inputs: conv0 relu1 conv2 relu3 pool4 | conv5 relu6 pool7 | conv8 relu9 pool10 → 8×1×1.
CFG = (4, 4, 0, 6, 0, 8, 0)
SIZE = 8
HIDDEN = 7
CLASSES = 5
CONVOLUTIONS = (0, 2, 5, 8)  # indices of the convolutions in ``features``
FEATURES = 11  # number of layers in ``features``


def _vgg(rng, prefix="", bias=True, positive_bias=False):
    """Weights of a small VGG (He-normal weights; biases N(0, 0.1²), U(0.02, 0.2) when
    ``positive_bias``, or zero)."""
    arrays = {f"{prefix}cfg": np.array(CFG)}
    channels, index = 3, 0
    for width in CFG:
        if width == 0:
            index += 1
            continue
        arrays[f"{prefix}features.{index}.weight"] = rng.normal(0.0, (2.0 / (9 * channels)) ** 0.5, (width, channels, 3, 3))
        arrays[f"{prefix}features.{index}.bias"] = _bias(rng, width, bias, positive_bias)
        channels, index = width, index + 2
    side = SIZE // 2 ** CFG.count(0)
    inputs = channels * side * side
    arrays[f"{prefix}classifier.0.weight"] = rng.normal(0.0, (2.0 / inputs) ** 0.5, (HIDDEN, inputs))
    arrays[f"{prefix}classifier.0.bias"] = _bias(rng, HIDDEN, bias, positive_bias)
    arrays[f"{prefix}classifier.3.weight"] = rng.normal(0.0, (2.0 / HIDDEN) ** 0.5, (CLASSES, HIDDEN))
    arrays[f"{prefix}classifier.3.bias"] = _bias(rng, CLASSES, bias, positive_bias)
    return arrays


def _bias(rng, size, bias, positive):
    if not bias:
        return np.zeros(size)
    return rng.uniform(0.02, 0.2, size) if positive else rng.normal(0.0, 0.1, size)


def _score_gradient_at_zero(arrays, prefix, c, shape):
    """‖∂S_c/∂I‖ at I = 0: the first step of the class model (0 when every path is dead)."""
    import torch

    from autograder.sheets.sheet3_vgg.reference import vgg_from_arrays

    image = torch.zeros(shape, dtype=torch.float64, requires_grad=True)
    (gradient,) = torch.autograd.grad(vgg_from_arrays(arrays, prefix)(image)[0, c], image)
    return float(gradient.norm())


def _images(rng, n=3):
    return rng.uniform(-1.0, 1.0, (n, 3, SIZE, SIZE))


def _gradient_method(rng):
    """A small VGG, three images and two different classes."""
    challenge = _vgg(rng)
    challenge["X"] = _images(rng)
    challenge["classes"] = rng.choice(CLASSES, size=2, replace=False)
    return challenge


def test_gradient_x_input(rng):
    return _gradient_method(rng)


def test_saliency(rng):
    return _gradient_method(rng)


def test_Conv(rng):
    """Four convolutions 3 → 4 channels (3×3, padding 1), strides 1 and 2, γ = 0 once, one
    without bias; activations a ≥ 0 (they come from a ReLU) and the gradient arriving
    from above."""
    challenge = {}
    gammas = [rng.uniform(0.1, 0.5), rng.uniform(0.5, 2.0), 0.0, rng.uniform(0.1, 1.0)]
    strides = rng.permutation([1, 1, 2, 2])
    for case, (gamma, stride) in enumerate(zip(gammas, strides)):
        side = (6 + 2 - 3) // stride + 1
        challenge[f"weight_{case}"] = rng.normal(0.0, 0.3, (4, 3, 3, 3))
        challenge[f"bias_{case}"] = rng.uniform(-0.1, 0.2, 4) if case != 3 else np.zeros(4)
        challenge[f"gamma_{case}"] = np.array(gamma)
        challenge[f"stride_{case}"] = np.array(stride)
        challenge[f"a_{case}"] = rng.uniform(0.0, 1.0, (2, 3, 6, 6))
        challenge[f"signal_{case}"] = rng.uniform(0.0, 1.0, (2, 4, side, side))
    return challenge


def test_lrp(rng):
    """Two small VGGs (the second without biases, where relevance is conserved), each with
    two images inside a pixel box of its own per channel (as for ImageNet's normalisation)."""
    challenge = {}
    for case, bias in enumerate((True, False)):
        challenge.update(_vgg(rng, f"m{case}.", bias))
        mean, std = rng.uniform(0.3, 0.6, 3), rng.uniform(0.2, 0.35, 3)
        low = np.broadcast_to((-mean / std)[None, :, None, None], (2, 3, SIZE, SIZE))
        high = np.broadcast_to(((1 - mean) / std)[None, :, None, None], (2, 3, SIZE, SIZE))
        challenge[f"L_{case}"], challenge[f"H_{case}"] = low.copy(), high.copy()
        challenge[f"X_{case}"] = low + (high - low) * rng.uniform(0.0, 1.0, low.shape)
        challenge[f"c_{case}"] = np.array(rng.integers(CLASSES))
    return challenge


def test_modified_relus(rng):
    """Two networks conv → relu → conv → relu → max-pool → linear whose one in-place ReLU
    module is used twice; two images each."""
    challenge = {}
    for case in range(2):
        challenge[f"conv1.weight_{case}"] = rng.normal(0.0, 0.4, (4, 3, 3, 3))
        challenge[f"conv1.bias_{case}"] = rng.normal(0.0, 0.1, 4)
        challenge[f"conv2.weight_{case}"] = rng.normal(0.0, 0.3, (4, 4, 3, 3))
        challenge[f"conv2.bias_{case}"] = rng.normal(0.0, 0.1, 4)
        challenge[f"linear.weight_{case}"] = rng.normal(0.0, 0.2, (3, 4 * 4 * 4))
        challenge[f"linear.bias_{case}"] = rng.normal(0.0, 0.1, 3)
        challenge[f"X_{case}"] = rng.uniform(-1.0, 1.0, (2, 3, 8, 8))
        challenge[f"c_{case}"] = np.array(rng.integers(3))
    return challenge


def _not_ascending(rng, indices):
    indices = list(indices)
    while indices == sorted(indices):
        indices = list(rng.permutation(indices))
    return indices


def test_activations(rng):
    """A small VGG, two images and three index lists: distinct indices in a non-ascending
    order (with a convolution, whose output a later in-place ReLU overwrites), a list with
    a repeated index, and a single index."""
    challenge = _vgg(rng)
    challenge["X"] = _images(rng, 2)
    conv = int(rng.choice(CONVOLUTIONS))
    others = rng.choice([i for i in range(FEATURES) if i != conv], size=2, replace=False)
    challenge["indices_0"] = np.array(_not_ascending(rng, [conv, *others]))
    high, low = sorted(rng.choice(FEATURES, size=2, replace=False))[::-1]
    challenge["indices_1"] = np.array([high, low, high])
    challenge["indices_2"] = np.array([rng.integers(FEATURES)])
    return challenge


def test_class_model(rng):
    """A linear score (float32, 3×4×4 images), where the ascent converges to w_c / (2λ),
    and a small VGG (float32) for a few steps from I = 0."""
    lam = rng.uniform(0.3, 2.0)
    challenge = {
        "linear.weight": rng.normal(0.0, 0.3, (4, 3 * 4 * 4)),
        "linear.bias": rng.normal(0.0, 0.1, 4),
        "linear_c": np.array(rng.integers(4)),
        "linear_lam": np.array(lam),
        "linear_steps": np.array(60),  # the error shrinks by 1 − 2·lr·λ ≤ 0.7 per step: < 1e-9 after 60
        "linear_lr": np.array(rng.uniform(0.15, 0.35) / lam),
    }
    # Positive biases keep the ReLUs open at I = 0; a network whose score is flat there
    # (the ascent would never leave I = 0, whatever the answer) is drawn again.
    for _ in range(100):
        weights, c = _vgg(rng, "vgg.", positive_bias=True), int(rng.integers(CLASSES))
        if _score_gradient_at_zero(weights, "vgg.", c, (1, 3, SIZE, SIZE)) > 0.05:
            break
    challenge.update(weights)
    challenge.update({
        "vgg_c": np.array(c),
        "vgg_lam": np.array(rng.uniform(0.02, 0.1)),
        "vgg_steps": np.array(rng.integers(10, 16)),
        "vgg_lr": np.array(rng.uniform(0.1, 0.3)),
    })
    return challenge


def test_saturation(rng):
    """Eight points (i₁, i₂), four below the kink i₁ + i₂ = 1 and four above it, none
    closer to it than 0.05 (the gradient jumps there), some with a negative input."""
    sums = 1.0 + np.array([-1.0, 1.0] * 4) * rng.uniform(0.05, 0.9, 8)
    first = rng.uniform(-0.5, 1.5, 8)
    return {"points": np.stack([first, sums - first], axis=1)}


# --- Lecture methods: occlusion, class-averaged saliency, filter visualisation, mean image
#
# Occlusion runs on 11×9 images (the small VGG's three max-poolings still end at 1×1), so
# that rows and columns cannot be swapped, with windows that overlap and, in the first
# case, a last window that sticks out of the image (cut at the border) on one axis at least.  Class-averaged saliency
# gets labels in a shuffled order, classes with different numbers of images and one class
# without any.  Mean images vary over the pixels (not only over the channels).


def test_occlusion(rng):
    """A small VGG, three 11×9 images, two cases of (class, window, stride, baseline): the
    first with windows cut at the border, the second with strongly overlapping windows;
    the baselines are not 0 (the mean colour)."""
    challenge = _vgg(rng)
    challenge["X"] = rng.uniform(-1.0, 1.0, (3, 3, 11, 9))
    cases = [[(4, 3), (5, 3)][rng.integers(2)], [(3, 2), (3, 1), (2, 1)][rng.integers(3)]]
    classes = rng.choice(CLASSES, size=2, replace=False)
    for case, ((size, stride), c) in enumerate(zip(cases, classes)):
        challenge[f"c_{case}"] = np.array(c)
        challenge[f"size_{case}"] = np.array(size)
        challenge[f"stride_{case}"] = np.array(stride)
        challenge[f"baseline_{case}"] = np.array(rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.8))
    return challenge


def test_filter_images(rng):
    """A small VGG: its first convolution has four filters of 3×3×3 weights."""
    return _vgg(rng)


def test_maximise_channel(rng):
    """Two ascents on a small VGG: on a channel of the first convolution (linear in the
    image, so that the ascent reaches the maximiser) and on a channel of a deeper
    convolution for a few steps, each from a random start (the error on the first shrinks
    by 1 − 2·lr·λ ≤ 0.7 per step: < 1e-9 after 60 steps)."""
    challenge = _vgg(rng)
    deep = int(rng.choice(CONVOLUTIONS[1:]))
    lam = rng.uniform(0.3, 1.5)
    cases = [(CONVOLUTIONS[0], 60, lam, rng.uniform(0.15, 0.35) / lam),
             (deep, int(rng.integers(10, 16)), rng.uniform(0.02, 0.1), rng.uniform(0.5, 1.5))]
    widths = [w for w in CFG if w != 0]
    for case, (layer, steps, lam, lr) in enumerate(cases):
        challenge[f"layer_{case}"] = np.array(layer)
        challenge[f"channel_{case}"] = np.array(rng.integers(widths[CONVOLUTIONS.index(layer)]))
        challenge[f"start_{case}"] = rng.normal(0.0, 0.3, (1, 3, SIZE, SIZE))
        challenge[f"steps_{case}"] = np.array(steps)
        challenge[f"lam_{case}"] = np.array(lam)
        challenge[f"lr_{case}"] = np.array(lr)
    return challenge


def test_class_model_with_mean(rng):
    """A linear score on 3×4×4 images, where the ascent converges to w_c/(2λ) (plus the
    mean image), and a small VGG for a few steps; each with a mean image of its own."""
    lam = rng.uniform(0.3, 2.0)
    challenge = {
        "linear.weight": rng.normal(0.0, 0.3, (4, 3 * 4 * 4)),
        "linear.bias": rng.normal(0.0, 0.1, 4),
        "linear_mean": rng.uniform(-0.5, 0.5, (1, 3, 4, 4)),
        "linear_c": np.array(rng.integers(4)),
        "linear_lam": np.array(lam),
        "linear_steps": np.array(60),  # the error shrinks by 1 − 2·lr·λ ≤ 0.7 per step
        "linear_lr": np.array(rng.uniform(0.15, 0.35) / lam),
    }
    challenge.update(_vgg(rng, "vgg."))
    challenge.update({
        "vgg_mean": rng.uniform(-0.5, 0.5, (1, 3, SIZE, SIZE)),
        "vgg_c": np.array(rng.integers(CLASSES)),
        "vgg_lam": np.array(rng.uniform(0.02, 0.1)),
        "vgg_steps": np.array(rng.integers(10, 16)),
        "vgg_lr": np.array(rng.uniform(0.1, 0.3)),
    })
    return challenge


def test_class_averaged_saliency(rng):
    """A small VGG, a mean image and nine centred images whose labels cover four of the
    five classes (3, 2, 2 and 2 images) in a shuffled order."""
    challenge = _vgg(rng)
    present = rng.choice(CLASSES, size=4, replace=False)
    labels = np.repeat(present, [3, 2, 2, 2])
    while list(dict.fromkeys(labels.tolist())) == sorted(set(labels.tolist())):
        labels = rng.permutation(labels)  # first appearances out of ascending order
    challenge["labels"] = labels
    challenge["mean_image"] = rng.uniform(-0.5, 0.5, (1, 3, SIZE, SIZE))
    challenge["centred"] = _images(rng, len(labels)) - challenge["mean_image"]
    challenge["n_classes"] = np.array(CLASSES)
    return challenge
