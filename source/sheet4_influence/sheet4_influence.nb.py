# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Sheet 4: Integrated Gradients and influence-directed explanations
#
# This sheet explains the CIFAR-10 network of sheet 2 and the VGG model of sheet 3 with
# two path methods:
#
# * **Integrated Gradients** (Sundararajan et al., "Axiomatic Attribution for Deep
#   Networks", 2017) attribute the output of a network to its *input* pixels;
# * **influence-directed explanations** (Leino et al., "Influence-directed explanations
#   for deep convolutional networks", 2018) measure how much *internal* neurons matter for
#   a quantity of interest, averaged over a distribution of inputs, and then show what
#   those neurons look for.
#
# You will write six small functions (12 points, checked automatically) and answer two
# questions (4 points, read by the instructors). All functions take and return torch
# tensors; images are NCHW with pixels in $[-1, 1]$, the convention of sheet 2.
#
# **Choices this sheet makes** where the briefing of the homework leaves them open:
#
# 1. Riemann sums use the *right* end points $k = 1, \dots, m$ of formula (3) below (the
#    briefing's code sample uses $k = 0, \dots, m-1$, the left sum; see Exercise 1).
# 2. The baseline of Integrated Gradients is the black image (every pixel $-1$ for the
#    CIFAR-10 network; pixel value 0 before normalisation for the VGG model).
# 3. The slice is the output of the ReLU after the second convolution of the sheet-2
#    network: 50 channels on a $10 \times 10$ grid (the briefing's $50 \times 28 \times 28$
#    belongs to a network with padded convolutions; ours has none).
# 4. A *neuron* is a channel of the slice. Channels are ranked by their largest influence
#    over the positions ("use max for this homework"); the most *negative* neurons are the
#    top neurons of $-\chi$. A channel's *activation*, for the saliency maps, is the sum of
#    its map over the positions.
# 5. Quantities of interest are the *scores* before any softmax (the briefing's advice on
#    linear output layers: a softmax would let one class's score overshadow the others).
# 6. The influence for one instance uses the uniform distribution on the straight path
#    from the baseline to the image (the quadrature of Integrated Gradients); the class
#    influence uses the test images of the class; the comparative influence of
#    $f_{c_1} - f_{c_2}$ uses the test images of both classes; the "essence" of Part 4
#    ranks neurons on training images of five classes drawn with a fixed seed, and
#    measures accuracy on test images.
# 7. A masked neuron is set to zero (a ReLU neuron that does not fire). The binary
#    classifier "class $c$ or not" answers yes when $c$ has the largest masked score, and is
#    scored by its *balanced* accuracy (the mean of the hit rates on class $c$ and on the
#    rest), since 90 % of the test images are negatives.
#
# **Where it runs.** `utils.device()` is the GPU when PyTorch sees one and the CPU
# otherwise (`COURSE_DEVICE=cpu` forces the CPU); the models and the images are put there.
# Write your functions so that they work on the device of the tensors they are given
# (`device=x.device` for new tensors, or `torch.zeros_like(x)` and the like).
#
# **TF32.** Recent NVIDIA GPUs compute float32 convolutions by default in TF32, with
# about three significant digits. That is enough for a prediction, not for the
# comparisons of this sheet: on VGG-16, Integrated Gradients differed from Captum's by
# 4 % with TF32 (and LRP from Zennit's by 4–6 %), against 10⁻⁵ without it, and the
# completeness error below would stop falling at about 10⁻³. The next cell turns TF32 off
# (`torch.backends.cudnn.allow_tf32` and `torch.backends.cuda.matmul.allow_tf32`); on a
# CPU this changes nothing.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch

import utils
from utils import cifar10
from utils.attribution import as_nchw, batches, map_batches, split_model
from utils.cnn import torch_cnn
from utils.runmode import pick
from utils.vgg import cifar_test_images, imagenet_image, load_vgg, sample_photo

torch.manual_seed(0)
# While grading (fast mode) several notebooks share the machine: one thread each is faster.
torch.set_num_threads(pick(torch.get_num_threads(), 1))
device = utils.device()  # the GPU when there is one; COURSE_DEVICE=cpu forces the CPU
# exact float32 on GPUs (see TF32 above): this sheet checks completeness and compares methods
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
print("Device:", device)
CLASSES = cifar10.CLASSES

