"""Plausible wrong answers to sheet 3, each of which a check must reject."""
import copy

import torch

from autograder.sheets.sheet3_vgg import reference as ref
from utils import vgg
from utils.layers import newlayer


def _grad(model, X, c, score=None):
    X = X.detach().clone().requires_grad_(True)
    out = model(X)
    y = (score(out) if score else out)[:, c].sum()
    (gradient,) = torch.autograd.grad(y, X)
    return X.detach(), gradient


# --- gradient × input ---------------------------------------------------------------
def gi_gradient_only(model, X, c):
    return _grad(model, X, c)[1]


def gi_sign_flipped(model, X, c):
    X, g = _grad(model, X, c)
    return -X * g


def gi_absolute(model, X, c):
    X, g = _grad(model, X, c)
    return (X * g).abs()


def gi_softmax(model, X, c):
    X, g = _grad(model, X, c, score=lambda out: out.softmax(1))
    return X * g


def gi_predicted_class(model, X, c):
    with torch.no_grad():
        predicted = int(model(X)[0].argmax())
    X, g = _grad(model, X, predicted)
    return X * g


def gi_first_image_only(model, X, c):
    X, g = _grad(model, X[:1], c)
    return (X * g).expand(len(X), -1, -1, -1) + 0 * X[:1]


def gi_into_input(model, X, c):
    """Right values, written into X: ``X.detach()`` shares X's memory."""
    x = X.detach().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(x)[:, c].sum(), x)
    return x.detach().mul_(gradient)


# --- saliency -----------------------------------------------------------------------
def sal_mean(model, X, c):
    return _grad(model, X, c)[1].abs().mean(1)


def sal_signed(model, X, c):
    return _grad(model, X, c)[1].amax(1)


def sal_times_input(model, X, c):
    X, g = _grad(model, X, c)
    return (X * g).abs().amax(1)


def sal_sum(model, X, c):
    return _grad(model, X, c)[1].abs().sum(1)


def sal_squared(model, X, c):
    return (_grad(model, X, c)[1] ** 2).amax(1)


def sal_no_reduction(model, X, c):
    return _grad(model, X, c)[1].abs()


# --- Conv (LRP-γ) ---------------------------------------------------------------------
class _ConvBase(torch.nn.Module):
    def __init__(self, conv, gamma):
        super().__init__()
        self.conv = conv
        self.pconv = newlayer(conv, self.transform(gamma))

    def transform(self, gamma):
        return lambda p: p + gamma * p.clamp(min=0)

    def forward(self, X):
        z = self.conv(X)
        p = self.pconv(X)
        return p * (z / p).detach()


class ConvNegativePart(_ConvBase):
    def transform(self, gamma):
        return lambda p: p + gamma * p.clamp(max=0)


class ConvPositiveOnly(_ConvBase):
    def transform(self, gamma):
        return lambda p: gamma * p.clamp(min=0)


class ConvBiasUntouched(_ConvBase):
    def __init__(self, conv, gamma):
        super().__init__(conv, gamma)
        with torch.no_grad():
            self.pconv.bias.copy_(conv.bias)


class ConvNoDetach(_ConvBase):
    def forward(self, X):
        z = self.conv(X)
        p = self.pconv(X)
        return p * (z / p)


class ConvReturnsP(_ConvBase):
    def forward(self, X):
        return self.pconv(X)


class ConvInPlace(torch.nn.Module):
    """Transforms the weights of the wrapped layer itself."""

    def __init__(self, conv, gamma):
        super().__init__()
        with torch.no_grad():
            conv.weight += gamma * conv.weight.clamp(min=0)
            conv.bias += gamma * conv.bias.clamp(min=0)
        self.conv = conv

    def forward(self, X):
        return self.conv(X)


