"""Sheet 3 (VGG): reference solutions and the checks of the hidden tests.

References (used by the tests, the benchmark and the mutants):

* :func:`gradient_x_input`, :func:`saliency` (Simonyan et al., 2013, "Deep inside
  convolutional networks"), :func:`deconvnet` (Zeiler & Fergus, 2014) and
  :func:`guided_backprop` (Springenberg et al., 2015, "Striving for simplicity");
* :class:`Conv` (LRP-γ by the gradient trick), :func:`build_lrp_model` and :func:`lrp`
  (Montavon et al., 2019, "Layer-Wise Relevance Propagation: An Overview", Section 10.2);
* :func:`lrp_explicit`, the same LRP written layer by layer with explicit sums (unfold /
  matrix form), independent of the gradient trick;
* :func:`zennit_lrp`, the same rules set up in Zennit (tests and benchmark only);
* :func:`activations`, :func:`class_model`, :func:`saturation`.

Checks (``check_*``) run the student's code on small random networks drawn from fixed
seeds and compare with explicit formulas; see docs/authoring.md.
"""
import copy

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

from autograder.hidden import call_student as _call
from autograder.hidden import GradingError, as_array, handed_to_students, relative_error
from utils.layers import newlayer
from utils.vgg import block_gamma, conv_blocks, first_conv, replace_relus

# ----------------------------------------------------------------------- references


def _input_gradient(model, X, c):
    X = X.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(X)[:, c].sum(), X)
    return X.detach(), gradient


def gradient_x_input(model, X, c):
    """R_i = x_i ∂f_c/∂x_i for every sample of the batch X (NCHW)."""
    X, gradient = _input_gradient(model, X, c)
    return X * gradient


def saliency(model, X, c):
    """Simonyan's saliency map: max over colour channels of |∂f_c/∂x|, shape (N, H, W)."""
    return _input_gradient(model, X, c)[1].abs().amax(dim=1)


class _GammaConvFunction(torch.autograd.Function):
    """Forward: z = conv_w(a) and p = conv_{w'}(a) in one convolution with the two weight
    sets stacked; returns z.  Backward: w'ᵀ(g · z/p), the gradient of p · [z/p]_cst."""

    @staticmethod
    def forward(ctx, X, stacked_weight, stacked_bias, modified_weight, stride, padding, dilation):
        both = F.conv2d(X, stacked_weight, stacked_bias, stride, padding, dilation)
        z, p = both.chunk(2, dim=1)
        ratio = torch.div(z, p).nan_to_num_(0.0, 0.0, 0.0)  # p = 0 only where nothing flows
        ctx.save_for_backward(ratio, modified_weight)
        ctx.geometry = (X.shape, stride, padding, dilation)
        return z.clone()

    @staticmethod
    def backward(ctx, grad):
        ratio, modified_weight = ctx.saved_tensors
        shape, stride, padding, dilation = ctx.geometry
        grad_X = torch.nn.grad.conv2d_input(shape, modified_weight, grad * ratio, stride, padding, dilation)
        return grad_X, None, None, None, None, None, None


class Conv(torch.nn.Module):
    """LRP-γ for a convolution on ReLU activations by the gradient trick: the output keeps
    the value z = conv(a) but its gradient is that of p = conv_{w + γw⁺}(a) rescaled by
    [z/p]_cst.  Both convolutions run as one (weights stacked), the backward pass
    through w + γw⁺ only; the notebook's version ``p * (z / p).detach()`` is the same map."""

    def __init__(self, conv, gamma):
        super().__init__()
        if conv.groups != 1 or isinstance(conv.padding, str):
            raise ValueError("Conv supports ungrouped convolutions with numeric padding (as in VGG)")
        self.conv = conv
        self.pconv = newlayer(conv, lambda p: p + gamma * p.clamp(min=0))
        bias = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels, dtype=conv.weight.dtype)
        pbias = self.pconv.bias if self.pconv.bias is not None else bias
        self.register_buffer("stacked_weight", torch.cat([conv.weight.detach(), self.pconv.weight.detach()]))
        self.register_buffer("stacked_bias", torch.cat([bias.detach(), pbias.detach()]))

    def forward(self, X):
        return _GammaConvFunction.apply(X, self.stacked_weight, self.stacked_bias, self.pconv.weight.detach(),
                                        self.conv.stride, self.conv.padding, self.conv.dilation)