# %% [markdown]
# The network of sheet 2 with the parameters that ship with the course, and the CIFAR-10
# test images (in fast mode, only the first 1,000).

# %%
# NBVAL_CHECK_OUTPUT
cnn = torch_cnn().to(device)
X_numpy, T_numpy = cifar10.load("test")
n_test = pick(len(X_numpy), min(1000, len(X_numpy)))
X_test = as_nchw(X_numpy[:n_test]).to(device)
labels_test = torch.as_tensor(T_numpy[:n_test].reshape(n_test, -1).argmax(axis=1)).to(device)
scores_test = map_batches(cnn, X_test).flatten(1)
print(f"test accuracy of the sheet-2 network on {n_test} images: "
      f"{(scores_test.argmax(1) == labels_test).float().mean():.3f}")

BLACK = -torch.ones(3, 32, 32, device=device)  # the baseline: a black image


def class_score(c):
    """The quantity of interest f_c: the score of class c, from outputs (B, 10, 1, 1) or (B, 10)."""
    return lambda y: y.flatten(1)[:, c]


def score_difference(c1, c2):
    """The comparative quantity of interest f_c1 - f_c2."""
    return lambda y: y.flatten(1)[:, c1] - y.flatten(1)[:, c2]


# %% [markdown]
# ## Part 1: Integrated Gradients
#
# For a scalar function $F$ (here: one class score of the network), an input $x$ and a
# baseline $x'$, Integrated Gradients attribute $F(x) - F(x')$ to the input features by
# integrating the gradient along the straight path from $x'$ to $x$:
#
# $$\mathrm{IG}_i(x) = (x_i - x'_i) \int_0^1 \frac{\partial F}{\partial x_i}\big(x' + \alpha (x - x')\big)\, d\alpha .$$
#
# By the fundamental theorem of calculus for path integrals the attributions are
# *complete*: $\sum_i \mathrm{IG}_i(x) = F(x) - F(x')$. In practice the integral is a
# Riemann sum with $m$ steps, formula (3) of the briefing:
#
# $$\mathrm{IG}^{\text{approx}}_i(x) = (x_i - x'_i) \sum_{k=1}^{m} \frac{\partial F}{\partial x_i}\Big(x' + \tfrac{k}{m}(x - x')\Big) \frac{1}{m} .$$
#
# The points $k = 1, \dots, m$ include $x$ and leave out $x'$: this is the *right* Riemann
# sum, what Captum calls `IntegratedGradients(...).attribute(..., method="riemann_right")`.
# (The code sample of the briefing builds `base + (i/steps)*(inp-base)` for
# `i in range(0, steps)`, which is the left sum: it includes the baseline and never reaches
# $x$. Both converge to the integral; this sheet follows the formula.)
#
# ### Exercise 1a (1 point)
#
# Return the $m$ points $x' + \frac{k}{m}(x - x')$, $k = 1, \dots, m$, in this order,
# stacked on a new first axis: shape `(steps, *x.shape)`. `x` and `baseline` are tensors of
# the same shape without a batch axis.

# %% nbgrader={"grade": false, "grade_id": "straight_line_path", "locked": false, "schema_version": 3, "solution": true, "task": false}
def straight_line_path(x, baseline, steps):
    """The right Riemann points of the path from baseline to x, shape (steps, *x.shape)."""
    ### BEGIN SOLUTION
    alphas = torch.arange(1, steps + 1, dtype=x.dtype, device=x.device) / steps
    alphas = alphas.reshape((steps,) + (1,) * x.ndim)
    return baseline + alphas * (x - baseline)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_straight_line_path", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_path = straight_line_path(torch.tensor([2.0, -1.0]), torch.tensor([0.0, 1.0]), 4)
assert tuple(_path.shape) == (4, 2), "one point per step, each shaped like x"
assert torch.allclose(_path[-1], torch.tensor([2.0, -1.0])), "the last point is x itself"
assert torch.allclose(_path[0], torch.tensor([0.5, 0.5])), "the first point is a quarter of the way"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet4_influence", "test_straight_line_path", straight_line_path=straight_line_path)
### END HIDDEN TESTS

