"""Sheet 3 (VGG): reference solutions, and the networks the checks rebuild from challenges.

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

The checks (``checks.py``) rebuild the challenge's small networks with
:func:`vgg_from_arrays` and :func:`twice_relu_net_from_arrays` and compare the student's
results with these references, run on the CPU in float64.
"""
import copy

import numpy as np
import torch
import torch.nn.functional as F

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


class _Geometry:
    """Stride, padding and dilation of a convolution, and how to run its input gradient.

    For a stride-1 convolution the input gradient (a transposed convolution) equals an
    ordinary convolution of the output signal with the weights transposed and flipped,
    padded by ``dilation · (kernel − 1) − padding``; the LRP layers use it where it
    applies (same numbers; on one CPU thread the two cost the same, with two threads
    oneDNN's forward kernel was up to 10–15 % faster on single layers of VGG-16 on a
    loaded machine).
    """

    def __init__(self, conv):
        if conv.groups != 1 or isinstance(conv.padding, str):
            raise ValueError("the LRP layers support ungrouped convolutions with numeric padding (as in VGG)")
        self.stride, self.padding, self.dilation = conv.stride, conv.padding, conv.dilation
        kernel = conv.kernel_size
        self.flipped_padding = tuple(d * (k - 1) - p for d, k, p in zip(self.dilation, kernel, self.padding))
        self.as_forward = all(s == 1 for s in self.stride) and min(self.flipped_padding) >= 0

    def forward(self, X, weight, bias=None):
        return F.conv2d(X, weight, bias, self.stride, self.padding, self.dilation)

    def input_gradient(self, shape, weight, flipped_weight, signal):
        """∂/∂input of Σ signal · conv_weight(input), for an input of ``shape``."""
        if self.as_forward:
            return F.conv2d(signal, flipped_weight, None, 1, self.flipped_padding, self.dilation)
        return torch.nn.grad.conv2d_input(shape, weight, signal, self.stride, self.padding, self.dilation)


def _flipped(weight):
    """Weights (out, in, h, w) of the transposed convolution written as a convolution."""
    return weight.transpose(0, 1).flip(2, 3).contiguous()


def _ratio_and_output(z, p, relu):
    """The output of the layer (z, or relu(z) when a ReLU is fused) and [output / p]_cst,
    the factor of the backward signal.  p = 0 only where nothing flows: the factor is 0
    there.  With the ReLU fused the factor is 0 where z <= 0, the ReLU's own gradient."""
    out = z.clamp(min=0) if relu else z.clone()  # a tensor of its own: later layers may work in place
    ratio = torch.div(out, p).nan_to_num_(0.0, 0.0, 0.0)
    return out, ratio


class _GammaConvFunction(torch.autograd.Function):
    """Forward: z = conv_w(a) and p = conv_{w'}(a) in one convolution with the two weight
    sets stacked; returns z (or relu(z)).  Backward: w'ᵀ(g · z/p), the gradient of
    p · [z/p]_cst (times the ReLU's mask 1(z > 0) when it is fused)."""

    @staticmethod
    def forward(ctx, X, stacked_weight, stacked_bias, modified_weight, flipped_weight, geometry, relu):
        z, p = geometry.forward(X, stacked_weight, stacked_bias).chunk(2, dim=1)
        out, ratio = _ratio_and_output(z, p, relu)
        ctx.save_for_backward(ratio, modified_weight, flipped_weight)
        ctx.geometry, ctx.shape = geometry, X.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        ratio, modified_weight, flipped_weight = ctx.saved_tensors
        grad_X = ctx.geometry.input_gradient(ctx.shape, modified_weight, flipped_weight, grad * ratio)
        return grad_X, None, None, None, None, None, None


