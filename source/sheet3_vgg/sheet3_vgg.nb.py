# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Sheet 3: Explaining a VGG network — Gradient×Input, LRP and the gradient family
#
# In this sheet you explain the decisions of a VGG network (Simonyan & Zisserman, "Very
# deep convolutional networks for large-scale image recognition", ICLR 2015) with
#
# * **Gradient×Input**, $R_i = x_i\,\partial f/\partial x_i$;
# * **Layer-wise Relevance Propagation** (LRP; Montavon et al., "Layer-Wise Relevance
#   Propagation: An Overview", 2019), implemented with the *gradient trick*;
# * the **gradient family**: saliency maps (Simonyan et al., "Deep inside convolutional
#   networks", 2013), DeconvNet (Zeiler & Fergus, 2014) and guided backpropagation
#   (Springenberg et al., "Striving for simplicity", 2015);
# * **activation visualisation** and **class-model visualisation**;
# * **occlusion**, a perturbation method (Zeiler & Fergus, 2014), **filter visualisation**
#   and **activation maximisation** of a channel, and the **mean image** of the training
#   set in the class model and in class-averaged saliency maps;
#
# and you look at the **saturation** problem of gradients.
#
# **Which model.** The sheet works with two models through the same code:
#
# * VGG-16 with torchvision's ImageNet weights: from your torch cache, or downloaded once
#   (528 MB, with a progress bar) when your machine is online. It explains matplotlib's
#   sample photo of Grace Hopper for ImageNet class 652, "military uniform", unless you
#   name an image of your own in `IMAGE_PATH` below (for a photo of a castle, say, set
#   `IMAGE_CLASS = 483`, "castle");
# * otherwise the course's VGG-style CIFAR-10 network (three blocks of two convolutions,
#   trained by `python -m utils.train_vgg`; its weights ship with the course), explained on
#   CIFAR-10 test images.
#
# Both are `utils.vgg.VGG` modules, laid out as torchvision's VGG: `model.features` (the
# convolutions, ReLUs and max-poolings), `model.avgpool` and `model.classifier`.
#
# The cell below says which one is used. To keep the CIFAR-10 network on a machine that
# is online, set the environment variable `COURSE_NO_DOWNLOAD=1` before starting Jupyter.
# While the notebook is graded nothing is downloaded.
#
# **Where it runs.** `utils.device()` is the GPU when PyTorch sees one and the CPU
# otherwise (the environment variable `COURSE_DEVICE=cpu` forces the CPU). The model and
# the images are put there; write your functions so that they work on the device of the
# tensors and the model they are given (create new tensors with `device=X.device`, or
# with `torch.zeros_like(X)` and the like).
#
# **TF32.** Recent NVIDIA GPUs compute float32 convolutions by default in TF32, a format
# with about three significant digits. A network's output hardly changes, but LRP divides
# by many small denominators: on VGG-16, LRP by the gradient trick and Zennit's LRP
# differed by 4–6 % with TF32 (and Integrated Gradients from Captum's by 4 %), against
# 10⁻⁵ without it. This sheet checks that relevance is conserved and compares methods, so
# the cell below turns TF32 off (`torch.backends.cudnn.allow_tf32` and
# `torch.backends.cuda.matmul.allow_tf32`); on a CPU this changes nothing.
#
# You will write code for
# thirteen tasks (40 points, checked automatically) and answer one question (2 points, read
# by the instructors). When the notebook is graded it runs in *fast mode* (fewer images and
# optimisation steps); the checks use their own small random networks.

# %%
# NBVAL_CHECK_OUTPUT
import copy

import matplotlib.pyplot as plt
import numpy
import torch
from tqdm.auto import tqdm

import utils
from utils import vgg
from utils.runmode import pick

torch.manual_seed(0)
device = utils.device()  # the GPU when there is one; COURSE_DEVICE=cpu forces the CPU
# exact float32 on GPUs (see TF32 above): this sheet checks conservation and compares methods
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False

IMAGE_PATH = None  # an image of your own for VGG-16, e.g. "castle.jpg"; None: matplotlib's sample photo
IMAGE_CLASS = None  # the ImageNet class explained in your image, e.g. 483 ("castle"); None: the predicted one

# VGG-16 from the torch cache, or downloaded when the machine is online; else the CIFAR-10 VGG
loaded = vgg.load_vgg("auto")
model = loaded.model.to(device)
if loaded.kind == "imagenet":
    X = vgg.imagenet_image(vgg.sample_photo() if IMAGE_PATH is None else IMAGE_PATH).to(device)
    if IMAGE_PATH is None:
        c = vgg.MILITARY_UNIFORM  # Grace Hopper in uniform
    elif IMAGE_CLASS is None:
        with torch.no_grad():
            c = int(model(X).argmax(1)[0])
    else:
        c = int(IMAGE_CLASS)
else:
    images, labels = vgg.cifar_test_images(100)
    images = images.to(device)
    with torch.no_grad():
        predicted = model(images).argmax(1).cpu().numpy()
    first = int(numpy.flatnonzero(predicted == labels)[0])  # the first correctly classified image
    X, c = images[first:first + 1], int(labels[first])
print("Model:", loaded.description)
print("Device:", device)
print(f"Explaining class {c} ({loaded.classes[c]}) for an input of shape {tuple(X.shape)}")