# %% [markdown]
# ### Exercise 1b (3 points)
#
# Implement formula (3). `F` takes a batch of inputs, shape `(B, *x.shape)`, and returns
# one number per input, shape `(B,)`. Evaluate the gradients *in batches over the steps*:
# `F` may see at most `batch_size` points at a time (all of them when `batch_size` is
# `None`); `utils.attribution.batches(n, batch_size)` yields the slices of such batches.
# Return the attributions, a tensor shaped like `x`.
#
# Hint: `torch.autograd.grad(F(points).sum(), points)` gives the gradient of every point
# at once, because each point only influences its own output.

# %% nbgrader={"grade": false, "grade_id": "integrated_gradients", "locked": false, "schema_version": 3, "solution": true, "task": false}
def integrated_gradients(F, x, baseline, steps=50, batch_size=None):
    """Integrated Gradients of F at x against baseline by the right Riemann sum (formula 3)."""
    ### BEGIN SOLUTION
    points = straight_line_path(x, baseline, steps)
    summed = torch.zeros_like(x)
    for part in batches(steps, batch_size):
        chunk = points[part].detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(F(chunk).sum(), chunk)
        summed = summed + grad.sum(dim=0)
    return (x - baseline) * summed / steps
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_integrated_gradients", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# For a linear F(x) = w·x the gradient is w everywhere, so IG = (x - x') * w exactly.
_w = torch.tensor([1.0, -2.0, 0.5])
_ig = integrated_gradients(lambda B: B @ _w, torch.tensor([1.0, 1.0, 4.0]), torch.tensor([0.0, 2.0, 0.0]), steps=7, batch_size=3)
assert tuple(_ig.shape) == (3,)
assert torch.allclose(_ig, torch.tensor([1.0, 2.0, 2.0])), _ig
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet4_influence", "test_integrated_gradients", integrated_gradients=integrated_gradients)
### END HIDDEN TESTS

# %% [markdown]
# ### Completeness and the number of steps
#
# We explain the score of the predicted class for the first test image the network gets
# right. The relative completeness error
# $\big|\sum_i \mathrm{IG}_i - (F(x) - F(x'))\big| / |F(x) - F(x')|$ is only due to the
# quadrature; it shrinks roughly like $1/m$ (the error of a Riemann sum for a function
# that is piecewise smooth along the path).

# %%
correct = torch.nonzero(scores_test.argmax(1) == labels_test).flatten()
index = int(correct[0])
x = X_test[index]
c = int(labels_test[index])
F = lambda B: class_score(c)(cnn(B))  # noqa: E731  (the explained function)

with torch.no_grad():
    gap = float(F(x[None]) - F(BLACK[None]))
step_counts = pick([1, 2, 4, 8, 16, 32, 64, 128, 256, 512], [1, 4, 16, 64])
errors = [abs(float(integrated_gradients(F, x, BLACK, m, batch_size=128).sum()) - gap) / abs(gap) for m in step_counts]

fig, ax = plt.subplots(figsize=(4.5, 3))
ax.loglog(step_counts, errors, "o-", label="IG, right Riemann sum")
ax.loglog(step_counts, [errors[0] / m for m in step_counts], "k:", label="$\\propto 1/m$")
ax.set_xlabel("steps $m$")
ax.set_ylabel("relative completeness error")
ax.set_title(f"test image {index} ({CLASSES[c]})")
ax.legend()
plt.show()

# %% [markdown]
# ### Saturation: IG against the plain gradient
#
# The function $y = 1 - \mathrm{relu}(1 - i_1 - i_2)$ saturates: once $i_1 + i_2 \ge 1$
# it is constant. At $i = (1, 1)$ its gradient is zero, although both inputs clearly
# matter against the baseline $(0, 0)$, where $y = 0$. Integrated Gradients see the part of
# the path where the function still grows. (With the right sum the point
# $\alpha = \tfrac12$ sits exactly on the kink, where torch's ReLU has derivative 0, so the
# sum reaches $\tfrac12$ from below, like $\tfrac12 - \tfrac1m$ for even $m$.)