class Conv(torch.nn.Module):
    """LRP-γ for a convolution on ReLU activations by the gradient trick: the output keeps
    the value z = conv(a) but its gradient is that of p = conv_{w + γw⁺}(a) rescaled by
    [z/p]_cst.  Both convolutions run as one (weights stacked), the backward pass
    through w + γw⁺ only; the notebook's version ``p * (z / p).detach()`` is the same map.
    With ``relu=True`` the layer also applies the ReLU that follows the convolution
    (values relu(z), gradient masked by 1(z > 0)): one pass over the output less each way."""

    def __init__(self, conv, gamma, relu=False):
        super().__init__()
        self.geometry = _Geometry(conv)
        self.conv, self.relu = conv, relu
        self.pconv = newlayer(conv, lambda p: p + gamma * p.clamp(min=0))
        bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)
        pbias = self.pconv.bias if self.pconv.bias is not None else bias
        self.register_buffer("stacked_weight", torch.cat([conv.weight.detach(), self.pconv.weight.detach()]))
        self.register_buffer("stacked_bias", torch.cat([bias.detach(), pbias.detach()]))
        self.register_buffer("flipped_weight", _flipped(self.pconv.weight.detach()))

    def forward(self, X):
        return _GammaConvFunction.apply(X, self.stacked_weight, self.stacked_bias, self.pconv.weight.detach(),
                                        self.flipped_weight, self.geometry, self.relu)


class _ZBoxConvFunction(torch.autograd.Function):
    """zB with two convolutions where :class:`utils.vgg.ConvPx` runs three: v = conv_w(X)
    on the pixels and u = conv_{w⁺}(L) + conv_{w⁻}(H) as one convolution of (L, H) stacked
    on the channel axis with the weights (w⁺, w⁻); then z = v + b and p = v − u (the
    biases cancel in p).  Backward: with s = grad · [z/p]_cst, the gradients of p · [z/p]_cst
    are −w⁺ᵀs for L and −w⁻ᵀs for H, from one transposed convolution of s, and wᵀs for X,
    their negated sum (w = w⁺ + w⁻).  Stacking (X, L, H) into one convolution instead would
    run twice the multiplications forward (the weights (w, 0, 0) and (w, −w⁺, −w⁻) on nine
    channels) and one and a half times backward."""

    @staticmethod
    def forward(ctx, X, L, H, weight, bias, bounds_weight, flipped_bounds_weight, geometry, relu):
        bounds = torch.cat([L, H], dim=1)
        pixels = geometry.forward(X, weight)
        p = pixels - geometry.forward(bounds, bounds_weight)
        z = pixels.add_(bias[None, :, None, None])
        out, ratio = _ratio_and_output(z, p, relu)
        ctx.save_for_backward(ratio, bounds_weight, flipped_bounds_weight)
        ctx.geometry, ctx.shape = geometry, bounds.shape
        return out

    @staticmethod
    def backward(ctx, grad):
        ratio, bounds_weight, flipped_bounds_weight = ctx.saved_tensors
        positive, negative = ctx.geometry.input_gradient(
            ctx.shape, bounds_weight, flipped_bounds_weight, grad * ratio).chunk(2, dim=1)
        return positive + negative, -positive, -negative, None, None, None, None, None, None


class ZBoxConv(torch.nn.Module):
    """The zB rule of :class:`utils.vgg.ConvPx` (same values, same gradients) in two
    convolutions forward and one backward; used by the reference LRP model.  ``relu=True``
    fuses the ReLU that follows, as in :class:`Conv`."""

    def __init__(self, conv, relu=False):
        super().__init__()
        self.geometry = _Geometry(conv)
        self.conv, self.relu = conv, relu
        w = conv.weight.detach()
        self.register_buffer("pixel_weight", w.clone())
        bounds_weight = torch.cat([w.clamp(min=0), w.clamp(max=0)], dim=1)  # on (L, H)
        self.register_buffer("bounds_weight", bounds_weight)
        self.register_buffer("flipped_bounds_weight", _flipped(bounds_weight))
        bias = conv.bias.detach() if conv.bias is not None else w.new_zeros(conv.out_channels)
        self.register_buffer("bias", bias)

    def forward(self, inputs):
        X, L, H = inputs
        return _ZBoxConvFunction.apply(X, L, H, self.pixel_weight, self.bias, self.bounds_weight,
                                       self.flipped_bounds_weight, self.geometry, self.relu)