class _ZBoxConvFunction(torch.autograd.Function):
    """zB in one convolution: the input is (X, L, H) stacked on the channel axis, the
    weights (w, 0, 0) for z and (w, -w⁺, -w⁻) for p = z - conv⁺(L) - conv⁻(H) (the biases
    cancel in p).  Backward: the gradient of p · [z/p]_cst for X, L and H at once."""

    @staticmethod
    def forward(ctx, X, L, H, stacked_weight, bias, box_weight, stride, padding, dilation):
        stacked_input = torch.cat([X, L, H], dim=1)
        both = F.conv2d(stacked_input, stacked_weight, None, stride, padding, dilation)
        channels = box_weight.shape[0]
        p = both[:, channels:]
        z = both[:, :channels] + bias[None, :, None, None]
        ratio = torch.div(z, p).nan_to_num_(0.0, 0.0, 0.0)  # p = 0 only where nothing flows
        ctx.save_for_backward(ratio, box_weight)
        ctx.geometry = (stacked_input.shape, stride, padding, dilation)
        return z

    @staticmethod
    def backward(ctx, grad):
        ratio, box_weight = ctx.saved_tensors
        shape, stride, padding, dilation = ctx.geometry
        grad_all = torch.nn.grad.conv2d_input(shape, box_weight, grad * ratio, stride, padding, dilation)
        gX, gL, gH = grad_all.chunk(3, dim=1)
        return gX, gL, gH, None, None, None, None, None, None


class ZBoxConv(torch.nn.Module):
    """The zB rule of :class:`utils.vgg.ConvPx` (same values, same gradients) with its three
    convolutions fused into one; used by the reference LRP model."""

    def __init__(self, conv):
        super().__init__()
        if conv.groups != 1 or isinstance(conv.padding, str):
            raise ValueError("ZBoxConv supports ungrouped convolutions with numeric padding (as in VGG)")
        self.conv = conv
        w = conv.weight.detach()
        box = torch.cat([w, -w.clamp(min=0), -w.clamp(max=0)], dim=1)
        self.register_buffer("box_weight", box)
        self.register_buffer("stacked_weight", torch.cat([torch.cat([w, 0 * w, 0 * w], dim=1), box]))
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=w.dtype)
        self.register_buffer("bias", bias)

    def forward(self, inputs):
        X, L, H = inputs
        return _ZBoxConvFunction.apply(X, L, H, self.stacked_weight, self.bias, self.box_weight,
                                       self.conv.stride, self.conv.padding, self.conv.dilation)


def build_lrp_model(model):
    """A copy of a VGG whose first convolution follows zB and every other convolution
    LRP-γ with the γ of its block; the dense layers stay as they are."""
    lrpmodel = copy.deepcopy(model).eval()
    features = lrpmodel.features
    first = first_conv(lrpmodel)
    for block, indices in enumerate(conv_blocks(lrpmodel)):
        for index in indices:
            layer = features[index]
            features[index] = ZBoxConv(layer) if index == first else Conv(layer, block_gamma(block))
    return lrpmodel.requires_grad_(False)


def lrp(lrpmodel, X, c, L, H):
    """Extended Gradient×Input over (X, L, H): R = X ∂y/∂X + L ∂y/∂L + H ∂y/∂H."""
    X, L, H = (t.detach().clone().requires_grad_(True) for t in (X, L, H))
    gX, gL, gH = torch.autograd.grad(lrpmodel((X, L, H))[:, c].sum(), (X, L, H))
    return (X * gX + L * gL + H * gH).detach()


class _Deconv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        return grad.clamp(min=0)


class _Guided(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * (x > 0).to(grad)


class _Apply(torch.nn.Module):
    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x):
        return self.function.apply(x)