# %% [markdown]
# The model takes NCHW tensors normalised per channel, $x = (\text{pixel} - \mu)/\sigma$
# with pixels in $[0, 1]$. For the CIFAR-10 network $\mu = \sigma = 0.5$, i.e. the
# course's $[-1, 1]$ scale, so the **pixel box** of the zB rule below is
# $[L, H] = [-1, 1]$ in every channel; for VGG-16 it is
# $[(0-\mu_c)/\sigma_c, (1-\mu_c)/\sigma_c]$ with the ImageNet mean and standard deviation.
# `loaded.normalisation.bounds(X)` returns $L$ and $H$ shaped like `X`.

# %%
# NBVAL_CHECK_OUTPUT
L, H = loaded.normalisation.bounds(X)
print("pixel box per channel:", L[0, :, 0, 0].tolist(), H[0, :, 0, 0].tolist())
utils.images(loaded.normalisation.to_pixels(X), value_range=(0, 1));

# %% [markdown]
# ## Exercise 1: Gradient × Input (3 points)
#
# Let $f_c$ be the output neuron of class $c$ and $\mathbf{x}$ the input. Gradient×Input
# assigns to input dimension $i$ the relevance
#
# $$R_i = \big[\nabla f_c(\mathbf{x})\big]_i \, x_i .$$
#
# For a piecewise-linear, positively homogeneous network (ReLU, no biases) this is the
# first-order Taylor expansion at the root point $\tilde{\mathbf{x}} = \varepsilon
# \mathbf{x}$, $\varepsilon \to 0$, and $\sum_i R_i = f_c(\mathbf{x})$.
#
# **Task.** Write `gradient_x_input(model, X, c)` for a batch `X` of shape (N, C, H, W):
# it returns a tensor of the same shape holding $R_i$ for each image, explaining
# `model(X)[:, c]`. Do not change `X` or the model.

# %% nbgrader={"grade": false, "grade_id": "gradient_x_input", "locked": false, "schema_version": 3, "solution": true, "task": false}
def gradient_x_input(model, X, c):
    ### BEGIN SOLUTION
    X = X.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(X)[:, c].sum(), X)
    return (X * gradient).detach()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_gradient_x_input", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
R_gi = gradient_x_input(model, X, c)
assert R_gi.shape == X.shape, "one relevance score per input dimension"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_gradient_x_input", gradient_x_input=gradient_x_input)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
utils.visualize(R_gi);

# %% [markdown]
# The map is noisy, with much positive (red) and negative (blue) evidence side by side.
#
# ## Exercise 2: LRP by the gradient trick (5 + 5 points)
#
# LRP redistributes the class score layer by layer. The *gradient trick* obtains it as a
# Gradient×Input with a modified gradient: in each layer the output keeps its value $z$,
# but it is written as $p \cdot [z/p]_{\text{cst.}}$, where $p$ is the denominator of
# the chosen rule and $[\cdot]_{\text{cst.}}$ is detached from differentiation. The rules:
#
# * **first convolution** (sees pixels): the zB rule with the pixel box $[l_i, h_i]$,
#   $$R_i = \sum_j \frac{x_i w_{ij} - l_i w_{ij}^+ - h_i w_{ij}^-}{\sum_{i'} x_{i'} w_{i'j} - l_{i'} w_{i'j}^+ - h_{i'} w_{i'j}^-} R_j ,$$
#   $(\cdot)^+ = \max(0, \cdot)$, $(\cdot)^- = \min(0, \cdot)$;
# * **other convolutions**: LRP-$\gamma$,
#   $$R_j = \sum_k \frac{a_j (w_{jk} + \gamma w_{jk}^+)}{\sum_{0,j'} a_{j'} (w_{j'k} + \gamma w_{j'k}^+)} R_k ,$$
#   where the index 0 stands for the bias (also transformed as $b + \gamma b^+$);
# * **dense layers**: left as they are, so that the ordinary gradient flows (this is
#   LRP-0, $R_j = \sum_k a_j w_{jk} R_k / z_k$).
#
# The zB layer is given (`utils.vgg.ConvPx`): with $p_j = \sum_i x_i w_{ij} - l_i
# w_{ij}^+ - h_i w_{ij}^-$ and $z_j = \sum_i x_i w_{ij}$ its forward pass returns
# $p_j \cdot [z_j/p_j]_{\text{cst.}}$. `utils.newlayer(layer, g)` copies a layer with its
# parameters mapped by `g`:
#
# ```python
# class ConvPx(torch.nn.Module):
#     def __init__(self, conv):
#         super().__init__()
#         self.conv = conv
#         self.pconv = utils.newlayer(conv, lambda p: p.clamp(min=0))
#         self.nconv = utils.newlayer(conv, lambda p: p.clamp(max=0))
#
#     def forward(self, inputs):
#         X, L, H = inputs
#         z = self.conv(X)
#         p = z - self.pconv(L) - self.nconv(H)
#         return p * (z / p).detach()
# ```
#
# **Task (a).** Write the class `Conv(conv, gamma)` for the other convolutions: its
# forward pass returns the values of `conv(X)`, and its gradient implements LRP-$\gamma$
# with $p_k = \sum_j a_j (w_{jk} + \gamma w_{jk}^+) + b_k + \gamma b_k^+$. Do not change the
# weights of `conv`.

# %% nbgrader={"grade": false, "grade_id": "Conv", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Conv(torch.nn.Module):
    def __init__(self, conv, gamma):
        super().__init__()
        ### BEGIN SOLUTION
        self.conv = conv
        self.pconv = utils.newlayer(conv, lambda p: p + gamma * p.clamp(min=0))
        ### END SOLUTION

    def forward(self, X):
        ### BEGIN SOLUTION
        z = self.conv(X)
        p = self.pconv(X)
        return p * (z / p).detach()
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_Conv", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
_conv = torch.nn.Conv2d(2, 3, 3, padding=1)
_a = torch.rand(1, 2, 5, 5)
assert torch.allclose(Conv(_conv, 0.25)(_a), _conv(_a), atol=1e-6), "the forward pass must keep the values conv(X)"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_Conv", Conv=Conv)
### END HIDDEN TESTS

