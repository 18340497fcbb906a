"""Probes of sheet 3, run in the student's kernel (numpy, torch and utils only).

Each probe builds the challenge's small networks, calls the student's functions on them
(every call gets inputs of its own) and returns what came back, together with the
evidence a check needs about side effects: the inputs after the call, the model's
outputs or parameters after the call, the model's own gradient after DeconvNet and
guided backprop.
"""
import torch

from utils.probing import call
from utils.vgg import VGG, make_features


def _tensor(array, dtype=torch.float64):
    return torch.tensor(array, dtype=dtype)


def _cases(challenge, prefix):
    return sorted(int(key.rsplit("_", 1)[1]) for key in challenge if key.startswith(prefix + "_"))


def _vgg(challenge, prefix="", dtype=torch.float64):
    """The challenge's small VGG (eval mode): 3×3 convolutions with in-place ReLUs, 2×2
    max-pooling for each 0 in ``cfg``, classifier Linear–ReLU–Dropout–Linear."""
    cfg = ["M" if int(width) == 0 else int(width) for width in challenge[prefix + "cfg"]]
    hidden, inputs = challenge[prefix + "classifier.0.weight"].shape
    classes = challenge[prefix + "classifier.3.weight"].shape[0]
    classifier = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.ReLU(inplace=True),
                                     torch.nn.Dropout(0.5), torch.nn.Linear(hidden, classes))
    model = VGG(make_features(cfg), torch.nn.Identity(), classifier).to(dtype)
    state = {key[len(prefix):]: _tensor(value, dtype) for key, value in challenge.items()
             if key.startswith((prefix + "features.", prefix + "classifier."))}
    model.load_state_dict(state)
    return model.eval()


class _TwiceReLUNet(torch.nn.Module):
    """conv → relu → conv → relu (the same in-place ReLU module) → max-pool → linear."""

    def __init__(self, challenge, case):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.relu = torch.nn.ReLU(inplace=True)
        self.pool = torch.nn.MaxPool2d(2)
        self.linear = torch.nn.Linear(4 * 4 * 4, 3)
        self.double()
        names = ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "linear.weight", "linear.bias")
        self.load_state_dict({name: _tensor(challenge[f"{name}_{case}"]) for name in names})
        self.eval()

    def forward(self, x):
        h = self.relu(self.conv1(x))
        h = self.relu(self.conv2(h))
        return self.linear(self.pool(h).flatten(1))


def _outputs_or_none(model, X):
    """The model's outputs on X, or None when the model no longer runs on a tensor."""
    try:
        with torch.no_grad():
            return model(X)
    except Exception:  # noqa: BLE001 - e.g. layers replaced by ones that need (X, L, H)
        return None


def _gradient_method(challenge, function, name):
    model = _vgg(challenge)
    results = {}
    for case, c in enumerate(int(c) for c in challenge["classes"]):
        X = _tensor(challenge["X"])
        results[f"result_{case}"] = call(function, name, model, X, c)
        results[f"X_after_{case}"] = X
    results["outputs_after"] = _outputs_or_none(model, _tensor(challenge["X"]))
    return results


def test_gradient_x_input(challenge, gradient_x_input):
    return _gradient_method(challenge, gradient_x_input, "gradient_x_input")


def test_saliency(challenge, saliency):
    return _gradient_method(challenge, saliency, "saliency")


def test_Conv(challenge, Conv):
    results = {}
    for case in _cases(challenge, "gamma"):
        gamma, stride = float(challenge[f"gamma_{case}"]), int(challenge[f"stride_{case}"])
        conv = torch.nn.Conv2d(3, 4, 3, stride=stride, padding=1, bias=True).double()
        with torch.no_grad():
            conv.weight.copy_(_tensor(challenge[f"weight_{case}"]))
            conv.bias.copy_(_tensor(challenge[f"bias_{case}"]))
        layer = call(Conv, f"Conv(conv, {gamma:g})", conv, gamma)
        a = _tensor(challenge[f"a_{case}"]).requires_grad_(True)
        out = call(layer, "Conv.forward", a)
        signal = _tensor(challenge[f"signal_{case}"])
        gradient = None
        if type(out) is torch.Tensor and out.shape == signal.shape and out.requires_grad:
            (gradient,) = call(torch.autograd.grad, "the backward pass through Conv.forward", out, a, signal)
        results.update({f"out_{case}": out, f"gradient_{case}": gradient, f"a_after_{case}": a,
                        f"weight_after_{case}": conv.weight, f"bias_after_{case}": conv.bias})
    return results


def test_lrp(challenge, build_lrp_model, lrp):
    results = {}
    for case in _cases(challenge, "c"):
        model = _vgg(challenge, f"m{case}.")
        X, L, H = (_tensor(challenge[f"{name}_{case}"]) for name in "XLH")
        lrpmodel = call(build_lrp_model, "build_lrp_model", model)
        results[f"R_{case}"] = call(lrp, "lrp", lrpmodel, X, int(challenge[f"c_{case}"]), L, H)
        results.update({f"X_after_{case}": X, f"L_after_{case}": L, f"H_after_{case}": H})
        results[f"outputs_after_{case}"] = _outputs_or_none(model, _tensor(challenge[f"X_{case}"]))
    return results