def deconvnet(model, X, c):
    """DeconvNet: the gradient with every ReLU backward replaced by relu(grad)."""
    return _input_gradient(replace_relus(model, lambda: _Apply(_Deconv)), X, c)[1]


def guided_backprop(model, X, c):
    """Guided backprop: the ReLU backward keeps grad where x > 0 and grad > 0."""
    return _input_gradient(replace_relus(model, lambda: _Apply(_Guided)), X, c)[1]


@torch.no_grad()
def activations(model, X, indices):
    """Outputs of ``model.features[i]`` for i in ``indices`` (copies, safe from in-place ReLUs)."""
    wanted, out, h = set(indices), {}, X
    for i, layer in enumerate(model.features):
        h = layer(h)
        if i in wanted:
            out[i] = h.clone()
        if i >= max(wanted):
            break
    return [out[i] for i in indices]


def class_model(model, c, shape, lam=0.1, steps=100, lr=0.1, progress=False):
    """Gradient ascent on S_c(I) - λ‖I‖² from I = 0, ``steps`` plain steps of size ``lr``."""
    from tqdm.auto import trange

    image = torch.zeros(shape, requires_grad=True)
    for _ in trange(steps, disable=not progress, desc="class model"):
        objective = model(image)[0, c] - lam * (image ** 2).sum()
        (gradient,) = torch.autograd.grad(objective, image)
        with torch.no_grad():
            image += lr * gradient
    return image.detach()


def saturation(i1, i2):
    """y = 1 - relu(1 - i1 - i2) and its gradient by autograd: (y, dy/di1, dy/di2)."""
    x = torch.tensor([float(i1), float(i2)], dtype=torch.float64, requires_grad=True)
    y = 1 - torch.relu(1 - x[0] - x[1])
    (gradient,) = torch.autograd.grad(y, x)
    return float(y.detach()), float(gradient[0]), float(gradient[1])


# ------------------------------------------------------ explicit LRP (independent)


def _unfold(conv, x):
    return F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)


def _fold(conv, columns, size):
    return F.fold(columns, size, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)


def lrp_gamma_explicit(conv, a, R_out, gamma):
    """R_j = Σ_k a_j (w_jk + γ w⁺_jk) / (Σ_j' a_j' (w_j'k + γ w⁺_j'k) + b_k + γ b⁺_k) · R_k,
    written with unfolded patches (matrix form)."""
    W = conv.weight.detach().reshape(conv.out_channels, -1)
    Wp = W + gamma * W.clamp(min=0)
    b = conv.bias.detach() if conv.bias is not None else torch.zeros(conv.out_channels, dtype=W.dtype)
    bp = (b + gamma * b.clamp(min=0))[None, :, None]
    columns = _unfold(conv, a)                                   # (N, C_in·k·k, positions)
    denominator = Wp @ columns + bp                               # (N, C_out, positions)
    s = R_out.reshape(denominator.shape) / denominator.where(denominator != 0, torch.ones_like(denominator))
    return _fold(conv, columns * (Wp.T @ s), a.shape[-2:])


def zb_explicit(conv, x, low, high, R_out):
    """zB rule: R_i = Σ_k (x_i w_ik - l_i w⁺_ik - h_i w⁻_ik) / Σ_i' (…) · R_k."""
    W = conv.weight.detach().reshape(conv.out_channels, -1)
    Wp, Wn = W.clamp(min=0), W.clamp(max=0)
    cx, cl, ch = _unfold(conv, x), _unfold(conv, low), _unfold(conv, high)
    denominator = W @ cx - Wp @ cl - Wn @ ch
    s = R_out.reshape(denominator.shape) / denominator
    return _fold(conv, cx * (W.T @ s) - cl * (Wp.T @ s) - ch * (Wn.T @ s), x.shape[-2:])