# %% [markdown]
# The LRP model replaces the convolutions of `model.features`, found from the model's
# structure, not from fixed indices: `vgg.conv_blocks(model)` lists the indices of the
# convolutions block by block (a block ends at a max-pooling layer), `vgg.first_conv(model)`
# is the index of the first one, and `vgg.block_gamma(b)` the $\gamma$ of block $b$:
# $10^{-b/2}$, i.e. $1, 10^{-0.5}, 10^{-1}, 10^{-1.5}, 10^{-2}$ for the five blocks of
# VGG-16 ($\gamma$ large in the lower layers, close to zero at the top).

# %%
# NBVAL_CHECK_OUTPUT
print("convolution blocks:", vgg.conv_blocks(model), "first convolution:", vgg.first_conv(model))
print("γ per block:", [round(vgg.block_gamma(b), 4) for b in range(len(vgg.conv_blocks(model)))])

# %% [markdown]
# **Task (b).** Write `build_lrp_model(model)`, which returns a **copy** of the model whose
# first convolution is wrapped in `vgg.ConvPx` and every other convolution in
# `Conv(conv, γ of its block)`, and `lrp(lrpmodel, X, c, L, H)`, the extended
# Gradient×Input over $(X, L, H)$:
#
# $$R = X \odot \frac{\partial y_c}{\partial X} + L \odot \frac{\partial y_c}{\partial L} + H \odot \frac{\partial y_c}{\partial H}, \qquad y = \texttt{lrpmodel}((X, L, H)).$$

# %% nbgrader={"grade": false, "grade_id": "lrp", "locked": false, "schema_version": 3, "solution": true, "task": false}
def build_lrp_model(model):
    ### BEGIN SOLUTION
    lrpmodel = copy.deepcopy(model).eval()
    features = lrpmodel.features
    first = vgg.first_conv(lrpmodel)
    for block, indices in enumerate(vgg.conv_blocks(lrpmodel)):
        for i in indices:
            features[i] = vgg.ConvPx(features[i]) if i == first else Conv(features[i], vgg.block_gamma(block))
    return lrpmodel
    ### END SOLUTION


def lrp(lrpmodel, X, c, L, H):
    ### BEGIN SOLUTION
    X, L, H = (t.detach().clone().requires_grad_(True) for t in (X, L, H))
    lrpmodel((X, L, H))[:, c].sum().backward()
    return (X * X.grad + L * L.grad + H * H.grad).detach()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_lrp", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
lrpmodel = build_lrp_model(model)
R_lrp = lrp(lrpmodel, X, c, L, H)
assert R_lrp.shape == X.shape
assert isinstance(model.features[vgg.first_conv(model)], torch.nn.Conv2d), "build_lrp_model must not change model"
with torch.no_grad():
    print(f"sum of relevance {float(R_lrp.detach().sum()):.4f}, logit {float(model(X)[0, c]):.4f}")
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_lrp", build_lrp_model=build_lrp_model, lrp=lrp)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
utils.visualize(R_lrp);

# %% [markdown]
# Most of the noise is gone: red marks the patterns the network used for the class,
# blue those that speak against it. The relevance sums to the logit up to what the
# biases absorb.
#
# ## Exercise 3: Saliency maps (2 points)
#
# Simonyan et al. linearise the class score around the image, $S_c(I) \approx w^\top I
# + b$ with $w = \partial S_c / \partial I$, and show for pixel $(i, j)$ of a colour
# image $M_{ij} = \max_{\text{channel}} |w_{h(i, j, \text{channel})}|$: the pixels whose
# change affects the score most.
#
# **Task.** Write `saliency(model, X, c)`, returning a tensor of shape (N, H, W).

# %% nbgrader={"grade": false, "grade_id": "saliency", "locked": false, "schema_version": 3, "solution": true, "task": false}
def saliency(model, X, c):
    ### BEGIN SOLUTION
    X = X.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(X)[:, c].sum(), X)
    return gradient.abs().amax(dim=1)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_saliency", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
M = saliency(model, X, c)
assert M.shape == (X.shape[0], X.shape[2], X.shape[3])
assert float(M.detach().min()) >= 0
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_saliency", saliency=saliency)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4: DeconvNet and guided backpropagation (5 points)
#
# Both methods run the ordinary backward pass through convolutions, dense layers and
# max-pooling (gradient to the winner of each pooling window) and change only the ReLU
# $a = \max(0, x)$. With $g = \partial f/\partial a$ arriving from above, the signal sent
# below the ReLU is
#
# | method | backward through the ReLU |
# |---|---|
# | gradient | $g \cdot \mathbf{1}(x > 0)$ |
# | DeconvNet | $g \cdot \mathbf{1}(g > 0)$ |
# | guided backprop | $g \cdot \mathbf{1}(x > 0) \cdot \mathbf{1}(g > 0)$ |
#
# A `torch.autograd.Function` defines both passes of an operation: `forward(ctx, x)`
# computes the output (and may keep tensors with `ctx.save_for_backward`), `backward(ctx,
# grad_output)` returns the signal for the input. `vgg.replace_relus(model, make)` returns
# a copy of `model` with every `torch.nn.ReLU` module replaced by `make()`. Swapping the
# modules, rather than attaching hooks to them, stays correct when a ReLU works in place
# (`inplace=True`, as in torchvision's VGG) and when one ReLU module is used twice.
#
# **Task.** Complete the two `torch.autograd.Function` classes `DeconvReLU` and
# `GuidedReLU` (their static methods `forward` and `backward`), and write
# `modified_gradient(model, X, c, function)`, the gradient of `model(X)[:, c]` with
# respect to `X` through a copy of the model whose ReLUs apply `function`, one of these
# two classes (`ReLUWith(function)` below wraps such a class as a module). Leave `model`
# as it was.