# --- LRP model and extended gradient × input ---------------------------------------------
def _build(first="zb", gamma=None, copy_model=True):
    def build_lrp_model(model):
        lrpmodel = copy.deepcopy(model) if copy_model else model
        features = lrpmodel.features
        start = vgg.first_conv(lrpmodel)
        blocks = vgg.conv_blocks(lrpmodel)
        for block, indices in enumerate(blocks):
            for i in indices:
                g = gamma(block, len(blocks)) if gamma else vgg.block_gamma(block)
                if i == start and first == "zb":
                    features[i] = vgg.ConvPx(features[i])
                elif i == start and first == "plain":
                    features[i] = _FirstOfTuple(features[i])
                else:
                    features[i] = ref.Conv(features[i], g)
        return lrpmodel

    return build_lrp_model


class _FirstOfTuple(torch.nn.Module):
    """A module fed with X only out of LRP's (X, L, H): the first convolution left as it
    is, or a whole model (plain Gradient×Input)."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, inputs):
        return self.module(inputs[0])


def lrp_x_only(lrpmodel, X, c, L, H):
    X, L, H = (t.detach().clone().requires_grad_(True) for t in (X, L, H))
    lrpmodel((X, L, H))[:, c].sum().backward()
    return X * X.grad


def lrp_unit_box(lrpmodel, X, c, L, H):  # the box [-1, 1] of the CIFAR-10 network, whatever L and H are
    return ref.lrp(lrpmodel, X, c, -torch.ones_like(X), torch.ones_like(X))


def lrp_plus_bounds(lrpmodel, X, c, L, H):  # signs of the bound terms flipped
    X, L, H = (t.detach().clone().requires_grad_(True) for t in (X, L, H))
    lrpmodel((X, L, H))[:, c].sum().backward()
    return X * X.grad - L * L.grad - H * H.grad


def gradient_x_input_model(model):
    return _FirstOfTuple(copy.deepcopy(model))


# --- DeconvNet, guided backprop -----------------------------------------------------------
def _replaced(function):
    return lambda model, X, c: _grad(vgg.replace_relus(model, lambda: ref._Apply(function)), X, c)[1]


class _SignFlipped(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(max=0) * (x > 0)


def plain_gradient(model, X, c):
    return _grad(model, X, c)[1]


def _hooked(use_output):
    """Hooks on the model's own ReLU modules (the approach that breaks on in-place ReLUs);
    the hooks are removed afterwards."""

    def explain(model, X, c):
        def hook(module, grad_input, grad_output):
            return (torch.relu(grad_output[0] if use_output else grad_input[0]),)

        handles = [m.register_full_backward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.ReLU)]
        try:
            return _grad(model, X, c)[1]
        finally:
            for handle in handles:
                handle.remove()

    return explain


def _forward_hook_guided(model, X, c):
    """Remembers the ReLU input in a forward hook (overwritten when the module is reused)."""
    seen = {}

    def remember(module, inputs, output):
        seen[module] = inputs[0].detach().clone()

    class Guided(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.clamp(min=0)

        @staticmethod
        def backward(ctx, grad):
            return grad.clamp(min=0) * (grad_source() > 0)

    modified = copy.deepcopy(model)
    relu = [m for m in modified.modules() if isinstance(m, torch.nn.ReLU)][0]
    relu.register_forward_hook(remember)
    grad_source = lambda: seen[relu]  # noqa: E731
    X = X.detach().clone().requires_grad_(True)
    h = modified(X)  # records the last input only
    del h
    wrapped = vgg.replace_relus(modified, lambda: ref._Apply(Guided))
    (gradient,) = torch.autograd.grad(wrapped(X)[:, c].sum(), X)
    return gradient


def _in_place(function):
    def explain(model, X, c):
        for module in list(model.modules()):
            for name, child in list(module._modules.items()):
                if isinstance(child, torch.nn.ReLU):
                    module._modules[name] = ref._Apply(function)
        return _grad(model, X, c)[1]

    return explain


# --- activations ----------------------------------------------------------------------
def act_no_copy(model, X, indices):
    outputs, h = {}, X.clone()
    with torch.no_grad():
        for i, layer in enumerate(model.features[:max(indices) + 1]):
            h = layer(h)
            outputs[i] = h
        model.features[max(indices) + 1](h) if max(indices) + 1 < len(model.features) else None
    return [outputs[i] for i in indices]


def act_off_by_one(model, X, indices):
    return ref.activations(model, X, [max(i - 1, 0) for i in indices]) if min(indices) > 0 else \
        ref.activations(model, X, [i + 1 for i in indices])


def act_layer_input(model, X, indices):
    return [X if i == 0 else m for i, m in zip(indices, ref.activations(model, X, [max(i - 1, 0) for i in indices]))]


def act_reversed(model, X, indices):
    return ref.activations(model, X, indices)[::-1]


def act_rectified(model, X, indices):
    return [m.clamp(min=0) for m in ref.activations(model, X, indices)]


def act_last_only(model, X, indices):
    return ref.activations(model, X, [max(indices)]) * len(indices)


def act_layer_order(model, X, indices):
    """One pass over the layers, keeping a map whenever the layer is wanted: the maps come
    in layer order and a repeated index only once."""
    maps, h = [], X
    with torch.no_grad():
        for i, layer in enumerate(model.features):
            h = layer(h)
            if i in indices:
                maps.append(h.clone())
    return maps


def act_sorted_indices(model, X, indices):
    """Sorts the caller's list in place, then answers for the sorted list."""
    indices.sort()
    return ref.activations(model, X, indices)