@torch.no_grad()
def lrp_explicit(model, X, c, L, H):
    """LRP of a VGG (features, avgpool, classifier) with the sheet's rules, layer by layer:
    zB on the first convolution, LRP-γ (γ of the block) on the others, LRP-0 on Linear,
    relevance passed through ReLU/Dropout/Flatten, winner-take-all on max-pooling."""
    gamma_of = {index: block_gamma(b) for b, indices in enumerate(conv_blocks(model)) for index in indices}
    first = first_conv(model)
    layers = list(model.features) + [model.avgpool, torch.nn.Flatten()] + list(model.classifier)
    inputs, h = [], X
    for layer in layers:
        inputs.append(h)
        if isinstance(layer, torch.nn.MaxPool2d):
            h, switches = F.max_pool2d(h, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                                       ceil_mode=layer.ceil_mode, return_indices=True)
            inputs[-1] = (inputs[-1], switches)
        else:
            h = layer(h.clone()) if not isinstance(layer, torch.nn.ReLU) else h.clamp(min=0)
    R = torch.zeros_like(h)
    R[:, c] = h[:, c]
    for index in reversed(range(len(layers))):
        layer, a = layers[index], inputs[index]
        if isinstance(layer, torch.nn.Conv2d):
            R = zb_explicit(layer, a, L, H, R) if index == first else lrp_gamma_explicit(layer, a, R, gamma_of[index])
        elif isinstance(layer, torch.nn.Linear):
            z = a @ layer.weight.T + layer.bias
            R = a * ((R / z.where(z != 0, torch.ones_like(z))) @ layer.weight)
        elif isinstance(layer, torch.nn.MaxPool2d):
            a, switches = a
            R = F.max_unpool2d(R, switches, layer.kernel_size, layer.stride, layer.padding, output_size=a.shape[-2:])
        elif isinstance(layer, torch.nn.Flatten):
            R = R.reshape(a.shape)
        elif isinstance(layer, (torch.nn.ReLU, torch.nn.Dropout, torch.nn.Identity)):
            pass
        elif isinstance(layer, torch.nn.AdaptiveAvgPool2d) and tuple(a.shape[-2:]) == tuple(R.shape[-2:]):
            pass  # the identity at this input size
        else:
            raise TypeError(f"lrp_explicit does not handle {type(layer).__name__}")
    return R


def zennit_setup(model, L, H, epsilon=1e-9, stabilizer=1e-6):
    """A copy of ``model`` (out-of-place ReLUs, which Zennit's hooks need) and the Zennit
    composite of the sheet's rules: ZBox(L, H) on the first convolution, Gamma(γ of the
    block) on the others, Epsilon(ε) on Linear, Pass on ReLU, nothing on max-pooling.
    ``stabilizer`` is Zennit's ε added to the denominators of ZBox and Gamma."""
    from zennit.composites import LayerMapComposite, MixedComposite, NameMapComposite
    from zennit.rules import Epsilon, Gamma, Pass, ZBox

    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    first = first_conv(model)
    name_map = [((f"features.{first}",), ZBox(low=L, high=H, stabilizer=stabilizer))]
    for block, indices in enumerate(conv_blocks(model)):
        names = tuple(f"features.{i}" for i in indices if i != first)
        if names:
            name_map.append((names, Gamma(gamma=block_gamma(block), stabilizer=stabilizer)))
    layer_map = [(torch.nn.ReLU, Pass()), (torch.nn.Linear, Epsilon(epsilon=epsilon))]
    return model, MixedComposite([NameMapComposite(name_map), LayerMapComposite(layer_map)])


def logit_of(c):
    """Zennit's output relevance: the logit of class ``c``, zero elsewhere."""
    return lambda out: out * F.one_hot(torch.full((len(out),), c), out.shape[1]).to(out)


def zennit_lrp(model, X, c, L, H, epsilon=1e-9, stabilizer=1e-6):
    """The sheet's LRP computed by Zennit; the output relevance is the class logit.
    Returns (relevance, output)."""
    from zennit.attribution import Gradient

    model, composite = zennit_setup(model, L, H, epsilon, stabilizer)
    with Gradient(model=model, composite=composite) as attributor:
        output, relevance = attributor(X.detach(), logit_of(c))
    return relevance, output


# ---------------------------------------------------------------- test networks