# %%
# NBVAL_CHECK_OUTPUT
def saturating(I):
    return 1 - torch.relu(1 - I[:, 0] - I[:, 1])


i_point, i_base = torch.tensor([1.0, 1.0]), torch.zeros(2)
probe = i_point[None].clone().requires_grad_(True)
(plain_gradient,) = torch.autograd.grad(saturating(probe).sum(), probe)
print("gradient at (1, 1):", plain_gradient[0].tolist())
for m in (4, 16, 64, 256):
    ig = integrated_gradients(saturating, i_point, i_base, steps=m)
    print(f"IG with m = {m:3d}: {ig.tolist()},  sum {float(ig.sum()):.4f}  (y(i) - y(0) = 1)")

# %% [markdown] nbgrader={"grade": true, "grade_id": "saturation_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Question (2 points).** Why does the gradient at $(1, 1)$ explain nothing here, and why
# do Integrated Gradients divide the output equally between $i_1$ and $i_2$? Which property
# of an attribution method does the gradient violate?
#
# ### BEGIN SOLUTION
# The output is saturated at $(1,1)$: the ReLU is switched off, so a small change of either
# input does not change $y$ and the gradient is $(0, 0)$. Yet $y$ went from 0 at the
# baseline to 1 at the input only because of $i_1$ and $i_2$. The gradient violates
# *sensitivity* (an input that changes the output against the baseline must get a nonzero
# attribution) and, with it, completeness ($\sum$ attributions $= 0 \ne 1$). Along the path
# $\alpha (1, 1)$ the function grows with slope 1 in both inputs for $\alpha < \tfrac12$
# and is flat afterwards, so the averaged gradient is $\tfrac12$ per input and IG gives
# $(\tfrac12, \tfrac12)$, summing to $y(1,1) - y(0,0) = 1$; the split is equal because the
# function is symmetric in $i_1, i_2$ and so are input and baseline (symmetry preservation).
# ### END SOLUTION

# %% [markdown]
# ### An IG heatmap on the model of sheet 3
#
# The model and images of sheet 3: VGG-16 with ImageNet weights when they are in your
# torch cache or can be downloaded, on matplotlib's sample photo of Grace Hopper or on a
# photo of your own (`IMAGE_PATH`), 224×224; otherwise the course's VGG-style CIFAR-10
# network on CIFAR-10 test images. We compare
# the plain gradient with Integrated Gradients for the predicted class, against a black
# baseline; red is positive, blue negative, colour channels summed.

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
IMAGE_PATH = None  # e.g. "castle.jpg", as in sheet 3; None: matplotlib's sample photo

# VGG-16 from the torch cache, or downloaded when the machine is online; else the CIFAR-10 VGG
vgg = load_vgg("auto")
vgg.model.to(device)
if vgg.kind == "imagenet":
    vgg_images = imagenet_image(sample_photo() if IMAGE_PATH is None else IMAGE_PATH).to(device)
else:
    vgg_images = cifar_test_images(n=6)[0].to(device)
print(vgg.description)
vgg_black = vgg.normalisation(torch.zeros(1, 3, 1, 1, device=device))[0].expand_as(vgg_images[0])  # pixel value 0
vgg_steps = pick(50, 50 if vgg.kind == "cifar" else 8)

gradient_maps, ig_maps = [], []
for image in vgg_images:
    with torch.no_grad():
        predicted = int(vgg.model(image[None]).argmax())
    explained = lambda B, k=predicted: vgg.model(B)[:, k]  # noqa: E731
    probe = image[None].clone().requires_grad_(True)
    gradient_maps.append(torch.autograd.grad(explained(probe).sum(), probe)[0][0])
    ig_maps.append(integrated_gradients(explained, image, vgg_black, steps=vgg_steps, batch_size=16))
    print("explained class:", vgg.classes[predicted])
utils.images(vgg.normalisation.to_pixels(vgg_images), columns=6)
utils.heatmaps(torch.stack(gradient_maps), columns=6)
utils.heatmaps(torch.stack(ig_maps), columns=6)
plt.show()