def test_modified_relus(challenge, deconvnet, guided_backprop):
    """Network 0 is explained by DeconvNet first, network 1 by guided backprop first; then
    the network's own gradient is taken."""
    results = {}
    for case in _cases(challenge, "c"):
        net, c = _TwiceReLUNet(challenge, case), int(challenge[f"c_{case}"])
        order = [("deconvnet", deconvnet), ("guided_backprop", guided_backprop)]
        for name, function in order if case % 2 == 0 else order[::-1]:
            X = _tensor(challenge[f"X_{case}"])
            results[f"{name}_{case}"] = call(function, name, net, X, c)
            results[f"X_after_{name}_{case}"] = X
        x = _tensor(challenge[f"X_{case}"]).requires_grad_(True)
        results[f"gradient_after_{case}"] = call(
            lambda: torch.autograd.grad(net(x)[:, c].sum(), x)[0],
            "the model's own gradient after deconvnet and guided_backprop")
    return results


def test_activations(challenge, activations):
    model = _vgg(challenge)
    results = {}
    for case in _cases(challenge, "indices"):
        X = _tensor(challenge["X"])
        indices = [int(i) for i in challenge[f"indices_{case}"]]
        results[f"maps_{case}"] = call(activations, "activations", model, X, indices)
        results[f"X_after_{case}"] = X
        results[f"indices_after_{case}"] = indices
    return results


def test_class_model(challenge, class_model):
    """float32 models, as the task starts from a float32 image I = 0."""
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4)).float()
    linear.load_state_dict({"1.weight": _tensor(challenge["linear.weight"], torch.float32),
                            "1.bias": _tensor(challenge["linear.bias"], torch.float32)})
    models = {"linear": (linear.eval(), (1, 3, 4, 4)), "vgg": (_vgg(challenge, "vgg.", torch.float32), (1, 3, 8, 8))}
    results = {}
    for name, (model, shape) in models.items():
        c, lam = int(challenge[f"{name}_c"]), float(challenge[f"{name}_lam"])
        steps, lr = int(challenge[f"{name}_steps"]), float(challenge[f"{name}_lr"])
        results[f"{name}_image"] = call(class_model, "class_model", model, c, shape, lam, steps, lr)
        results[f"{name}_parameters_after"] = list(model.state_dict().values())
    return results


def test_saturation(challenge, saturation):
    return {f"point_{k}": call(saturation, "saturation", float(i1), float(i2))
            for k, (i1, i2) in enumerate(challenge["points"])}


# --- Lecture methods: occlusion, class-averaged saliency, filter visualisation, mean image


def test_occlusion(challenge, occlusion):
    model = _vgg(challenge)
    results = {}
    for case in _cases(challenge, "c"):
        X = _tensor(challenge["X"])
        size, stride = int(challenge[f"size_{case}"]), int(challenge[f"stride_{case}"])
        c, baseline = int(challenge[f"c_{case}"]), float(challenge[f"baseline_{case}"])
        results[f"R_{case}"] = call(occlusion, "occlusion", model, X, c, size, stride, baseline)
        results[f"X_after_{case}"] = X
    results["outputs_after"] = _outputs_or_none(model, _tensor(challenge["X"]))
    return results


def test_filter_images(challenge, filter_images):
    model = _vgg(challenge)
    result = call(filter_images, "filter_images", model)
    return {"filters": result, "parameters_after": list(model.state_dict().values())}


def test_maximise_channel(challenge, maximise_channel):
    model = _vgg(challenge)
    results = {}
    for case in _cases(challenge, "layer"):
        start = _tensor(challenge[f"start_{case}"])
        arguments = (int(challenge[f"layer_{case}"]), int(challenge[f"channel_{case}"]), start,
                     float(challenge[f"lam_{case}"]), int(challenge[f"steps_{case}"]), float(challenge[f"lr_{case}"]))
        results[f"image_{case}"] = call(maximise_channel, "maximise_channel", model, *arguments)
        results[f"start_after_{case}"] = start
    results["parameters_after"] = list(model.state_dict().values())
    return results


def test_class_model_with_mean(challenge, class_model_with_mean):
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4)).double()
    linear.load_state_dict({"1.weight": _tensor(challenge["linear.weight"]), "1.bias": _tensor(challenge["linear.bias"])})
    models = {"linear": linear.eval(), "vgg": _vgg(challenge, "vgg.")}
    results = {}
    for name, model in models.items():
        mean_image = _tensor(challenge[f"{name}_mean"])
        c, lam = int(challenge[f"{name}_c"]), float(challenge[f"{name}_lam"])
        steps, lr = int(challenge[f"{name}_steps"]), float(challenge[f"{name}_lr"])
        results[f"{name}_image"] = call(class_model_with_mean, "class_model_with_mean", model, c, mean_image,
                                        lam, steps, lr)
        results[f"{name}_mean_after"] = mean_image
        results[f"{name}_parameters_after"] = list(model.state_dict().values())
    return results


def test_class_averaged_saliency(challenge, class_averaged_saliency):
    model = _vgg(challenge)
    centred, mean_image = _tensor(challenge["centred"]), _tensor(challenge["mean_image"])
    labels = challenge["labels"].astype(int)
    result = call(class_averaged_saliency, "class_averaged_saliency", model, centred, labels, mean_image,
                  int(challenge["n_classes"]))
    return {"maps": result, "centred_after": centred, "mean_image_after": mean_image}