def build_lrp_model(model):
    """A copy of a VGG whose first convolution follows zB and every other convolution
    LRP-γ with the γ of its block; the dense layers stay as they are.  A ReLU right after
    a convolution is fused into the LRP layer (and replaced by the identity)."""
    lrpmodel = copy.deepcopy(model).eval()
    features = lrpmodel.features
    first = first_conv(lrpmodel)
    for block, indices in enumerate(conv_blocks(lrpmodel)):
        for index in indices:
            layer = features[index]
            relu = index + 1 < len(features) and type(features[index + 1]) is torch.nn.ReLU
            if relu:
                features[index + 1] = torch.nn.Identity()
            features[index] = ZBoxConv(layer, relu) if index == first else Conv(layer, block_gamma(block), relu)
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


def class_model(model, c, shape, lam=0.1, steps=100, lr=0.1, progress=False, dtype=torch.float32):
    """Gradient ascent on S_c(I) - λ‖I‖² from I = 0, ``steps`` plain steps of size ``lr``
    (I in ``dtype``: float32 as in the sheet, float64 for the checks)."""
    from tqdm.auto import trange

    image = torch.zeros(shape, dtype=dtype, requires_grad=True)
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
    """A small random VGG (the course's :class:`utils.vgg.VGG`, torchvision's layout) for
    tests: fast, no weights."""
    from utils.vgg import VGG, make_features

    torch.manual_seed(seed)
    features = make_features(cfg)
    channels = [c for c in cfg if c != "M"][-1]
    side = size // 2 ** cfg.count("M")
    model = VGG(features, torch.nn.Identity(), torch.nn.Sequential())
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


class TwiceReLUNet(torch.nn.Module):
    """conv → relu → conv → relu (the same in-place ReLU module) → max-pool → linear."""

    def __init__(self, seed=None, dtype=torch.float64):
        super().__init__()
        if seed is not None:
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

# ------------------------------------------------------- networks of the challenges


def vgg_from_arrays(arrays, prefix="", dtype=torch.float64):
    """The small VGG of a challenge (eval mode): ``<prefix>cfg`` lists the widths of the
    3×3 convolutions (padding 1, each followed by an in-place ReLU), 0 standing for a 2×2
    max-pooling; the classifier is Linear–ReLU–Dropout–Linear; the weights are stored
    under their ``state_dict`` names after ``prefix``."""
    from utils.vgg import VGG, make_features

    cfg = ["M" if int(width) == 0 else int(width) for width in arrays[prefix + "cfg"]]
    hidden, inputs = arrays[prefix + "classifier.0.weight"].shape
    classes = arrays[prefix + "classifier.3.weight"].shape[0]
    classifier = torch.nn.Sequential(torch.nn.Linear(inputs, hidden), torch.nn.ReLU(inplace=True),
                                     torch.nn.Dropout(0.5), torch.nn.Linear(hidden, classes))
    model = VGG(make_features(cfg), torch.nn.Identity(), classifier).to(dtype)
    model.load_state_dict({key[len(prefix):]: torch.as_tensor(np.asarray(value), dtype=dtype)
                           for key, value in arrays.items() if key.startswith((prefix + "features.", prefix + "classifier."))})
    return model.eval()


def twice_relu_net_from_arrays(arrays, case, dtype=torch.float64):
    """The :class:`TwiceReLUNet` of a challenge, its weights stored as ``<name>_<case>``."""
    net = TwiceReLUNet(dtype=dtype)
    net.load_state_dict({name: torch.as_tensor(np.asarray(arrays[f"{name}_{case}"]), dtype=dtype)
                         for name in net.state_dict()})
    return net.eval()