def act_sorted_copy(model, X, indices):
    """Repeats kept, but in ascending order."""
    return ref.activations(model, X, sorted(indices))


# --- class model ---------------------------------------------------------------------
def _ascent(start=None, sign=1.0, penalty=2.0, score=None, normalise=False, extra_steps=0):
    def class_model(model, c, shape, lam, steps, lr):
        image = torch.zeros(shape) if start is None else start(shape)
        image.requires_grad_(True)
        for _ in range(steps + extra_steps):
            out = model(image)
            s = (score(out) if score else out)[0, c]
            objective = s - lam * (image ** 2).sum() * penalty / 2
            (gradient,) = torch.autograd.grad(objective, image)
            if normalise:
                gradient = gradient / gradient.norm().clamp(min=1e-12)
            with torch.no_grad():
                image += sign * lr * gradient
        return image.detach()

    return class_model


def class_model_sgd_on_model_too(model, c, shape, lam, steps, lr):
    """Plain steps with torch.optim.SGD, but the model's parameters are handed to the optimiser too."""
    image = torch.zeros(shape, requires_grad=True)
    optimiser = torch.optim.SGD([image, *model.parameters()], lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        (-(model(image)[0, c] - lam * (image ** 2).sum())).backward()
        optimiser.step()
    return image.detach()


def class_model_sgd(model, c, shape, lam, steps, lr):
    """A correct answer written with torch.optim.SGD (plain steps: no momentum, no decay)."""
    image = torch.zeros(shape, requires_grad=True)
    optimiser = torch.optim.SGD([image], lr=lr)
    for _ in range(steps):
        optimiser.zero_grad()
        loss = -(model(image)[0, c] - lam * (image ** 2).sum())
        loss.backward()
        optimiser.step()
    return image.detach()


# --- saturation ----------------------------------------------------------------------
def sat_always_one(i1, i2):
    return 1 - max(0.0, 1 - i1 - i2), 1.0, 1.0


def sat_relu_only(i1, i2):
    y = max(0.0, 1 - i1 - i2)
    return y, (-1.0 if y > 0 else 0.0), (-1.0 if y > 0 else 0.0)


def sat_linear(i1, i2):
    return i1 + i2, 1.0, 1.0


def sat_order(i1, i2):
    y, g1, g2 = ref.saturation(i1, i2)
    return g1, g2, y


def sat_finite_difference(i1, i2, h=1.0):
    f = lambda a, b: 1 - max(0.0, 1 - a - b)  # noqa: E731
    return f(i1, i2), (f(i1 + h, i2) - f(i1 - h, i2)) / (2 * h), (f(i1, i2 + h) - f(i1, i2 - h)) / (2 * h)


def sat_first_input_only(i1, i2):  # differentiates with respect to i₁ only
    y, g1, _ = ref.saturation(i1, i2)
    return y, g1, 0.0


_OBJECTS = {
    "test_gradient_x_input": ("gradient_x_input",),
    "test_saliency": ("saliency",),
    "test_Conv": ("Conv",),
    "test_lrp": ("build_lrp_model", "lrp"),
    "test_modified_relus": ("deconvnet", "guided_backprop"),
    "test_activations": ("activations",),
    "test_class_model": ("class_model",),
    "test_saturation": ("saturation",),
}

_CORRECT_ARGUMENTS = {
    "test_gradient_x_input": (ref.gradient_x_input,),
    "test_saliency": (ref.saliency,),
    "test_Conv": (ref.Conv,),
    "test_lrp": (ref.build_lrp_model, ref.lrp),
    "test_modified_relus": (ref.deconvnet, ref.guided_backprop),
    "test_activations": (ref.activations,),
    "test_class_model": (ref.class_model,),
    "test_saturation": (ref.saturation,),
}

#: Other correct answers, written as a student may write them; every check accepts them.
HONEST = {
    "test_class_model": {"plain steps with torch.optim.SGD": {"class_model": class_model_sgd}},
}

_MUTANT_ARGUMENTS = {
    "test_gradient_x_input": {
        "gradient only": (gi_gradient_only,),
        "sign flipped": (gi_sign_flipped,),
        "absolute value": (gi_absolute,),
        "softmax probability": (gi_softmax,),
        "predicted class of the first image": (gi_predicted_class,),
        "first image broadcast": (gi_first_image_only,),
        "right values written into X": (gi_into_input,),
    },
    "test_saliency": {
        "mean over channels": (sal_mean,),
        "signed gradient": (sal_signed,),
        "gradient × input": (sal_times_input,),
        "sum over channels": (sal_sum,),
        "squared gradient": (sal_squared,),
        "no reduction over channels": (sal_no_reduction,),
    },
    "test_Conv": {
        "γ on the negative weights": (ConvNegativePart,),
        "γ w⁺ without w": (ConvPositiveOnly,),
        "bias not transformed": (ConvBiasUntouched,),
        "ratio not detached (plain gradient)": (ConvNoDetach,),
        "forward returns p": (ConvReturnsP,),
        "weights changed in place": (ConvInPlace,),
    },
    "test_lrp": {
        "first convolution as a plain layer": (_build(first="plain"), ref.lrp),
        "one γ = 0.25 everywhere": (_build(gamma=lambda b, n: 0.25), ref.lrp),
        "γ schedule reversed": (_build(gamma=lambda b, n: vgg.block_gamma(n - 1 - b)), ref.lrp),
        "bound terms dropped": (_build(), lrp_x_only),
        "bound terms with flipped sign": (_build(), lrp_plus_bounds),
        "box [-1, 1] instead of L and H": (_build(), lrp_unit_box),
        "surgery on the given model": (_build(copy_model=False), ref.lrp),
        "plain gradient × input": (gradient_x_input_model, ref.lrp),
    },
    "test_modified_relus": {
        "deconvnet and guided backprop swapped": (ref.guided_backprop, ref.deconvnet),
        "plain gradient for both": (plain_gradient, plain_gradient),
        "guided keeps negative signals": (ref.deconvnet, _replaced(_SignFlipped)),
        "hooks on the in-place ReLUs": (_hooked(True), _hooked(False)),
        "ReLU input from a forward hook": (ref.deconvnet, _forward_hook_guided),
        "ReLUs replaced in the given model": (_in_place(ref._Deconv), _in_place(ref._Guided)),
    },
    "test_activations": {
        "no copy (overwritten in place)": (act_no_copy,),
        "one layer off": (act_off_by_one,),
        "input of the layer": (act_layer_input,),
        "reversed order": (act_reversed,),
        "rectified maps": (act_rectified,),
        "last map only": (act_last_only,),
        "maps in layer order, repeats once": (act_layer_order,),
        "indices sorted (a copy)": (act_sorted_copy,),
        "the caller's index list sorted in place": (act_sorted_indices,),
    },
    "test_class_model": {
        "gradient descent": (_ascent(sign=-1.0),),
        "penalty gradient λI (factor 2 lost)": (_ascent(penalty=1.0),),
        "softmax probability": (_ascent(score=lambda out: out.softmax(1)),),
        "random start": (_ascent(start=lambda shape: torch.randn(shape, generator=torch.Generator().manual_seed(0))),),
        "normalised steps": (_ascent(normalise=True),),
        "one step too many": (_ascent(extra_steps=1),),
        "torch.optim.SGD updating the model too": (class_model_sgd_on_model_too,),
    },
    "test_saturation": {
        "gradient always (1, 1)": (sat_always_one,),
        "inner ReLU only": (sat_relu_only,),
        "linear model i₁ + i₂": (sat_linear,),
        "outputs in the wrong order": (sat_order,),
        "finite differences with step 1": (sat_finite_difference,),
        "second partial derivative missing": (sat_first_input_only,),
    },
}

CORRECT = {test: dict(zip(_OBJECTS[test], arguments)) for test, arguments in _CORRECT_ARGUMENTS.items()}
MUTANTS = {test: {what: dict(zip(_OBJECTS[test], arguments)) for what, arguments in variants.items()}
           for test, variants in _MUTANT_ARGUMENTS.items()}

PARTLY_WRONG = {
    "saliency": (
        "def saliency(model, X, c):\n"
        "    X = X.detach().clone().requires_grad_(True)\n"
        "    model(X)[:, c].sum().backward()\n"
        "    return X.grad.abs().mean(dim=1)  # mean instead of max over channels\n"
    ),
    "Conv": (
        "class Conv(torch.nn.Module):\n"
        "    def __init__(self, conv, gamma):\n"
        "        super().__init__()\n"
        "        self.conv = conv\n"
        "        self.pconv = utils.newlayer(conv, lambda p: p + gamma * p.clamp(max=0))  # negative part\n"
        "\n"
        "    def forward(self, X):\n"
        "        z = self.conv(X)\n"
        "        p = self.pconv(X)\n"
        "        return p * (z / p).detach()\n"
    ),
}


# --- Lecture methods: occlusion, class-averaged saliency, filter visualisation, mean image
import numpy as np  # noqa: E402


def _occlusion_variant(starts=ref.window_starts, channel_wise=False, sign=1.0, average=True, baseline_used=True,
                       score=None, batch_sum=False, copy_input=True):
    """Occlusion written as a student would, with one thing changed."""

    @torch.no_grad()
    def occlusion(model, X, c, size, stride, baseline=0.0):
        def class_score(inputs):
            out = model(inputs)
            s = (score(out) if score else out)[:, c]
            return s.sum().expand(len(inputs)) if batch_sum else s

        value = baseline if baseline_used else 0.0
        before = class_score(X)
        total, count = torch.zeros_like(X), torch.zeros_like(X)
        channels = [slice(k, k + 1) for k in range(X.shape[1])] if channel_wise else [slice(None)]
        for top in starts(X.shape[2], size, stride):
            for left in starts(X.shape[3], size, stride):
                for channel in channels:
                    window = (slice(None), channel, slice(top, top + size), slice(left, left + size))
                    occluded = X.clone() if copy_input else X
                    occluded[window] = value
                    drop = sign * (before - class_score(occluded))
                    total[window] += drop[:, None, None, None]
                    count[window] += 1
        return total / count.clamp(min=1) if average else total

    return occlusion


def _starts_inside(length, size, stride):  # no window sticks out: the border may stay uncovered
    return list(range(0, length - size + 1, stride))


def _starts_everywhere(length, size, stride):  # a window at every stride up to the last pixel
    return list(range(0, length, stride))


def _saliency_variant(shift=True, of_average=False, gradient_average=False, predicted=False, over_all=False,
                      first_appearance=False, signed=False, empty_nan=False):
    """Class-averaged saliency with one thing changed."""

    def class_averaged_saliency(model, centred, labels, mean_image, n_classes):
        labels = np.asarray(labels)
        inputs = centred + mean_image if shift else centred
        order = list(dict.fromkeys(labels.tolist())) if first_appearance else range(n_classes)
        rows = []
        for k in order:
            chosen = np.flatnonzero(labels == k)
            if len(chosen) == 0:
                rows.append(torch.full(centred.shape[2:], float("nan")) if empty_nan else torch.zeros(centred.shape[2:]))
                continue
            images = inputs[chosen].mean(0, keepdim=True) if of_average else inputs[chosen]
            if predicted:
                gradients = []
                for image in images:
                    with torch.no_grad():
                        target = int(model(image[None]).argmax())
                    gradients.append(ref._input_gradient(model, image[None], target)[1][0])
                gradient = torch.stack(gradients)
            else:
                gradient = ref._input_gradient(model, images, k)[1]
            if gradient_average:
                rows.append(gradient.mean(0).abs().amax(0))
                continue
            maps = gradient.amax(1) if signed else gradient.abs().amax(1)
            rows.append(maps.sum(0) / len(labels) if over_all else maps.mean(0))
        rows += [torch.zeros(centred.shape[2:])] * (n_classes - len(rows))
        return torch.stack([row.to(centred.dtype) for row in rows])

    return class_averaged_saliency


def _first_weight(model):
    return model.features[vgg.first_conv(model)].weight.detach()


def filters_global(model):
    w = _first_weight(model)
    return (w - w.min()) / (w.max() - w.min())


def filters_per_channel(model):
    w = _first_weight(model)
    low, high = w.amin(dim=(2, 3), keepdim=True), w.amax(dim=(2, 3), keepdim=True)
    return (w - low) / (high - low)


def filters_raw(model):
    return _first_weight(model).clone()


def filters_symmetric(model):
    w = _first_weight(model)
    return 0.5 + w / (2 * w.abs().amax(dim=(1, 2, 3), keepdim=True))


def filters_channels_last(model):
    return ref.filter_images(model).permute(0, 2, 3, 1)


def filters_in_place(model):
    with torch.no_grad():
        w = model.features[vgg.first_conv(model)].weight
        flat = w.reshape(len(w), -1)
        w -= flat.min(1).values[:, None, None, None]
        w /= flat.max(1).values[:, None, None, None]
    return w.detach()


def _channel_ascent(after_relu=False, whole_layer=False, reduce="mean", penalty=2.0, from_zero=False, sign=1.0,
                    extra_steps=0, normalise=False, in_place=False):
    """Activation maximisation with one thing changed."""

    def maximise_channel(model, layer, channel, start, lam, steps, lr):
        head = model.features[:layer + 2] if after_relu else model.features[:layer + 1]
        image = start if in_place else (torch.zeros_like(start) if from_zero else start.detach().clone())
        image.requires_grad_(True)
        for _ in range(steps + extra_steps):
            maps = head(image)[0] if whole_layer else head(image)[0, channel]
            activation = maps.sum() if reduce == "sum" else maps.mean()
            objective = activation - lam * penalty / 2 * (image ** 2).sum()
            (gradient,) = torch.autograd.grad(objective, image)
            if normalise:
                gradient = gradient / gradient.norm().clamp(min=1e-12)
            with torch.no_grad():
                image += sign * lr * gradient
        return image.detach()

    return maximise_channel


def _mean_image_ascent(shift=True, add_back=1.0, penalise_image=False, from_mean=False, mean_colour=False,
                       score=None, in_place=False):
    """The class model with the mean image, with one thing changed."""

    def class_model_with_mean(model, c, mean_image, lam, steps, lr):
        mean = mean_image.mean(dim=(2, 3), keepdim=True).expand_as(mean_image) if mean_colour else mean_image
        image = (mean.clone() if from_mean else torch.zeros_like(mean)).requires_grad_(True)
        for _ in range(steps):
            out = model(image + mean if shift else image)
            s = (score(out) if score else out)[0, c]
            penalised = image + mean if penalise_image else image
            (gradient,) = torch.autograd.grad(s - lam * (penalised ** 2).sum(), image)
            with torch.no_grad():
                image += lr * gradient
        if in_place:
            with torch.no_grad():
                mean_image += image
            return mean_image.detach()
        return image.detach() + add_back * mean

    return class_model_with_mean


CORRECT.update({
    "test_occlusion": {"occlusion": ref.occlusion},
    "test_class_averaged_saliency": {"class_averaged_saliency": ref.class_averaged_saliency},
    "test_filter_images": {"filter_images": ref.filter_images},
    "test_maximise_channel": {"maximise_channel": ref.maximise_channel},
    "test_class_model_with_mean": {"class_model_with_mean": ref.class_model_with_mean},
})

MUTANTS.update({
    "test_occlusion": {what: {"occlusion": function} for what, function in {
        "sum of the drops (no mean over the covering windows)": _occlusion_variant(average=False),
        "score after minus score before": _occlusion_variant(sign=-1.0),
        "no window sticking out (border left uncovered)": _occlusion_variant(starts=_starts_inside),
        "a window at every stride up to the last pixel": _occlusion_variant(starts=_starts_everywhere),
        "one channel occluded at a time": _occlusion_variant(channel_wise=True),
        "baseline ignored (always 0)": _occlusion_variant(baseline_used=False),
        "softmax probability": _occlusion_variant(score=lambda out: out.softmax(1)),
        "score summed over the batch": _occlusion_variant(batch_sum=True),
        "occluded without a copy (X changed, windows accumulate)": _occlusion_variant(copy_input=False),
    }.items()},
    "test_class_averaged_saliency": {what: {"class_averaged_saliency": function} for what, function in {
        "mean image not added (the network sees centred images)": _saliency_variant(shift=False),
        "saliency of the class's average image": _saliency_variant(of_average=True),
        "gradients averaged before the absolute value": _saliency_variant(gradient_average=True),
        "each image explained for its predicted class": _saliency_variant(predicted=True),
        "divided by the number of all images": _saliency_variant(over_all=True),
        "rows in the order the labels first appear": _saliency_variant(first_appearance=True),
        "signed gradient": _saliency_variant(signed=True),
        "NaN for a class without images": _saliency_variant(empty_nan=True),
    }.items()},
    "test_filter_images": {what: {"filter_images": function} for what, function in {
        "one minimum and maximum for all filters": filters_global,
        "each channel scaled on its own": filters_per_channel,
        "raw weights": filters_raw,
        "scaled by the largest |w| around 0.5": filters_symmetric,
        "channels last": filters_channels_last,
        "weights of the model scaled in place": filters_in_place,
    }.items()},
    "test_maximise_channel": {what: {"maximise_channel": function} for what, function in {
        "sum over positions instead of the mean": _channel_ascent(reduce="sum"),
        "activation after the ReLU": _channel_ascent(after_relu=True),
        "mean of the whole layer": _channel_ascent(whole_layer=True),
        "penalty gradient λI (factor 2 lost)": _channel_ascent(penalty=1.0),
        "start ignored (from zero)": _channel_ascent(from_zero=True),
        "gradient descent": _channel_ascent(sign=-1.0),
        "one step too many": _channel_ascent(extra_steps=1),
        "normalised steps": _channel_ascent(normalise=True),
        "start image changed in place": _channel_ascent(in_place=True),
    }.items()},
    "test_class_model_with_mean": {what: {"class_model_with_mean": function} for what, function in {
        "mean image not added back": _mean_image_ascent(add_back=0.0),
        "mean image subtracted": _mean_image_ascent(add_back=-1.0),
        "score of I, not of I + m": _mean_image_ascent(shift=False),
        "penalty on the whole image I + m": _mean_image_ascent(penalise_image=True),
        "ascent started at the mean image": _mean_image_ascent(from_mean=True),
        "mean colour instead of the mean image": _mean_image_ascent(mean_colour=True),
        "softmax probability": _mean_image_ascent(score=lambda out: out.softmax(1)),
        "mean image changed in place": _mean_image_ascent(in_place=True),
    }.items()},
})