# %% nbgrader={"grade": false, "grade_id": "modified_relus", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ReLUWith(torch.nn.Module):
    """A ReLU module whose forward and backward passes are those of ``function``."""

    def __init__(self, function):
        super().__init__()
        self.function = function

    def forward(self, x):
        return self.function.apply(x)


class DeconvReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        return x.clamp(min=0)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        return grad_output.clamp(min=0)
        ### END SOLUTION


class GuidedReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ### BEGIN SOLUTION
        ctx.save_for_backward(x)
        return x.clamp(min=0)
        ### END SOLUTION

    @staticmethod
    def backward(ctx, grad_output):
        ### BEGIN SOLUTION
        (x,) = ctx.saved_tensors
        return grad_output.clamp(min=0) * (x > 0)
        ### END SOLUTION


def modified_gradient(model, X, c, function):
    ### BEGIN SOLUTION
    modified = vgg.replace_relus(model, lambda: ReLUWith(function))
    X = X.detach().clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(modified(X)[:, c].sum(), X)
    return gradient
    ### END SOLUTION


def deconvnet(model, X, c):
    return modified_gradient(model, X, c, DeconvReLU)


def guided_backprop(model, X, c):
    return modified_gradient(model, X, c, GuidedReLU)


# %% nbgrader={"grade": true, "grade_id": "test_modified_relus", "locked": true, "points": 5, "schema_version": 3, "solution": false, "task": false}
G_deconv, G_guided = deconvnet(model, X, c), guided_backprop(model, X, c)
assert G_deconv.shape == X.shape and G_guided.shape == X.shape
_x = torch.tensor([-1.0, 2.0], requires_grad=True)
GuidedReLU.apply(_x).backward(torch.tensor([3.0, -4.0]))
assert _x.grad.tolist() == [0.0, 0.0], "guided backprop keeps a signal only where x > 0 and the signal > 0"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_modified_relus", deconvnet=deconvnet, guided_backprop=guided_backprop)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5: Activation visualisation (2 points)
#
# The feature maps of a layer show which patterns it responds to: lower layers respond to
# edges, colours and textures, higher layers to larger parts.
#
# **Task.** Write `activations(model, X, indices)`, returning the list of outputs of
# `model.features[i]` for each `i` in `indices` (in that order), each of shape
# (N, channels, height, width). Beware: a later in-place ReLU overwrites the output of the
# convolution before it, so keep copies.

# %% nbgrader={"grade": false, "grade_id": "activations", "locked": false, "schema_version": 3, "solution": true, "task": false}
def activations(model, X, indices):
    ### BEGIN SOLUTION
    outputs, h = {}, X
    with torch.no_grad():
        for i, layer in enumerate(model.features[:max(indices) + 1]):
            h = layer(h)
            outputs[i] = h.clone()
    return [outputs[i] for i in indices]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_activations", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_blocks = vgg.conv_blocks(model)
_chosen = [_blocks[0][0] + 1, _blocks[-1][-1] + 1]  # after the first and after the last ReLU
maps = activations(model, X, _chosen)
assert len(maps) == 2 and maps[0].shape[:2] == (1, model.features[_blocks[0][0]].out_channels)
assert float(maps[0].detach().min()) >= 0, "a ReLU output is never negative"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_activations", activations=activations)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
for index, fmap in zip(_chosen, maps):
    print(f"features[{index}]: first 16 of {fmap.shape[1]} feature maps ({fmap.shape[2]}×{fmap.shape[3]})")
    utils.images(fmap[0, :16, None].expand(-1, 3, -1, -1) / fmap[0, :16].amax().clamp(min=1e-6), columns=8,
                 value_range=(0, 1));

# %% [markdown]
# ## Exercise 6: Class-model visualisation (3 points)
#
# Which image does the network consider a typical member of class $c$? Simonyan et al.
# maximise the class *score* (not the softmax probability, which can also grow by
# lowering the other classes) with an $L_2$ penalty:
#
# $$I^\star = \arg\max_I \; S_c(I) - \lambda \lVert I \rVert_2^2 .$$
#
# **Task.** Write `class_model(model, c, shape, lam, steps, lr)`: start from
# $I = 0$ (a float32 tensor of shape `shape`, on the device of the model's parameters),
# make `steps` plain gradient-ascent steps
# $I \leftarrow I + \text{lr} \cdot \nabla_I \big(S_c(I) - \lambda \lVert I \rVert^2\big)$
# with $S_c(I)$ = `model(I)[0, c]`, show a progress bar (`tqdm`) and return $I$. The
# parameters of the model must not change.