# --- Lecture methods: occlusion, class-averaged saliency, filter visualisation, mean image
#
# References of the four methods of the lecture added at the end of the sheet, written
# plainly (loops over window positions and steps) and in the dtype of their inputs, so
# that the checks can run them in float64.


def window_starts(length: int, size: int, stride: int) -> list:
    """Upper-left corners of the occlusion windows along one axis: 0, s, 2s, … up to the
    first start whose window reaches the border, ceil((length − size)/stride) + 1 starts
    in all; the last window may stick out and is cut at the border (as in Captum)."""
    if not 0 < size <= length or not 0 < stride <= size:
        raise ValueError(f"need 0 < stride ≤ size ≤ length, got stride {stride}, size {size}, length {length}")
    count = -(-(length - size) // stride) + 1
    return [j * stride for j in range(count)]


@torch.no_grad()
def occlusion(model, X, c, size, stride, baseline=0.0):
    """Occlusion (Zeiler & Fergus, 2014): a size×size window over all channels is set to
    ``baseline`` at every position of :func:`window_starts`; each input dimension gets the
    mean drop f_c(x) − f_c(x with the window occluded) over the windows that cover it."""
    X = X.detach()
    N, _, height, width = X.shape
    score = model(X)[:, c]
    total = torch.zeros_like(X)
    count = torch.zeros_like(X)
    for top in window_starts(height, size, stride):
        for left in window_starts(width, size, stride):
            occluded = X.clone()
            occluded[:, :, top:top + size, left:left + size] = baseline
            drop = score - model(occluded)[:, c]
            total[:, :, top:top + size, left:left + size] += drop[:, None, None, None]
            count[:, :, top:top + size, left:left + size] += 1
    return total / count


def filter_images(model):
    """The filters of the first convolution as images: each filter (all its channels)
    scaled to [0, 1] by its own minimum and maximum; shape (out, in, k, k)."""
    weight = model.features[first_conv(model)].weight.detach()
    flat = weight.reshape(len(weight), -1)
    low = flat.min(1).values[:, None, None, None]
    high = flat.max(1).values[:, None, None, None]
    return (weight - low) / (high - low)


def maximise_channel(model, layer, channel, start, lam, steps, lr):
    """Activation maximisation: ``steps`` steps of gradient ascent from ``start`` on
    mean_ij a_{channel,ij}(I) − λ‖I‖², with a the output of ``model.features[layer]``."""
    head = model.features[:layer + 1]
    image = start.detach().clone()
    for _ in range(steps):
        image.requires_grad_(True)
        objective = head(image)[0, channel].mean() - lam * (image ** 2).sum()
        (gradient,) = torch.autograd.grad(objective, image)
        image = (image + lr * gradient).detach()
    return image


def class_model_with_mean(model, c, mean_image, lam, steps, lr):
    """Simonyan's class model for a network on centred images: gradient ascent on
    S_c(I + m) − λ‖I‖² from I = 0, then the mean image m added back: returns I* + m."""
    image = torch.zeros_like(mean_image)
    for _ in range(steps):
        image.requires_grad_(True)
        objective = model(image + mean_image)[0, c] - lam * (image ** 2).sum()
        (gradient,) = torch.autograd.grad(objective, image)
        image = (image + lr * gradient).detach()
    return image + mean_image


def class_averaged_saliency(model, centred, labels, mean_image, n_classes):
    """Row k: the mean over the images of class k of Simonyan's saliency map for class k,
    taken for the network on centred images, f̃(I) = f(I + m); zeros for a class without
    images.  Shape (n_classes, H, W)."""
    labels = np.asarray(labels)
    _, _, height, width = centred.shape
    result = torch.zeros((n_classes, height, width), dtype=centred.dtype)
    for k in range(n_classes):
        chosen = np.flatnonzero(labels == k)
        maps = [saliency(model, centred[n:n + 1] + mean_image, k)[0] for n in chosen]
        if maps:
            result[k] = torch.stack(maps).mean(0)
    return result