# %% [markdown]
# Rows: the images, the gradient, Integrated Gradients. (The course's tests compare this
# function with Captum's `IntegratedGradients(method="riemann_right")`; they agree to
# $10^{-5}$.)
#
# ## Part 2: Slices and distributional influence
#
# Leino et al. explain a network $f$ through a *slice* $f = g \circ h$: $h$ maps the image
# to the activations $z = h(x)$ of an internal layer, $g$ maps those to the scores. For a
# quantity of interest $q$ (a class score $f_c$, or a difference $f_{c_1} - f_{c_2}$) and
# a distribution of interest $P$, the influence of neuron $j$ is (Definition 1)
#
# $$\chi_j(f, P) = \int_{\mathcal{X}} \frac{\partial (q \circ g)}{\partial z_j}\bigg|_{h(x)} P(x)\, dx
#   = \mathbb{E}_{x \sim P}\left[ \frac{\partial (q \circ g)}{\partial z_j}\bigg|_{h(x)} \right] .$$
#
# With a sample $x^{(1)}, \dots, x^{(N)}$ of $P$ it is the average of the gradients with
# respect to the slice. Our slice is the ReLU after the second convolution (layer 4 of
# the `Sequential`).

# %%
h, g = split_model(cnn, 4)
print(h)
print("slice shape:", tuple(h(x[None]).shape[1:]))

# %% [markdown]
# ### Exercise 2 (3 points)
#
# Compute $\chi$ for the sample `X` (a batch of inputs of $h$), the slice `h`, `g` and the
# quantity of interest `qoi` (which maps the outputs of `g` to one number per input).
# Process at most `batch_size` inputs at a time (all at once for `None`). Return a tensor
# shaped like one activation, `h(X).shape[1:]`.

# %% nbgrader={"grade": false, "grade_id": "influence", "locked": false, "schema_version": 3, "solution": true, "task": false}
def influence(h, g, X, qoi, batch_size=None):
    """Distributional influence of the slice z = h(x) on qoi(g(z)), averaged over X."""
    ### BEGIN SOLUTION
    accumulated = 0
    for part in batches(len(X), batch_size):
        with torch.no_grad():
            z = h(X[part])
        z.requires_grad_(True)
        (grad,) = torch.autograd.grad(qoi(g(z)).sum(), z)
        accumulated = accumulated + grad.sum(dim=0)
    return accumulated / len(X)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_influence", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
# A linear g has the same gradient everywhere: the influence is a row of its weight.
_g = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 3))
_chi = influence(torch.nn.Identity(), _g, torch.randn(5, 3, 2, 2), lambda y: y[:, 1], batch_size=2)
assert tuple(_chi.shape) == (3, 2, 2)
assert torch.allclose(_chi, _g[1].weight[1].reshape(3, 2, 2))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet4_influence", "test_influence", influence=influence)
### END HIDDEN TESTS

# %% [markdown]
# **(a) One instance.** With $P$ uniform on the $m$ points of the straight path from the
# black baseline to $x$, $\chi$ is the *internal influence* of the slice (Captum's
# `InternalInfluence` with the same points). Integrated Gradients are the special case
# where the slice is the input itself ($h$ the identity): there,
# $\mathrm{IG}(x) = (x - x') \odot \chi(f, \text{path})$. The next cell checks this
# relation numerically.

# %%
# NBVAL_CHECK_OUTPUT
path_steps = 50
path = straight_line_path(x, BLACK, path_steps)
chi_instance = influence(h, g, path, class_score(c), batch_size=64)
via_identity = (x - BLACK) * influence(torch.nn.Identity(), cnn, path, class_score(c))
print("largest |IG - (x - x') * influence at the input|:",
      float((via_identity - integrated_gradients(F, x, BLACK, path_steps)).abs().max()))

# %% [markdown]
# **(b) A class.** $P$ is the set of test images of one class; the influence of the class
# is the mean of the influences of its instances.

# %%
c_class = c
X_class = X_test[labels_test == c_class]
chi_class = influence(h, g, X_class, class_score(c_class), batch_size=256)
print(f"{len(X_class)} test images of class {CLASSES[c_class]}")

