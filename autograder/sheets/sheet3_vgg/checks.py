"""Checks of sheet 3: the student's results on the challenge's small networks against the
references of :mod:`.reference`, recomputed here on the CPU in float64 from the same
arrays — explicit layer-by-layer formulas for LRP, LRP-γ, DeconvNet and guided backprop,
the closed-form maximiser w_c/(2λ) for the class model of a linear score, the piecewise
formula for saturation.  Every check also fails answers that change their inputs (the
images, the pixel box, the index list) or the model they were given."""
import numpy as np
import torch

from autograder.checking import GradingError, relative_error
from autograder.sheets.sheet3_vgg import reference as ref


def _numpy(tensor) -> np.ndarray:
    return tensor.detach().cpu().to(torch.float64).numpy()


def _compare(actual: np.ndarray, expected, what: str, tolerance: float = 1e-6):
    """Relative L2 error of ``actual`` (an answer's array) against the reference."""
    expected = _numpy(expected) if isinstance(expected, torch.Tensor) else np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise GradingError(f"{what} should have shape {expected.shape}, got {actual.shape}")
    error = relative_error(actual, expected)
    if not error <= tolerance:
        raise GradingError(f"{what} differs from the expected values: relative L2 error {error:.3g} "
                           f"(allowed {tolerance:g})")


def _unchanged(answer, name: str, original: np.ndarray, message: str):
    """The input recorded after the student's call must equal the one handed over."""
    after = answer.array(name, what=message)
    if after.shape != original.shape or not np.array_equal(after, original):
        raise GradingError(message)


def _same_outputs(answer, name: str, model, X, function: str):
    """The model's outputs recorded after the student's call must be those of the model
    the challenge describes."""
    message = f"{function} changed the model it was given; leave it as it was (work on a copy: copy.deepcopy)"
    if answer.node(name, message)["kind"] == "none":
        raise GradingError(f"after {function} the model it was given no longer runs on an image batch. {message}")
    with torch.no_grad():
        expected = _numpy(model(X))
    outputs = answer.array(name, what=message)
    if outputs.shape != expected.shape or not np.allclose(outputs, expected, rtol=1e-9, atol=1e-12):
        raise GradingError(message)


def _tensor(array) -> torch.Tensor:
    return torch.as_tensor(np.asarray(array, dtype=np.float64))


def _cases(challenge, prefix):
    return sorted(int(key.rsplit("_", 1)[1]) for key in challenge if key.startswith(prefix + "_"))


# ------------------------------------------------------------------ the gradient family
def _gradient_method(challenge, answer, reference, name: str):
    model = ref.vgg_from_arrays(challenge)
    X = _tensor(challenge["X"])
    for case, c in enumerate(int(c) for c in challenge["classes"]):
        expected = reference(model, X, c)
        what = f"{name}(model, X, c={c}) for a batch X of {len(X)} images"
        actual = answer.array(f"result_{case}", shape=tuple(expected.shape), what=what)
        _compare(actual, expected, what)
        _unchanged(answer, f"X_after_{case}", challenge["X"],
                   f"{name} changed its input X in place; work on a copy (X.detach().clone())")
    _same_outputs(answer, "outputs_after", model, X, name)


def test_gradient_x_input(challenge, answer):
    """x ⊙ ∂f_c/∂x for every image of the batch, for two classes."""
    _gradient_method(challenge, answer, ref.gradient_x_input, "gradient_x_input")


def test_saliency(challenge, answer):
    """max over the colour channels of |∂f_c/∂x|, shape (N, H, W), for two classes."""
    _gradient_method(challenge, answer, ref.saliency, "saliency")