# %% nbgrader={"grade": false, "grade_id": "class_model", "locked": false, "schema_version": 3, "solution": true, "task": false}
def class_model(model, c, shape, lam, steps, lr):
    ### BEGIN SOLUTION
    parameter = next(model.parameters(), None) if isinstance(model, torch.nn.Module) else None
    image = torch.zeros(shape, device=None if parameter is None else parameter.device, requires_grad=True)
    for _ in tqdm(range(steps), desc=f"class {c}", leave=False):
        objective = model(image)[0, c] - lam * (image ** 2).sum()
        (gradient,) = torch.autograd.grad(objective, image)
        with torch.no_grad():
            image += lr * gradient
    return image.detach()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_class_model", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
I_star = class_model(model, c, X.shape, lam=0.05, steps=pick(200, 10), lr=0.5)
assert I_star.shape == X.shape
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_class_model", class_model=class_model)
### END HIDDEN TESTS

# %%
# NBVAL_CHECK_OUTPUT
with torch.no_grad():
    print(f"score of class {c}: {float(model(I_star)[0, c]):.2f} (blank image: {float(model(0 * X)[0, c]):.2f})")
utils.images(I_star / I_star.abs().max(), value_range=(-1, 1));

# %% [markdown]
# ## Exercise 7: Saturation (2 + 2 points)
#
# Gradients and perturbations miss features whose effect has *saturated*. Take
#
# $$y(i_1, i_2) = 1 - \max(0, 1 - i_1 - i_2),$$
#
# which equals $i_1 + i_2$ while $i_1 + i_2 < 1$ and $1$ beyond.
#
# **Task (a).** Write `saturation(i1, i2)`, returning the tuple
# $(y, \partial y/\partial i_1, \partial y/\partial i_2)$ as floats, computed with torch's
# automatic differentiation.

# %% nbgrader={"grade": false, "grade_id": "saturation", "locked": false, "schema_version": 3, "solution": true, "task": false}
def saturation(i1, i2):
    ### BEGIN SOLUTION
    inputs = torch.tensor([float(i1), float(i2)], requires_grad=True)
    y = 1 - torch.relu(1 - inputs[0] - inputs[1])
    y.backward()
    return float(y.detach()), float(inputs.grad[0]), float(inputs.grad[1])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_saturation", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
print("at (1, 1):", saturation(1.0, 1.0))
assert len(saturation(0.2, 0.3)) == 3
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_saturation", saturation=saturation)
### END HIDDEN TESTS

# %% [markdown]
# **Task (b).** At $(i_1, i_2) = (1, 1)$ the output is $y = 1$. What do the gradient and
# Gradient×Input attribute to the two inputs there, and why is that a poor explanation?
# What does removing only one input (perturbation) show? Answer in the next cell.

# %% [markdown] nbgrader={"grade": true, "grade_id": "saturation_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# The gradient is $(0, 0)$ because the ReLU is inactive ($1 - i_1 - i_2 = -1 < 0$), so
# Gradient×Input gives $R = (0, 0)$ although $y = 1$: nothing explains the output and
# $\sum_i R_i \ne y$. Removing one input leaves $y(0, 1) = y(1, 0) = 1$, so each input
# alone seems irrelevant too; the effect is saturated, both inputs together (or either)
# produce it. A full answer names the zero gradient, the missing conservation and the
# saturation of single-input perturbations.

# %% [markdown]
# ## Exercise 8: Occlusion (4 points)
#
# All methods so far send a signal backwards through the network. A *perturbation*
# method changes the input instead and watches the output (Zeiler & Fergus, 2014,
# Section 4.2): cover part of the image with a patch and see how much the class score
# drops. It needs one forward pass per patch position, and, like the gradient, it
# overlooks features whose effect has saturated (Exercise 7: removing one of two inputs
# that each suffice changes nothing).
#
# A window $W_p$ of $s \times s$ pixels (all channels) starts at the rows and columns
# $0, t, 2t, \dots$ (stride $t \le s$) until a window reaches the border: an axis of
# length $n$ gets $\lceil (n - s)/t \rceil + 1$ starts, i.e. the starts below
# $n - s + t$, and a last window that sticks out is cut at the border (Captum's
# `Occlusion` places its windows the same way). With $x^{(p)}$ the image whose window
# $W_p$ is set to the baseline $b$, input dimension $i$ gets the mean drop of the score
# over the windows that cover it:
#
# $$x^{(p)}_i = \begin{cases} b & i \in W_p \\ x_i & \text{otherwise,} \end{cases}
# \qquad
# R_i = \frac{1}{\lvert \{p : i \in W_p\} \rvert} \sum_{p \,:\, i \in W_p}
#       \big( f_c(\mathbf{x}) - f_c(\mathbf{x}^{(p)}) \big).$$
#
# The baseline $b = 0$ is the mean colour of the model's normalisation. In code, with
# `total` and `count` tensors shaped like the input:
#
# ```python
# for top in range(0, height - size + stride, stride):
#     for left in range(0, width - size + stride, stride):
#         window = (slice(None), slice(None), slice(top, top + size), slice(left, left + size))
#         ...  # occlude a copy, add the drop to total[window], add 1 to count[window]
# R = total / count
# ```
#
# **Task.** Write `occlusion(model, X, c, size, stride, baseline=0.0)` for a batch `X`
# of shape (N, C, H, W): it returns a tensor shaped like `X` holding $R_i$ for each image
# (each image explained on its own, for `model(X)[:, c]`). Do not change `X`.