# %% [markdown]
# ### Exercise 3 (1 point)
#
# Return the indices of the `k` channels with the largest influence at any position
# (the maximum of $\chi_{j,\cdot,\cdot}$ over the positions), most influential first.
# `chi` has shape `(C, H, W)`.

# %% nbgrader={"grade": false, "grade_id": "top_neurons", "locked": false, "schema_version": 3, "solution": true, "task": false}
def top_neurons(chi, k):
    """The k channels of chi (C, H, W) with the largest maximum over positions, best first."""
    ### BEGIN SOLUTION
    peak = torch.as_tensor(chi).flatten(1).max(dim=1).values
    return torch.argsort(peak, descending=True)[:k]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_top_neurons", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_chi = torch.zeros(4, 2, 2)
_chi[2, 0, 1], _chi[0, 1, 1], _chi[3] = 5.0, 3.0, 1.0
assert [int(j) for j in top_neurons(_chi, 3)] == [2, 0, 3]
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet4_influence", "test_top_neurons", top_neurons=top_neurons)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
def show_peaks(chis, titles):
    """Bar charts of each channel's largest influence over positions."""
    fig, axes = plt.subplots(1, len(chis), figsize=(4 * len(chis), 2.5), squeeze=False)
    for ax, chi, title in zip(axes[0], chis, titles):
        ax.bar(range(len(chi)), chi.flatten(1).max(dim=1).values.cpu().numpy())
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("channel")
    plt.show()


show_peaks([chi_instance, chi_class], [f"instance {index}, $f_{{{CLASSES[c]}}}$", f"class {CLASSES[c_class]}"])
print("top 5 neurons, instance:", top_neurons(chi_instance, 5).tolist())
print("top 5 neurons, class:   ", top_neurons(chi_class, 5).tolist())

# %% [markdown]
# ### Comparative quantity of interest
#
# Why is an image a cat *rather than* a dog? The quantity of interest $f_{c_1} - f_{c_2}$
# asks exactly that. Its distribution of interest here is the test images of both classes.
# Since $\chi$ is linear in the quantity of interest,
# $\chi(f_{c_1} - f_{c_2}) = \chi(f_{c_1}) - \chi(f_{c_2})$ for the same $P$.

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
c1, c2 = CLASSES.index("cat"), CLASSES.index("dog")
X_pair = X_test[(labels_test == c1) | (labels_test == c2)]
chi_c1 = influence(h, g, X_pair, class_score(c1), batch_size=256)
chi_c2 = influence(h, g, X_pair, class_score(c2), batch_size=256)
chi_versus = influence(h, g, X_pair, score_difference(c1, c2), batch_size=256)
print("largest |chi(f_c1 - f_c2) - (chi(f_c1) - chi(f_c2))|:", float((chi_versus - (chi_c1 - chi_c2)).abs().max()))
show_peaks([chi_c1, chi_c2, chi_versus], ["$f_{cat}$", "$f_{dog}$", "$f_{cat} - f_{dog}$"])
for name, chi in (("cat", chi_c1), ("dog", chi_c2), ("cat - dog", chi_versus)):
    print(f"top 5 neurons for {name:9s}: {top_neurons(chi, 5).tolist()}")

# %% [markdown] nbgrader={"grade": true, "grade_id": "comparative_answer", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# **Question (2 points).** Compare the top neurons of $f_{cat}$, $f_{dog}$ and
# $f_{cat} - f_{dog}$. Why can a neuron be among the most influential for $f_{cat}$ and
# yet not for $f_{cat} - f_{dog}$? What does the comparative explanation tell you that the
# single-class explanations do not?
#
# ### BEGIN SOLUTION
# The influence is linear in the quantity of interest, so
# $\chi(f_{cat} - f_{dog}) = \chi(f_{cat}) - \chi(f_{dog})$. A neuron that raises both
# scores by similar amounts (a detector of fur, of animal shapes, of the typical
# background of pets) ranks high for $f_{cat}$ and for $f_{dog}$ but cancels in the
# difference. The comparative top neurons are those that push towards "cat" *and away
# from* "dog": the features the network uses to tell the two classes apart, rather than
# the ones that make an image look like some animal at all. Single-class explanations mix
# both kinds; the comparative one isolates the discriminating features (Leino et al.,
# Section IV-C).
# ### END SOLUTION