# ------------------------------------------------------------------------------ LRP
def test_Conv(challenge, answer):
    """``Conv(conv, γ)`` returns conv(a), and a ⊙ (its gradient) is the explicit LRP-γ
    redistribution of R_out = conv(a) ⊙ (the gradient arriving from above); the wrapped
    convolution keeps its weights."""
    for case in _cases(challenge, "gamma"):
        gamma, stride = float(challenge[f"gamma_{case}"]), int(challenge[f"stride_{case}"])
        conv = torch.nn.Conv2d(3, 4, 3, stride=stride, padding=1).double()
        with torch.no_grad():
            conv.weight.copy_(_tensor(challenge[f"weight_{case}"]))
            conv.bias.copy_(_tensor(challenge[f"bias_{case}"]))
        a, signal = _tensor(challenge[f"a_{case}"]), _tensor(challenge[f"signal_{case}"])
        with torch.no_grad():
            z = conv(a)
        without_bias = " without bias" if not np.any(challenge[f"bias_{case}"]) else ""
        what = f"Conv(conv, {gamma:.3g}) on a convolution with stride {stride}{without_bias}"
        out = answer.array(f"out_{case}", shape=tuple(z.shape), what=f"the output of {what}")
        _compare(out, z, f"the output of {what} (it should keep the values conv(X))", 1e-9)
        message = (f"the output of {what} cannot be differentiated with respect to its input: return "
                   "p * (z / p).detach(), built from X by torch operations")
        if answer.node(f"gradient_{case}", message)["kind"] == "none":
            raise GradingError(message)
        gradient = answer.array(f"gradient_{case}", shape=tuple(a.shape), what=f"the gradient of {what}")
        expected = ref.lrp_gamma_explicit(conv, a, z * signal, gamma)
        _compare(challenge[f"a_{case}"] * gradient, expected, f"the LRP-γ relevance a ⊙ gradient of {what}", 1e-7)
        changed = "Conv changed the weights of the convolution it wraps; transform copies of them (utils.newlayer)"
        _unchanged(answer, f"weight_after_{case}", challenge[f"weight_{case}"], changed)
        _unchanged(answer, f"bias_after_{case}", challenge[f"bias_{case}"], changed)
        _unchanged(answer, f"a_after_{case}", challenge[f"a_{case}"], "Conv.forward changed its input in place")


def test_lrp(challenge, answer):
    """``lrp(build_lrp_model(model), X, c, L, H)`` against the explicit layer-by-layer LRP
    (zB on the first convolution, LRP-γ with the γ of each block, LRP-0 on the dense
    layers), on a network with biases and one without; the model, X, L and H stay as
    they were."""
    for case in _cases(challenge, "c"):
        prefix, c = f"m{case}.", int(challenge[f"c_{case}"])
        model = ref.vgg_from_arrays(challenge, prefix)
        X, L, H = (_tensor(challenge[f"{name}_{case}"]) for name in "XLH")
        biases = any(np.any(value) for key, value in challenge.items() if key.startswith(prefix) and key.endswith("bias"))
        what = f"lrp(build_lrp_model(model), X, c={c}, L, H) on a small VGG {'with' if biases else 'without'} biases"
        R = answer.array(f"R_{case}", shape=tuple(X.shape), what=what)
        _compare(R, ref.lrp_explicit(model, X, c, L, H), what)
        for name in "XLH":
            _unchanged(answer, f"{name}_after_{case}", challenge[f"{name}_{case}"],
                       f"lrp changed its input {name} in place; work on a copy (.detach().clone())")
        _same_outputs(answer, f"outputs_after_{case}", model, X, "build_lrp_model")


# -------------------------------------------------------- DeconvNet and guided backprop
def test_modified_relus(challenge, answer):
    """DeconvNet and guided backprop against their layer-by-layer definitions, on networks
    whose one in-place ReLU module is used twice, called in both orders; afterwards the
    network's own gradient is the plain gradient."""
    names = ("deconvnet", "guided_backprop")
    for case in _cases(challenge, "c"):
        net, c = ref.twice_relu_net_from_arrays(challenge, case), int(challenge[f"c_{case}"])
        X = _tensor(challenge[f"X_{case}"])
        order = names if case % 2 == 0 else names[::-1]
        for position, name in enumerate(order):
            when = "called first" if position == 0 else f"called after {order[0]}"
            what = f"{name}(model, X, c={c}) on a network whose one in-place ReLU module is used twice ({when})"
            actual = answer.array(f"{name}_{case}", shape=tuple(X.shape), what=what)
            _compare(actual, ref.modified_backward_explicit(net, X, c, ref.RULES[name]), what, 1e-8)
            _unchanged(answer, f"X_after_{name}_{case}", challenge[f"X_{case}"],
                       f"{name} changed its input X in place; work on a copy (X.detach().clone())")
        plain = ref.modified_backward_explicit(net, X, c, ref.RULES["gradient"])
        after = answer.array(f"gradient_after_{case}", shape=tuple(X.shape), what="the model's own gradient")
        if not relative_error(after, _numpy(plain)) <= 1e-8:
            raise GradingError("after deconvnet and guided_backprop the model's own gradient changed: leave the "
                               "model as it was (replace the ReLUs in a copy, remove any hooks)")