# %% nbgrader={"grade": false, "grade_id": "occlusion", "locked": false, "schema_version": 3, "solution": true, "task": false}
def occlusion(model, X, c, size, stride, baseline=0.0):
    ### BEGIN SOLUTION
    X = X.detach()
    height, width = X.shape[2:]
    total, count = torch.zeros_like(X), torch.zeros_like(X)
    with torch.no_grad():
        score = model(X)[:, c]
        for top in range(0, height - size + stride, stride):
            for left in range(0, width - size + stride, stride):
                window = (slice(None), slice(None), slice(top, top + size), slice(left, left + size))
                occluded = X.clone()
                occluded[window] = baseline
                total[window] += (score - model(occluded)[:, c])[:, None, None, None]
                count[window] += 1
    return total / count
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_occlusion", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
# On a linear score f(x) = w·x a 1×1 window removes w·x of one pixel, all channels together.
_w, _x = torch.randn(1, 3, 5, 4, dtype=torch.float64), torch.randn(2, 3, 5, 4, dtype=torch.float64)
_linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(60, 1, bias=False)).double()
with torch.no_grad():
    _linear[1].weight.copy_(_w.reshape(1, -1))
_R = occlusion(_linear, _x.clone(), 0, 1, 1)
assert _R.shape == _x.shape
assert torch.allclose(_R, (_w * _x).sum(1, keepdim=True).expand_as(_x)), "1×1 windows on w·x: R = Σ_channels w·x at each pixel"
occlusion_size = X.shape[-1] // 8  # 4 pixels on CIFAR-10, 28 on a 224×224 image
R_occ = occlusion(model, X, c, occlusion_size, occlusion_size // 2)
assert R_occ.shape == X.shape
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_occlusion", occlusion=occlusion)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
utils.visualize(R_occ);

# %% [markdown]
# Occlusion is coarse: it cannot resolve details finer than its window. Red patches
# lowered the score when covered, blue ones raised it.
#
# ## Exercise 9: Filter visualisation (1 + 3 points)
#
# *How does the network see its data?* The first convolution sees pixels, so each of its
# filters $\mathbf{w}_k \in \mathbb{R}^{C \times s \times s}$ can be drawn as a small
# colour image once its values are scaled to $[0, 1]$, by the filter's own minimum and
# maximum (over all its channels and positions):
#
# $$\hat{\mathbf{w}}_k = \frac{\mathbf{w}_k - \min \mathbf{w}_k}{\max \mathbf{w}_k - \min \mathbf{w}_k} .$$
#
# (A weight tensor flattened from its second axis on has one row per filter; its row
# minima and maxima, reshaped to four axes, broadcast against the weights.)
#
# **Task (a).** Write `filter_images(model)`, returning the filters of the first
# convolution (`model.features[vgg.first_conv(model)]`) scaled in this way, a tensor of
# the shape of its weights (out channels, in channels, s, s). Leave the weights alone.

# %% nbgrader={"grade": false, "grade_id": "filter_images", "locked": false, "schema_version": 3, "solution": true, "task": false}
def filter_images(model):
    ### BEGIN SOLUTION
    weight = model.features[vgg.first_conv(model)].weight.detach()
    flat = weight.reshape(len(weight), -1)
    low = flat.min(1).values[:, None, None, None]
    high = flat.max(1).values[:, None, None, None]
    return (weight - low) / (high - low)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_filter_images", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
filters = filter_images(model)
assert filters.shape == model.features[vgg.first_conv(model)].weight.shape
assert torch.allclose(filters.flatten(1).amin(1), torch.zeros_like(filters[:, 0, 0, 0])), "each filter's smallest value becomes 0"
assert torch.allclose(filters.flatten(1).amax(1), torch.ones_like(filters[:, 0, 0, 0])), "each filter's largest value becomes 1"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_filter_images", filter_images=filter_images)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
print(f"the {len(filters)} filters of the first convolution ({filters.shape[2]}×{filters.shape[3]} pixels each)")
utils.images(filters, columns=16, value_range=(0, 1));

# %% [markdown]
# A 3×3 filter can show little more than a colour and a direction of change, the
# elementary patterns of the lower layers; larger first-layer filters (AlexNet's are
# 11×11) show clear oriented edges and colour blobs. Deeper filters act on feature maps,
# not on colours, and cannot be drawn this way. For them one looks instead for an input
# that excites a chosen channel $k$ of layer $\ell$, with the recipe of the class model
# (Exercise 6): gradient ascent on the input, regularised by the $L_2$ penalty
# $\lambda \lVert I \rVert_2^2$ that keeps the image from growing without bound,
#
# $$I^\star = \arg\max_I \; \frac{1}{H'W'} \sum_{i, j} a^{(\ell)}_{k, ij}(I) - \lambda \lVert I \rVert_2^2 ,$$
#
# where $a^{(\ell)}$ is the output of `model.features[ℓ]`, of size $H' \times W'$. As
# the class *score* is preferred to the softmax probability, take $\ell$ a convolution,
# the channel's value before its ReLU: the gradient then does not vanish where the ReLU
# is off.
#
# ```python
# objective = model.features[:layer + 1](image)[0, channel].mean() - lam * (image ** 2).sum()
# ```
#
# **Task (b).** Write `maximise_channel(model, layer, channel, start, lam, steps, lr)`:
# starting from a copy of `start` (shape (1, C, H, W)), make `steps` plain gradient-ascent
# steps $I \leftarrow I + \text{lr} \cdot \nabla_I(\text{objective})$, show a progress bar
# (`tqdm`) and return $I$. Do not change `start` or the model.

# %% nbgrader={"grade": false, "grade_id": "maximise_channel", "locked": false, "schema_version": 3, "solution": true, "task": false}
def maximise_channel(model, layer, channel, start, lam, steps, lr):
    ### BEGIN SOLUTION
    head = model.features[:layer + 1]
    image = start.detach().clone().requires_grad_(True)
    for _ in tqdm(range(steps), desc=f"channel {channel}", leave=False):
        objective = head(image)[0, channel].mean() - lam * (image ** 2).sum()
        (gradient,) = torch.autograd.grad(objective, image)
        with torch.no_grad():
            image += lr * gradient
    return image.detach()
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_maximise_channel", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
deep_layer = vgg.conv_blocks(model)[-1][-1]  # the last convolution
start = (0.1 * torch.randn(X.shape, generator=torch.Generator().manual_seed(0))).to(X.device)
_start = start.clone()
I_channel = maximise_channel(model, deep_layer, 0, start, lam=0.003, steps=pick(100, 5), lr=3.0)
assert I_channel.shape == X.shape and torch.equal(start, _start), "return a new image, leave start as it was"
with torch.no_grad():
    _before, _after = (float(model.features[:deep_layer + 1](image)[0, 0].mean()) for image in (start, I_channel))
print(f"mean activation of channel 0 of features[{deep_layer}]: {_before:.3f} at the start, {_after:.3f} after the ascent")
assert _after > _before, "the ascent should raise the channel's mean activation"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_maximise_channel", maximise_channel=maximise_channel)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
channel_images = torch.cat([maximise_channel(model, deep_layer, k, start, lam=0.003, steps=pick(100, 5), lr=3.0)
                            for k in range(pick(8, 2))])
utils.images(channel_images / channel_images.abs().amax(dim=(1, 2, 3), keepdim=True), columns=8, value_range=(-1, 1));

# %% [markdown]
# Each channel of the last convolution prefers a texture of its own (some show stripes of
# one orientation), repeated over the image because the mean over all positions is
# maximised.
# The $L_2$ penalty alone leaves the images high-frequency; smoother pictures need
# further priors on natural images, such as blurring or jittering the image between
# steps (Yosinski et al., 2015, "Understanding neural networks through deep
# visualization").

# %% [markdown]
# ## Exercise 10: The mean image (2 + 3 points)
#
# Simonyan et al. trained their network on *centred* images: the mean image
# $\mathbf{m}$ of the training set is subtracted, and the network sees
# $I = \mathbf{x} - \mathbf{m}$. Both of their visualisations live in this centred space:
# the class model starts at $I = 0$, the mean image itself, and its penalty measures the
# distance from it; to be shown as a picture, the mean image is added back. Our models
# see $\mathbf{x}$ itself (normalised per channel), so the network on centred images is
#
# $$\tilde f(I) = f(I + \mathbf{m}) .$$
#
# The mean image below is that of the CIFAR-10 training images as model input; for
# VGG-16 it is 0, since its normalisation subtracts ImageNet's mean colour.

# %%
if loaded.kind == "cifar":
    from utils import cifar10

    train_X, _ = cifar10.load("train")  # NHWC, pixels in [-1, 1]
    mean_pixels = (train_X.mean(0) + 1) / 2  # the mean commutes with the affine normalisation
    mean_image = loaded.normalisation(torch.from_numpy(mean_pixels.transpose(2, 0, 1)[None].copy())).to(X.device)
    print(f"mean image of {len(train_X)} training images")
    utils.images(loaded.normalisation.to_pixels(mean_image), value_range=(0, 1));
else:
    mean_image = torch.zeros_like(X)

# %% [markdown]
# **Task (a).** The class model of Exercise 6 for the network on centred images,
#
# $$I^\star = \arg\max_I \; S_c(I + \mathbf{m}) - \lambda \lVert I \rVert_2^2 ,
# \qquad \text{shown as } I^\star + \mathbf{m} .$$
#
# Write `class_model_with_mean(model, c, mean_image, lam, steps, lr)`: the ascent of
# Exercise 6 (from $I = 0$, `steps` plain steps) on $\tilde f$, returning
# $I^\star + \mathbf{m}$ (shape of `mean_image`). You may call your `class_model` with
# $\tilde f$ as its model. Do not change `mean_image`.

# %% nbgrader={"grade": false, "grade_id": "class_model_with_mean", "locked": false, "schema_version": 3, "solution": true, "task": false}
def class_model_with_mean(model, c, mean_image, lam, steps, lr):
    ### BEGIN SOLUTION
    class CentredModel(torch.nn.Module):  # a module: class_model starts on the device of its parameters
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, image):
            return self.model(image + mean_image)

    return class_model(CentredModel(), c, mean_image.shape, lam, steps, lr) + mean_image
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_class_model_with_mean", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert torch.allclose(class_model_with_mean(model, c, mean_image, 0.05, 0, 0.5), mean_image), \
    "with no step the class model is I = 0, shown as the mean image"