# %% [markdown]
# ## Part 3: What does a neuron look for?
#
# To interpret neuron $j$ (a channel), Leino et al. look at the pixels that drive it: the
# *saliency map* of its activation $a_j(x) = \sum_{p} h(x)_{j,p}$ (the channel summed over
# the positions $p$) is $\partial a_j / \partial x$; its path-integrated version is the
# Integrated Gradients of $a_j$. Scaling the pixels of the image by the positive part of
# the attribution shows what the neuron sees.
#
# ### Exercise 4 (2 points)
#
# Return $\partial a_j / \partial x$ for one input `x` (no batch axis; `h` takes batches),
# a tensor shaped like `x`.

# %% nbgrader={"grade": false, "grade_id": "neuron_saliency", "locked": false, "schema_version": 3, "solution": true, "task": false}
def neuron_saliency(h, x, channel):
    """Gradient of the summed activation of `channel` of h at x with respect to x."""
    ### BEGIN SOLUTION
    point = x.detach().unsqueeze(0).requires_grad_(True)
    (grad,) = torch.autograd.grad(h(point)[0, channel].sum(), point)
    return grad[0]
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_neuron_saliency", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
# A 1×1 convolution: every pixel of colour channel i moves channel j by weight[j, i].
_conv = torch.nn.Conv2d(3, 4, 1)
_s = neuron_saliency(_conv, torch.randn(3, 5, 5), 2)
assert tuple(_s.shape) == (3, 5, 5)
assert torch.allclose(_s, _conv.weight[2].reshape(3, 1, 1).expand(3, 5, 5))
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet4_influence", "test_neuron_saliency", neuron_saliency=neuron_saliency)
### END HIDDEN TESTS

# %% tags=["skip-when-grading"]
def masked_image(x, attribution):
    """x (3, H, W, pixels in [-1, 1]) as [0, 1] pixels scaled by the positive attribution.

    The weights are scaled so that the top 2 % of the pixels get full brightness; scaling
    by the single largest weight would leave almost the whole image black."""
    weight = attribution.sum(dim=0).clamp(min=0)
    weight = (weight / torch.quantile(weight, 0.98).clamp(min=1e-12)).clamp(max=1)
    return ((x + 1) / 2 * weight).clamp(0, 1)


def channel_activation(j):
    """a_j on a batch: the activation of channel j of h summed over positions."""
    return lambda B: h(B)[:, j].sum(dim=(1, 2))


def show_neuron(j, images, steps=pick(50, 16)):
    """Images, saliency, integrated saliency and the masked images for neuron j."""
    saliency = torch.stack([neuron_saliency(h, image, j) for image in images])
    integrated = torch.stack([integrated_gradients(channel_activation(j), image, BLACK, steps) for image in images])
    utils.images(images, columns=len(images))
    utils.heatmaps(saliency, columns=len(images))
    utils.heatmaps(integrated, columns=len(images))
    utils.images(torch.stack([masked_image(im, a) for im, a in zip(images, integrated)]), columns=len(images), value_range=(0, 1))
    plt.show()


top_class_neuron = int(top_neurons(chi_class, 1)[0])
print(f"neuron {top_class_neuron}, the most influential for {CLASSES[c_class]}, on six images of the class")
show_neuron(top_class_neuron, X_class[:6])

# %% [markdown]
# ## Part 4: The essence of a class
#
# For five classes (drawn with a fixed seed) we rank the neurons by their influence on the
# class score over *training* images of the class, and list the most positive and the
# most negative ones. Keeping only the top-$k$ neurons of the slice (all others set to
# zero) turns the network into a binary classifier "class $c$ or not"; if the influence
# finds the essence of the class, few neurons should already separate it from the rest.