# ---------------------------------------------------------------------- activations
def test_activations(challenge, answer):
    """The outputs of ``model.features[i]`` for the indices in the order given (not
    sorted, repeats included), not overwritten by a later in-place ReLU; X and the index
    list stay as they were."""
    model = ref.vgg_from_arrays(challenge)
    X = _tensor(challenge["X"])
    for case in _cases(challenge, "indices"):
        indices = [int(i) for i in challenge[f"indices_{case}"]]
        what = f"activations(model, X, {indices})"
        maps = answer.arrays_of(f"maps_{case}", what=what)
        if len(maps) != len(indices):
            raise GradingError(f"{what} should return {len(indices)} feature maps, one for each index of the list, "
                               f"in the order of the list (repeated indices too), got {len(maps)}")
        for position, (index, actual, expected) in enumerate(zip(indices, maps, ref.activations(model, X, indices))):
            layer = type(model.features[index]).__name__
            _compare(actual, expected, f"item {position} of {what}, the output of features[{index}] ({layer})", 1e-9)
        _unchanged(answer, f"X_after_{case}", challenge["X"], "activations changed its input X in place")
        changed = f"activations changed the list of indices it was given (it should still be {indices})"
        try:
            after = answer.arrays_of(f"indices_after_{case}", what=changed)
        except GradingError:
            raise GradingError(changed) from None
        if [value.reshape(-1).tolist() for value in after] != [[index] for index in indices]:
            raise GradingError(changed)


# ---------------------------------------------------------------------- class model
def _rounded(array) -> np.ndarray:
    """The value the float32 model holds."""
    return np.asarray(array).astype(np.float32).astype(np.float64)


def _parameters_unchanged(answer, name: str, expected: list):
    message = "class_model changed the parameters of the model; only the image may change"
    after = answer.arrays_of(name, what=message)
    if len(after) != len(expected) or any(a.shape != e.shape or not np.array_equal(a, e) for a, e in zip(after, expected)):
        raise GradingError(message)


def test_class_model(challenge, answer):
    """On a linear score S_c(I) = w_c·I + b_c the ascent converges to w_c / (2λ); on a small
    VGG the result is the stated number of plain gradient-ascent steps from I = 0
    (recomputed in float64); the model's parameters stay as they were."""
    W, b = _rounded(challenge["linear.weight"]), _rounded(challenge["linear.bias"])
    c, lam = int(challenge["linear_c"]), float(challenge["linear_lam"])
    steps, lr = int(challenge["linear_steps"]), float(challenge["linear_lr"])
    what = (f"class_model(model, c={c}, shape=(1, 3, 4, 4), lam={lam:.3g}, steps={steps}, lr={lr:.3g}) "
            "on a linear score S_c(I) = w_c·I + b_c, whose maximiser is w_c / (2λ)")
    image = answer.array("linear_image", shape=(1, 3, 4, 4), what=what)
    _compare(image, W[c].reshape(1, 3, 4, 4) / (2 * lam), what, 1e-5)
    _parameters_unchanged(answer, "linear_parameters_after", [W, b])

    arrays = {key: (_rounded(value) if key != "vgg.cfg" else value) for key, value in challenge.items()
              if key.startswith("vgg.")}
    model = ref.vgg_from_arrays(arrays, "vgg.")
    c, lam = int(challenge["vgg_c"]), float(challenge["vgg_lam"])
    steps, lr = int(challenge["vgg_steps"]), float(challenge["vgg_lr"])
    expected = ref.class_model(model, c, (1, 3, 8, 8), lam, steps, lr, dtype=torch.float64)
    what = (f"class_model(model, c={c}, shape=(1, 3, 8, 8), lam={lam:.3g}, steps={steps}, lr={lr:.3g}) "
            f"on a small VGG ({steps} plain steps of gradient ascent from I = 0)")
    image = answer.array("vgg_image", shape=(1, 3, 8, 8), what=what)
    _compare(image, expected, what, 1e-4)
    _parameters_unchanged(answer, "vgg_parameters_after", [_numpy(p) for p in model.state_dict().values()])


# ----------------------------------------------------------------------- saturation
def _numbers(answer, name: str, what: str) -> list:
    """A tuple of numbers (floats, 0-d arrays or tensors) or one array, as a list of floats."""
    if answer.node(name, what)["kind"] == "list":
        items = answer.arrays_of(name, what=what)
        if any(item.size != 1 for item in items):
            raise GradingError(f"{what} should return a tuple of three numbers, got items of shapes "
                               f"{[item.shape for item in items]}")
        return [float(item.reshape(-1)[0]) for item in items]
    return [float(value) for value in answer.array(name, what=what).reshape(-1)]