def small_vgg(seed, cfg=(4, 5, "M", 6, 6, "M", 8, "M"), size=16, classes=5, bias=True, dtype=torch.float64):
    """A small random VGG (torchvision's VGG class) for hidden tests: fast, no weights."""
    from utils.vgg import make_features

    torch.manual_seed(seed)
    features = make_features(cfg)
    model = torchvision.models.VGG(features, num_classes=classes, init_weights=False)
    channels = [c for c in cfg if c != "M"][-1]
    side = size // 2 ** cfg.count("M")
    model.avgpool = torch.nn.Identity()
    model.classifier = torch.nn.Sequential(
        torch.nn.Linear(channels * side * side, 12), torch.nn.ReLU(inplace=True), torch.nn.Dropout(0.5),
        torch.nn.Linear(12, classes))
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
                fan_in = layer.weight[0].numel()
                layer.weight.normal_(0.0, (2.0 / fan_in) ** 0.5)
                layer.bias.normal_(0.0, 0.1) if bias else layer.bias.zero_()
    return model.to(dtype).eval()


@handed_to_students
class TwiceReLUNet(torch.nn.Module):
    """conv → relu → conv → relu (the same in-place ReLU module) → max-pool → linear."""

    def __init__(self, seed, dtype=torch.float64):
        super().__init__()
        torch.manual_seed(seed)
        self.conv1 = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(4, 4, 3, padding=1)
        self.relu = torch.nn.ReLU(inplace=True)
        self.pool = torch.nn.MaxPool2d(2)
        self.linear = torch.nn.Linear(4 * 4 * 4, 3)
        self.to(dtype)

    def forward(self, x):
        h = self.relu(self.conv1(x))
        h = self.relu(self.conv2(h))
        return self.linear(self.pool(h).flatten(1))


def modified_backward_explicit(net: TwiceReLUNet, X, c, rule):
    """The modified gradient of :class:`TwiceReLUNet`, written out layer by layer; ``rule``
    maps (pre-activation, incoming gradient) to the gradient below the ReLU."""
    x = X.detach().clone().requires_grad_(True)
    z1 = F.conv2d(x, net.conv1.weight, net.conv1.bias, padding=1)
    a1 = z1.clamp(min=0).detach().requires_grad_(True)
    z2 = F.conv2d(a1, net.conv2.weight, net.conv2.bias, padding=1)
    a2 = z2.clamp(min=0).detach().requires_grad_(True)
    out = F.linear(F.max_pool2d(a2, 2).flatten(1), net.linear.weight, net.linear.bias)
    (g,) = torch.autograd.grad(out[:, c].sum(), a2)   # linear and max-pool: plain gradient
    (g,) = torch.autograd.grad(z2, a1, rule(z2.detach(), g))  # conv2 transposed
    (g,) = torch.autograd.grad(z1, x, rule(z1.detach(), g))   # conv1 transposed
    return g


RULES = {
    "gradient": lambda z, g: g * (z > 0),
    "deconvnet": lambda z, g: g.clamp(min=0),
    "guided_backprop": lambda z, g: g.clamp(min=0) * (z > 0),
}

# ------------------------------------------------------------------------- checks


def _compare(actual, expected, name, tolerance=1e-6):
    expected = as_array(expected, name="the reference")
    actual = as_array(actual, shape=expected.shape, name=name)
    error = relative_error(actual, expected)
    if not error <= tolerance:
        raise GradingError(f"{name} differs from the expected values: relative L2 error {error:.3g} "
                           f"(allowed {tolerance:g})")
    return actual


def _inputs(seed, shape=(2, 3, 16, 16)):
    return torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, shape))


def _check_gradient_method(student, reference, name, seeds=(301, 302)):
    for seed in seeds:
        model, X = small_vgg(seed), _inputs(seed + 1000)
        c = seed % 5
        expected = reference(model, X, c)
        actual = _call(student, copy.deepcopy(model), X.clone(), c, name=name)
        _compare(actual, expected, f"{name}(model, X, c={c})")


def check_gradient_x_input(gradient_x_input_fn):
    """Gradient×Input on small random VGGs against the autograd definition."""
    _check_gradient_method(gradient_x_input_fn, gradient_x_input, "gradient_x_input")