# %% tags=["skip-when-grading"]
# NBVAL_CHECK_OUTPUT
essence_classes = sorted(np.random.default_rng(4).choice(10, size=5, replace=False).tolist())
# In fast mode the shipped sample of 2,000 training images is enough (and loads at once).
X_train_numpy, T_train_numpy = cifar10.load_sample("train") if utils.fast_mode() else cifar10.load("train")
train_labels = T_train_numpy.reshape(len(T_train_numpy), -1).argmax(axis=1)
per_class = pick(1000, 100)
chi_essence = {
    k_class: influence(h, g, as_nchw(X_train_numpy[np.flatnonzero(train_labels == k_class)[:per_class]]).to(device),
                       class_score(k_class), batch_size=256)
    for k_class in essence_classes
}
for k_class in essence_classes:
    print(f"{CLASSES[k_class]:10s} most positive: {top_neurons(chi_essence[k_class], 3).tolist()}, "
          f"most negative: {top_neurons(-chi_essence[k_class], 3).tolist()}")

# %% [markdown]
# What the most positive neuron of each class sees, on four test images of the class
# (integrated saliency, positive part as a mask):

# %% tags=["skip-when-grading"]
mask_rows = []
for k_class in essence_classes:
    j = int(top_neurons(chi_essence[k_class], 1)[0])
    for image in X_test[labels_test == k_class][:4]:
        mask_rows.append(masked_image(image, integrated_gradients(channel_activation(j), image, BLACK, pick(50, 16))))
utils.images(torch.stack(mask_rows), columns=4, value_range=(0, 1))
plt.show()

# %% [markdown]
# ### Exercise 5 (2 points)
#
# Return the output of `g` on the slice activations `Z` (shape `(N, C, ...)`) with every
# channel *not* listed in `channels` set to zero. No gradients are needed.

# %% nbgrader={"grade": false, "grade_id": "masked_output", "locked": false, "schema_version": 3, "solution": true, "task": false}
def masked_output(g, Z, channels):
    """g(Z) with all channels of Z except `channels` zeroed."""
    ### BEGIN SOLUTION
    keep = torch.zeros(Z.shape[1], dtype=Z.dtype, device=Z.device)
    keep[torch.as_tensor(channels, dtype=torch.long)] = 1
    with torch.no_grad():
        return g(Z * keep.reshape((1, -1) + (1,) * (Z.ndim - 2)))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_masked_output", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_Z = torch.ones(2, 3, 2, 2)
_out = masked_output(torch.nn.Identity(), _Z, [1])
assert tuple(_out.shape) == (2, 3, 2, 2)
assert float(_out[:, 1].sum()) == 8.0 and float(_out[:, [0, 2]].abs().sum()) == 0.0
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe
_probe("sheet4_influence", "test_masked_output", masked_output=masked_output)
### END HIDDEN TESTS

# %% [markdown]
# The binary classifier answers "class $c$" when $c$ has the largest score of the masked
# network. Its balanced accuracy on the test images, against the number $k$ of kept
# neurons, beside the full network used the same way (dashed).

# %% tags=["skip-when-grading"]
def balanced_accuracy(says_c, is_c):
    """Mean of the hit rates on the class and on the rest."""
    return 0.5 * (says_c[is_c].float().mean() + (~says_c[~is_c]).float().mean()).item()


Z_test = map_batches(h, X_test)
kept_counts = [1, 2, 3, 5, 8, 12, 20, 30, 50]
fig, ax = plt.subplots(figsize=(6, 3.5))
for k_class, colour in zip(essence_classes, plt.cm.tab10.colors):
    is_c = labels_test == k_class
    curve = [balanced_accuracy(masked_output(g, Z_test, top_neurons(chi_essence[k_class], k)).flatten(1).argmax(1) == k_class, is_c)
             for k in kept_counts]
    ax.plot(kept_counts, curve, "o-", color=colour, label=CLASSES[k_class])
    ax.axhline(balanced_accuracy(scores_test.argmax(1) == k_class, is_c), color=colour, linestyle="--", linewidth=1)
ax.set_xscale("log")
ax.set_xlabel("kept neurons $k$ (of 50)")
ax.set_ylabel("balanced accuracy, class vs rest")
ax.legend(fontsize=8)
plt.show()