def test_saturation(challenge, answer):
    """(y, ∂y/∂i₁, ∂y/∂i₂) of y = 1 − relu(1 − i₁ − i₂): (i₁ + i₂, 1, 1) below the kink,
    (1, 0, 0) above it."""
    for k, (i1, i2) in enumerate(challenge["points"]):
        below = i1 + i2 < 1
        expected = [i1 + i2 if below else 1.0, 1.0 if below else 0.0, 1.0 if below else 0.0]
        what = f"saturation({i1:.4g}, {i2:.4g})"
        values = _numbers(answer, f"point_{k}", what)
        if len(values) != 3:
            raise GradingError(f"{what} should return (y, dy/di1, dy/di2), three numbers, got {len(values)}")
        if not np.allclose(values, expected, rtol=1e-6, atol=1e-6):
            shown = ", ".join(f"{v:.4g}" for v in expected)
            got = ", ".join(f"{v:.4g}" for v in values)
            raise GradingError(f"{what} should be (y, dy/di1, dy/di2) = ({shown}), got ({got})")


# --- Lecture methods: occlusion, class-averaged saliency, filter visualisation, mean image
def _model_unchanged(answer, name: str, model, function: str):
    """The parameters recorded after the call must be those of ``model`` (or the arrays given)."""
    message = f"{function} changed the parameters of the model it was given; leave the model as it was"
    after = answer.arrays_of(name, what=message)
    expected = model if isinstance(model, list) else [_numpy(value) for value in model.state_dict().values()]
    if len(after) != len(expected) or any(a.shape != e.shape or not np.array_equal(a, e) for a, e in zip(after, expected)):
        raise GradingError(message)


def test_occlusion(challenge, answer):
    """The mean drop of the class score over the windows covering each input dimension,
    against a plain loop over the window positions (the last window of a row or column cut
    at the border, as in Captum's Occlusion); X and the model stay as they were."""
    model = ref.vgg_from_arrays(challenge)
    X = _tensor(challenge["X"])
    for case in _cases(challenge, "c"):
        c, size, stride = (int(challenge[f"{name}_{case}"]) for name in ("c", "size", "stride"))
        baseline = float(challenge[f"baseline_{case}"])
        starts = [ref.window_starts(length, size, stride) for length in X.shape[2:]]
        what = (f"occlusion(model, X, c={c}, size={size}, stride={stride}, baseline={baseline:.3g}) for {len(X)} "
                f"images of {X.shape[2]}×{X.shape[3]} pixels (window rows start at {starts[0]}, "
                f"columns at {starts[1]})")
        actual = answer.array(f"R_{case}", shape=tuple(X.shape), what=what)
        _compare(actual, ref.occlusion(model, X, c, size, stride, baseline), what, 1e-9)
        _unchanged(answer, f"X_after_{case}", challenge["X"],
                   "occlusion changed its input X in place; occlude copies (X.clone())")
    _same_outputs(answer, "outputs_after", model, X, "occlusion")


def test_filter_images(challenge, answer):
    """The first convolution's filters, each scaled to [0, 1] by its own minimum and
    maximum; the weights of the model stay as they were."""
    model = ref.vgg_from_arrays(challenge)
    expected = ref.filter_images(model)
    what = f"filter_images(model) for a first convolution with weights of shape {tuple(expected.shape)}"
    _compare(answer.array("filters", shape=tuple(expected.shape), what=what), expected, what, 1e-12)
    _model_unchanged(answer, "parameters_after", model, "filter_images")


def _channel_maximiser(model, layer, channel, lam, shape):
    """The maximiser of mean_ij a_{channel,ij}(I) − λ‖I‖² when ``features[layer]`` is the
    first convolution: the objective is linear minus λ‖I‖², so I* = g / (2λ) with g the
    transposed convolution of the constant 1/(H'W') with the channel's filter."""
    conv = model.features[layer]
    height, width = conv(torch.zeros(shape, dtype=torch.float64)).shape[2:]
    ones = torch.full((1, 1, height, width), 1.0 / (height * width), dtype=torch.float64)
    g = torch.nn.functional.conv_transpose2d(ones, conv.weight.detach()[channel:channel + 1],
                                             stride=conv.stride, padding=conv.padding)
    return g / (2 * lam)