def check_saliency(saliency_fn):
    """Saliency (max over channels of |gradient|), shape (N, H, W)."""
    _check_gradient_method(saliency_fn, saliency, "saliency")


def check_conv(ConvClass):
    """``Conv(conv, gamma)`` keeps the forward values and its gradient trick gives the
    explicit LRP-γ redistribution; with zero biases relevance is conserved."""
    for seed, gamma, bias in ((311, 0.25, True), (312, 1.0, True), (313, 0.0, True), (314, 0.5, False)):
        generator = torch.Generator().manual_seed(seed)
        conv = torch.nn.Conv2d(3, 4, 3, padding=1, stride=1 + seed % 2).double()
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator, dtype=torch.float64) * 0.3)
            conv.bias.copy_(torch.rand(4, generator=generator, dtype=torch.float64) * 0.2 if bias else torch.zeros(4))
        weight_before = conv.weight.detach().clone()
        a = torch.rand((2, 3, 6, 6), generator=generator, dtype=torch.float64)  # ReLU activations are >= 0
        z = F.conv2d(a, weight_before, conv.bias.detach(), stride=conv.stride, padding=1)
        R_out = torch.rand(z.shape, generator=generator, dtype=torch.float64)
        layer = _call(ConvClass, copy.deepcopy(conv), gamma, name=f"Conv(conv, {gamma})")
        a_in = a.clone().requires_grad_(True)
        out = _call(layer, a_in, name="Conv.forward")
        if type(out) is not torch.Tensor:
            raise GradingError(f"Conv.forward should return a torch.Tensor, got {type(out).__name__}")
        _compare(out, z, f"Conv.forward (γ={gamma})", 1e-9)
        try:
            (gradient,) = torch.autograd.grad(out, a_in, R_out / z)
        except RuntimeError as error:
            raise GradingError(f"the output of Conv.forward cannot be differentiated w.r.t. its input: {error}") from None
        R_in = as_array(a * gradient, name="the relevance")
        expected = lrp_gamma_explicit(conv, a, R_out, gamma)
        _compare(R_in, expected, f"the LRP-γ relevance of Conv (γ={gamma}, stride {conv.stride[0]})", 1e-7)
        if not bias and abs(R_in.sum() - float(R_out.sum())) > 1e-7 * float(R_out.sum()):
            raise GradingError("with zero biases Conv must conserve relevance: Σ R_in ≠ Σ R_out")
        if not torch.equal(conv.weight.detach(), weight_before):
            raise GradingError("Conv changed the weights of the convolution it wraps; copy them (utils.newlayer)")


def check_lrp(build_lrp_model_fn, lrp_fn):
    """``lrp(build_lrp_model(model), X, c, L, H)`` on small random VGGs against the explicit
    layer-by-layer LRP (zB, LRP-γ per block, LRP-0 on dense layers); conservation with zero
    biases; the original model stays unchanged."""
    for seed, bias in ((321, True), (322, False)):
        model = small_vgg(seed, bias=bias)
        X = _inputs(seed + 1000)
        L, H = -torch.ones_like(X), torch.ones_like(X)
        c = seed % 5
        expected = lrp_explicit(model, X, c, L, H)
        logits_before = model(X).detach()
        student_model = copy.deepcopy(model)
        lrpmodel = _call(build_lrp_model_fn, student_model, name="build_lrp_model")
        R = _call(lrp_fn, lrpmodel, X.clone(), c, L.clone(), H.clone(), name="lrp")
        R = _compare(R, expected, f"lrp(build_lrp_model(model), X, c={c}, L, H)", 1e-6)
        try:
            unchanged = torch.allclose(student_model(X), logits_before)
        except Exception:  # the layers were replaced by ones that need (X, L, H)
            unchanged = False
        if not unchanged:
            raise GradingError("build_lrp_model changed the model it was given; work on a copy (copy.deepcopy)")
        if not bias:
            sums, logits = R.reshape(len(R), -1).sum(1), logits_before[:, c].numpy()
            if not np.allclose(sums, logits, rtol=1e-6, atol=1e-9):
                raise GradingError(f"with zero biases the relevance should sum to the logit {logits}, got {sums}")