I_mean = class_model_with_mean(model, c, mean_image, lam=0.2, steps=pick(200, 10), lr=0.5)
assert I_mean.shape == mean_image.shape
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_class_model_with_mean", class_model_with_mean=class_model_with_mean)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
shown = pick(list(range(len(loaded.classes))), [c]) if loaded.kind == "cifar" else [c]
# λ = 0.2 keeps the result close to the mean image, inside the pixel box almost everywhere
models_with_mean = torch.cat([class_model_with_mean(model, k, mean_image, 0.2, pick(200, 10), 0.5) for k in shown])
print("class models with the mean image added back:", ", ".join(loaded.classes[k] for k in shown))
utils.images(loaded.normalisation.to_pixels(models_with_mean).clamp(0, 1), value_range=(0, 1));

# %% [markdown]
# **Task (b).** Class saliency. Averaging the saliency maps (Exercise 3) of many centred
# images of one class shows where the network looks for that class on the whole, not in
# one image. With $D_k$ the images labelled $k$ and $I_n = \mathbf{x}_n - \mathbf{m}$,
#
# $$\bar M^{(k)}_{ij} = \frac{1}{\lvert D_k \rvert} \sum_{n \in D_k} \max_{\text{ch}}
#   \left\lvert \frac{\partial \tilde f_k}{\partial I_{\text{ch}, ij}}(I_n) \right\rvert ,$$
#
# each image explained for the class of its label; a class without images gets a map of
# zeros. ($\partial \tilde f / \partial I$ at $I_n$ is $\partial f / \partial \mathbf{x}$
# at $\mathbf{x}_n$: what centring changes is where the network is evaluated, $I + \mathbf{m}$.)
#
# **Task.** Write `class_averaged_saliency(model, centred, labels, mean_image, n_classes)`
# for centred images (N, C, H, W) and their integer labels, returning a tensor
# (n_classes, H, W) whose row $k$ is $\bar M^{(k)}$. You may use `saliency`. Do not
# change the images or the mean image.