def test_maximise_channel(challenge, answer):
    """On a channel of the first convolution the ascent reaches the closed-form maximiser
    g / (2λ); on a deeper convolution it is the stated number of plain gradient-ascent
    steps from the start (recomputed in float64); the start image and the model stay as
    they were."""
    model = ref.vgg_from_arrays(challenge)
    for case in _cases(challenge, "layer"):
        layer, channel, steps = (int(challenge[f"{name}_{case}"]) for name in ("layer", "channel", "steps"))
        lam, lr = float(challenge[f"lam_{case}"]), float(challenge[f"lr_{case}"])
        start = _tensor(challenge[f"start_{case}"])
        what = (f"maximise_channel(model, layer={layer}, channel={channel}, start, lam={lam:.3g}, steps={steps}, "
                f"lr={lr:.3g})")
        if layer == ref.first_conv(model):
            expected = _channel_maximiser(model, layer, channel, lam, tuple(start.shape))
            what += " on the first convolution, whose maximiser is g / (2λ) (g: the gradient of the mean activation)"
            tolerance = 1e-6
        else:
            expected = ref.maximise_channel(model, layer, channel, start, lam, steps, lr)
            what += f" on a deeper convolution ({steps} plain steps of gradient ascent from the start)"
            tolerance = 1e-7
        _compare(answer.array(f"image_{case}", shape=tuple(start.shape), what=what), expected, what, tolerance)
        _unchanged(answer, f"start_after_{case}", challenge[f"start_{case}"],
                   "maximise_channel changed the start image in place; start from a copy (start.detach().clone())")
    _model_unchanged(answer, "parameters_after", model, "maximise_channel")


def test_class_model_with_mean(challenge, answer):
    """On a linear score the result is m + w_c / (2λ); on a small VGG it is m plus the
    stated number of plain ascent steps on S_c(I + m) − λ‖I‖² from I = 0 (recomputed in
    float64); the mean image and the model stay as they were."""
    W = challenge["linear.weight"]
    mean = _tensor(challenge["linear_mean"])
    c, lam = int(challenge["linear_c"]), float(challenge["linear_lam"])
    steps, lr = int(challenge["linear_steps"]), float(challenge["linear_lr"])
    what = (f"class_model_with_mean(model, c={c}, mean_image, lam={lam:.3g}, steps={steps}, lr={lr:.3g}) on a linear "
            "score S_c(x) = w_c·x + b_c, which should give m + w_c / (2λ)")
    expected = mean + _tensor(W[c]).reshape(mean.shape) / (2 * lam)
    _compare(answer.array("linear_image", shape=tuple(mean.shape), what=what), expected, what, 1e-5)
    _unchanged(answer, "linear_mean_after", challenge["linear_mean"],
               "class_model_with_mean changed the mean image in place; add it to a copy")
    _model_unchanged(answer, "linear_parameters_after", [W, challenge["linear.bias"]], "class_model_with_mean")

    model = ref.vgg_from_arrays(challenge, "vgg.")
    mean = _tensor(challenge["vgg_mean"])
    c, lam = int(challenge["vgg_c"]), float(challenge["vgg_lam"])
    steps, lr = int(challenge["vgg_steps"]), float(challenge["vgg_lr"])
    what = (f"class_model_with_mean(model, c={c}, mean_image, lam={lam:.3g}, steps={steps}, lr={lr:.3g}) on a small "
            f"VGG ({steps} plain steps of gradient ascent on S_c(I + m) − λ‖I‖² from I = 0, then m added)")
    expected = ref.class_model_with_mean(model, c, mean, lam, steps, lr)
    _compare(answer.array("vgg_image", shape=tuple(mean.shape), what=what), expected, what, 1e-5)
    _unchanged(answer, "vgg_mean_after", challenge["vgg_mean"],
               "class_model_with_mean changed the mean image in place; add it to a copy")
    _model_unchanged(answer, "vgg_parameters_after", model, "class_model_with_mean")


def test_class_averaged_saliency(challenge, answer):
    """Row k is the mean of the saliency maps for class k of the images labelled k, taken
    for the network on centred images (f(I + m)); zeros for a class without images; the
    images and the mean image stay as they were."""
    model = ref.vgg_from_arrays(challenge)
    centred, mean_image = _tensor(challenge["centred"]), _tensor(challenge["mean_image"])
    labels, n_classes = challenge["labels"].astype(int), int(challenge["n_classes"])
    expected = ref.class_averaged_saliency(model, centred, labels, mean_image, n_classes)
    what = (f"class_averaged_saliency(model, centred, labels, mean_image, n_classes={n_classes}) for "
            f"{len(labels)} images with labels {labels.tolist()}")
    maps = answer.array("maps", shape=tuple(expected.shape), what=what)
    for k in range(n_classes):
        count = int(np.sum(labels == k))
        row = f"row {k} of {what} ({count} images of class {k})" if count else \
            f"row {k} of {what} (no image of class {k}: the row should be zeros)"
        _compare(maps[k], expected[k], row, 1e-9)
    _unchanged(answer, "centred_after", challenge["centred"],
               "class_averaged_saliency changed the centred images in place; work on copies")
    _unchanged(answer, "mean_image_after", challenge["mean_image"],
               "class_averaged_saliency changed the mean image in place; work on a copy")