def check_modified_relus(deconvnet_fn, guided_backprop_fn):
    """DeconvNet and guided backprop against their layer-by-layer definitions, on a network
    whose one in-place ReLU module is used twice; the plain gradient must stay untouched."""
    for seed in (331, 332):
        net, X = TwiceReLUNet(seed), _inputs(seed + 1000, (2, 3, 8, 8))
        c = seed % 3
        for name, function in (("deconvnet", deconvnet_fn), ("guided_backprop", guided_backprop_fn)):
            expected = modified_backward_explicit(net, X, c, RULES[name])
            actual = _call(function, net, X.clone(), c, name=name)
            _compare(actual, expected, f"{name} (network with one in-place ReLU used twice)", 1e-9)
        plain = modified_backward_explicit(net, X, c, RULES["gradient"])
        x = X.clone().requires_grad_(True)
        (after,) = torch.autograd.grad(net(x)[:, c].sum(), x)
        if relative_error(after, plain) > 1e-9:
            raise GradingError("after deconvnet/guided_backprop the model's own gradient changed: "
                               "leave the model as it was (work on a copy, remove hooks)")


def check_activations(activations_fn):
    """Feature maps of chosen layers (after the layer), unaffected by later in-place ReLUs."""
    model, X = small_vgg(341), _inputs(1341, (1, 3, 16, 16))
    for indices in ([0], [0, 1, 3], [2, 5]):
        expected = activations(model, X, indices)
        result = _call(activations_fn, model, X.clone(), list(indices), name="activations")
        try:
            result = list(result)
        except TypeError:
            raise GradingError(f"activations should return a list of tensors, got {type(result).__name__}") from None
        if len(result) != len(indices):
            raise GradingError(f"activations(model, X, {indices}) should return {len(indices)} maps, got {len(result)}")
        for index, actual, reference in zip(indices, result, expected):
            _compare(actual, reference, f"the feature map of layer {index} ({type(model.features[index]).__name__})", 1e-9)


def check_class_model(class_model_fn):
    """On a linear score S_c(I) = w_c·I + b_c the maximiser of S_c(I) − λ‖I‖² is w_c/(2λ);
    on a small ReLU network the result is the stated gradient ascent from I = 0."""
    torch.manual_seed(351)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 4))  # float32, like I = 0
    for c, lam in ((1, 0.5), (3, 2.0)):
        expected = linear[1].weight.detach()[c].reshape(1, 3, 4, 4) / (2 * lam)
        actual = _call(class_model_fn, linear, c, (1, 3, 4, 4), lam, 300, 0.1 / lam, name="class_model")
        _compare(actual, expected, f"class_model on a linear model (c={c}, λ={lam})", 1e-5)
    model = small_vgg(352, size=8, cfg=(4, "M", 6, "M"))
    expected = class_model(model.float(), 2, (1, 3, 8, 8), 0.05, 20, 0.2)
    actual = _call(class_model_fn, model.float(), 2, (1, 3, 8, 8), 0.05, 20, 0.2, name="class_model")
    _compare(actual, expected, "class_model on a small VGG (20 steps from I = 0)", 1e-4)


def check_saturation(saturation_fn):
    """y = 1 − relu(1 − i₁ − i₂) and its gradient, against the piecewise formula."""
    for i1, i2 in ((1.0, 1.0), (0.2, 0.3), (0.0, 0.5), (2.0, -0.5), (0.7, 0.6), (-1.0, 0.5)):
        below = i1 + i2 < 1
        expected = [i1 + i2 if below else 1.0, 1.0 if below else 0.0, 1.0 if below else 0.0]
        actual = as_array(_call(saturation_fn, i1, i2, name="saturation"), name=f"saturation({i1}, {i2})")
        if actual.shape != (3,):
            raise GradingError(f"saturation should return (y, dy/di1, dy/di2), got shape {actual.shape}")
        if not np.allclose(actual, expected, atol=1e-9):
            raise GradingError(f"saturation({i1}, {i2}) should be {tuple(expected)}, got {tuple(actual)}")