# %% nbgrader={"grade": false, "grade_id": "class_averaged_saliency", "locked": false, "schema_version": 3, "solution": true, "task": false}
def class_averaged_saliency(model, centred, labels, mean_image, n_classes):
    ### BEGIN SOLUTION
    labels = numpy.asarray(labels)
    maps = torch.zeros((n_classes,) + tuple(centred.shape[2:]), dtype=centred.dtype, device=centred.device)
    for k in range(n_classes):
        chosen = numpy.flatnonzero(labels == k)
        if len(chosen):
            maps[k] = saliency(model, centred[chosen] + mean_image, k).mean(0)
    return maps
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_class_averaged_saliency", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
if loaded.kind == "cifar":
    class_X, class_labels = vgg.cifar_test_images(pick(500, 40))
    class_X = class_X.to(X.device)
else:
    class_X, class_labels = X, numpy.array([c])
n_classes = len(loaded.classes)
M_class = class_averaged_saliency(model, class_X - mean_image, class_labels, mean_image, n_classes)
assert M_class.shape == (n_classes,) + tuple(class_X.shape[2:]) and float(M_class.min()) >= 0
_missing = next(k for k in range(n_classes) if k not in class_labels[:2])
assert float(class_averaged_saliency(model, class_X[:2] - mean_image, class_labels[:2], mean_image, n_classes)[_missing].abs().max()) == 0, \
    "a class without images gets a map of zeros"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet3_vgg", "test_class_averaged_saliency", class_averaged_saliency=class_averaged_saliency)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
if loaded.kind == "cifar":
    print("class-averaged saliency, then the mean image of each class:", ", ".join(loaded.classes))
    utils.heatmaps(M_class, columns=10)
    present = [k for k in range(n_classes) if numpy.any(class_labels == k)]
    class_means = torch.cat([class_X[numpy.flatnonzero(class_labels == k)].mean(0, keepdim=True) for k in present])
    utils.images(loaded.normalisation.to_pixels(class_means), columns=10, value_range=(0, 1));

# %% [markdown]
# ## Comparison
#
# Every method on the same image, positive evidence red and negative blue, each map
# scaled to its own largest magnitude (the saliency map is non-negative).

# %% tags=["skip-when-grading"]
panel = {
    "Gradient×Input": R_gi,
    "LRP": R_lrp,
    "saliency": saliency(model, X, c),
    "DeconvNet": deconvnet(model, X, c),
    "guided backprop": guided_backprop(model, X, c),
    "occlusion": R_occ,
}
vgg.comparison_panel(loaded.normalisation.to_pixels(X), panel);

# %% [markdown]
# ## Which explanation is more faithful? Pixel flipping
#
# Remove pixels in the order of their relevance, most relevant first (set them to the
# mean colour, 0 after normalisation), and follow the class score: the faster it drops,
# the better the explanation found what the network uses. The area under the curve
# (AUC, lower is better) summarises it over many test images, each explained for its
# own true class.

# %% tags=["skip-when-grading"]
if loaded.kind == "cifar":
    test_X, test_labels = vgg.cifar_test_images(pick(64, 8))
    test_X = test_X.to(device)
    curves = {}
    for name, explain in (("Gradient×Input", lambda x, k: gradient_x_input(model, x, k)),
                          ("LRP", lambda x, k: lrp(lrpmodel, x, k, *loaded.normalisation.bounds(x))),
                          ("occlusion", lambda x, k: occlusion(model, x, k, occlusion_size, occlusion_size // 2))):
        rows = []
        for k in range(10):  # explain each image for its own class, ten classes at a time
            chosen = numpy.flatnonzero(test_labels == k)
            if len(chosen):
                rows.append(vgg.pixel_flipping(model, test_X[chosen], explain(test_X[chosen], k), k))
        curves[name] = numpy.concatenate(rows)
    for name, curve in curves.items():
        plt.plot(numpy.linspace(0, 1, curve.shape[1]), curve.mean(0), label=f"{name}: AUC {vgg.flipping_auc(curve):.2f}")
    plt.xlabel("fraction of pixels removed"); plt.ylabel("class score (mean)"); plt.legend();

# %% [markdown]
# Occlusion does well in this test, and not by chance: it measures how much the score
# drops when parts of the image are set to the baseline, which is what pixel flipping
# rewards (with the same baseline). Its price is one forward pass per window position
# (225 per CIFAR-10 image here, against one backward pass for the gradient methods and
# LRP) and a resolution no finer than its window.
