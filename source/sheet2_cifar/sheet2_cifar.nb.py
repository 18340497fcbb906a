# ---
# jupyter:
#   jupytext:
#     formats: py:percent
# ---

# %% [markdown]
# # Sheet 2: Training a convolutional network and explaining its predictions
#
# In this sheet you train a small convolutional network on CIFAR-10 (Krizhevsky, 2009;
# <https://www.cs.toronto.edu/~kriz/cifar.html>), ten classes of $32 \times 32$ colour
# images, and then explain its decisions pixel by pixel with two methods:
#
# * **sensitivity analysis**, the squared gradient of the class score;
# * **deep Taylor decomposition** (DTD; Montavon et al., "Explaining nonlinear
#   classification decisions with deep Taylor decomposition", *Pattern Recognition* 65,
#   2017), which redistributes the class score layer by layer onto the pixels.
#
# The network is written with `utils.modules`, a small NumPy framework: layers work on
# batches of shape (images, height, width, channels) in float32, and each has
# `forward(X)`, `gradprop(DY)` (the chain rule backwards) and `update(lr)`.
#
# You will write eight pieces of code (23 points, checked automatically) and one
# derivation (2 points, read by the instructors).
#
# **Data.** `utils.cifar10.load` returns images with pixels scaled to $[-1, 1]$ and
# targets as one-hot vectors of shape (N, 1, 1, 10). Accuracy is measured on the first
# 500 test images only, to keep evaluation quick. When the notebook is graded it runs in
# *fast mode*: training runs only a few iterations on the course's sample of 2,000
# training images, and the explanations use the parameters that ship with the course.

# %%
# NBVAL_CHECK_OUTPUT
import tempfile

import matplotlib.pyplot as plt
import numpy
import sympy
from tqdm.auto import tqdm

import utils
from utils import cifar10
from utils import modules as md
from utils.runmode import fast_mode, pick

numpy.random.seed(0)
Xtrain, Ttrain = cifar10.load_sample("train") if fast_mode() else cifar10.load("train")
Xtest, Ttest = cifar10.load("test")
Xtest, Ttest = Xtest[:500], Ttest[:500]
print(f"{len(Xtrain)} training images, {len(Xtest)} test images of shape {Xtest.shape[1:]}")

# %% [markdown]
# The first 50 test images:

# %% tags=["skip-when-grading"]
utils.images(Xtest[:50]);

# %% [markdown]
# ## Exercise 1: Build the network (3 points)
#
# The network alternates convolutions, ReLU layers $x \mapsto \max(0, x)$ and
# sum-pooling layers that add up the four activations of each non-overlapping
# $2 \times 2$ window:
#
# | layer | weights (height × width × in × out) | output |
# |---|---|---|
# | convolution, ReLU, pooling | 5 × 5 × 3 × 10 | 14 × 14 × 10 |
# | convolution, ReLU, pooling | 5 × 5 × 10 × 50 | 5 × 5 × 50 |
# | convolution, ReLU, pooling | 4 × 4 × 50 × 250 | 1 × 1 × 250 |
# | convolution | 1 × 1 × 250 × 10 | 1 × 1 × 10 |
#
# The last layer, a linear map from the 250 activations to the 10 class scores, is a
# $1 \times 1$ convolution. `md.Convolution(shape)` starts from random weights;
# `md.Convolution(shape, init="zeros")` from zero weights. `md.ReLU()` and `md.Pooling()`
# take no arguments; `md.Network(layers)` chains a list of layers.
#
# **Task.** Write `buildcnn()`, which returns this network as an `md.Network` of ten
# layers whose **last layer starts with all weights zero**.

# %% nbgrader={"grade": false, "grade_id": "buildcnn", "locked": false, "schema_version": 3, "solution": true, "task": false}
def buildcnn():
    ### BEGIN SOLUTION
    return md.Network([
        md.Convolution((5, 5, 3, 10)), md.ReLU(), md.Pooling(),
        md.Convolution((5, 5, 10, 50)), md.ReLU(), md.Pooling(),
        md.Convolution((4, 4, 50, 250)), md.ReLU(), md.Pooling(),
        md.Convolution((1, 1, 250, 10), init="zeros"),
    ])
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_buildcnn", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
nn = buildcnn()
assert nn.forward(Xtest[:2]).shape == (2, 1, 1, 10), "the network should map 32×32×3 images to 1×1×10 scores"
assert not nn.forward(Xtest[:2]).any(), "with a zero last layer, all scores start at zero"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet2_cifar", "test_buildcnn", buildcnn=buildcnn)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2: The error gradient (2 + 4 points)
#
# Let $y^{(n)} \in \mathbb{R}^{10}$ be the output of the network for the $n$-th image of a
# minibatch. The class probabilities are
#
# $$p_i^{(n)} = \frac{\exp y_i^{(n)}}{1 + \sum_{j=1}^{10} \exp y_j^{(n)}}, \qquad i = 1, \dots, 10.$$
#
# The "1" in the denominator stands for an eleventh, *default* class with score 0: it
# takes the probability mass when the network finds no evidence for any class, which
# pushes the network towards positive scores for the correct class. With the one-hot
# target $t^{(n)}$, the error of a minibatch of $N = 25$ images is
#
# $$\mathcal{E} = \frac{1}{N} \sum_{n=1}^{N} \mathcal{E}^{(n)}, \qquad
#   \mathcal{E}^{(n)} = -\sum_{i=1}^{10} t_i^{(n)} \log p_i^{(n)}.$$
#
# **Task 2a.** Derive $\partial \mathcal{E} / \partial y_k^{(n)}$.

# %% [markdown] nbgrader={"grade": true, "grade_id": "derivation", "locked": false, "points": 2, "schema_version": 3, "solution": true, "task": false}
# Since $\log p_i = y_i - \log\big(1 + \sum_j e^{y_j}\big)$ and
# $\partial \log\big(1 + \sum_j e^{y_j}\big) / \partial y_k = p_k$,
# $$\frac{\partial \mathcal{E}^{(n)}}{\partial y_k^{(n)}} = -t_k^{(n)} + p_k^{(n)} \sum_i t_i^{(n)}
#   = p_k^{(n)} - t_k^{(n)} \quad (\text{one-hot } t),$$
# and $\partial \mathcal{E} / \partial y_k^{(n)} = (p_k^{(n)} - t_k^{(n)}) / N$: the other
# images of the minibatch do not depend on $y^{(n)}$. Full marks for the result with the
# $1/N$ and a correct argument; 1 point without the $1/N$ or without the argument.

# %% [markdown]
# **Task 2b.** Define the function `geterrorgrad(y, t)`: given the outputs `y` and targets `t` of a
# minibatch, both of shape (N, 1, 1, 10), return $\partial \mathcal{E} / \partial y$ of the
# same shape. It must stay finite for scores in the hundreds: `numpy.exp(300)` is fine in
# float64 but `numpy.exp(800)` is not, and float32 overflows already at 89. Dividing
# numerator and denominator of $p_i$ by the same $e^{m}$ does not change $p_i$.
#
# You may check your derivation with `sympy` (imported above).

# %% nbgrader={"grade": false, "grade_id": "geterrorgrad", "locked": false, "schema_version": 3, "solution": true, "task": false}
def geterrorgrad(y, t):
    """∂E/∂y for scores ``y`` and one-hot targets ``t``, both of shape (N, 1, 1, 10)."""
    ### BEGIN SOLUTION
    shift = numpy.maximum(0, y.max(axis=-1, keepdims=True))  # every exponent becomes ≤ 0
    e = numpy.exp(y - shift)
    p = e / (numpy.exp(-shift) + e.sum(axis=-1, keepdims=True))
    return (p - t) / len(y)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_geterrorgrad", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
_t = numpy.eye(10)[[3]].reshape(1, 1, 1, 10)
_g = geterrorgrad(numpy.zeros((1, 1, 1, 10)), _t)
assert _g.shape == (1, 1, 1, 10)
assert numpy.allclose(_g, 1 / 11 - _t), "with all scores 0, each class (and the default class) has p = 1/11"
assert numpy.isfinite(geterrorgrad(numpy.full((1, 1, 1, 10), 500.0), _t)).all(), "large scores must not overflow"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet2_cifar", "test_geterrorgrad", geterrorgrad=geterrorgrad)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3: One step of stochastic gradient descent (3 points)
#
# **Task.** Write `trainingstep(nn, Xtrain, Ttrain, lr=0.01, batchsize=25)`, which
# (1) draws a minibatch of `batchsize` distinct training images at random with
# `numpy.random.permutation` (NumPy's global generator, which the tests seed: draw once
# per step), (2) feeds it to the network, (3) computes the error
# gradient with `geterrorgrad`, (4) propagates it back with `nn.gradprop` and
# (5) updates the parameters with `nn.update(lr)`.

# %% nbgrader={"grade": false, "grade_id": "trainingstep", "locked": false, "schema_version": 3, "solution": true, "task": false}
def trainingstep(nn, Xtrain, Ttrain, lr=0.01, batchsize=25):
    ### BEGIN SOLUTION
    R = numpy.random.permutation(len(Xtrain))[:batchsize]
    y = nn.forward(Xtrain[R])
    nn.gradprop(geterrorgrad(y, Ttrain[R]))
    nn.update(lr)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_trainingstep", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_net = buildcnn()
trainingstep(_net, Xtrain, Ttrain)
assert _net.layers[-1].W.any(), "after one step the last layer should have moved away from zero"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet2_cifar", "test_trainingstep", trainingstep=trainingstep)
### END HIDDEN TESTS

# %% [markdown]
# ## Training
#
# The loop below trains the network and, at the checkpoints, stores its parameters with
# `nn.dump(folder)` and measures the accuracy on the 500 test images. Train for at least
# 1,000 iterations; 10,000 iterations reach about 0.6 (chance level is 0.1) and take
# two to three minutes on one core of a current CPU. When the sheet is graded, the loop
# runs only a few iterations and dumps into a temporary folder, so that it does not
# overwrite your parameters in `cnn/`.

# %% tags=["skip-when-grading"]
iterations = pick(10000, 20)
folder = pick("cnn", tempfile.mkdtemp())
checkpoints = [10, 20, 40, 100, 200, 400, 1000, 2000, 4000, 6000, 8000, 10000, 12000, 14000, 16000, 18000, 20000]

nn = buildcnn()
history = []
for i in tqdm(range(1, iterations + 1)):
    trainingstep(nn, Xtrain, Ttrain)
    if i in checkpoints:
        nn.dump(folder)
        predicted = numpy.argmax(nn.forward(Xtest), axis=-1)
        history.append((i, (predicted == numpy.argmax(Ttest, axis=-1)).mean()))
        tqdm.write("%6d %.3f" % history[-1])

plt.figure(figsize=(5, 3))
plt.semilogx(*zip(*history), "o-")
plt.xlabel("iterations")
plt.ylabel("test accuracy (500 images)")
plt.grid(alpha=0.3);

# %% [markdown]
# ## Explaining the predictions of the trained network
#
# From here on the sheet uses *your* parameters when `cnn/` holds all four layers, and
# otherwise those that ship with the course (trained for 10,000 iterations on the full
# CIFAR-10 training set). `md.trained_params()` makes that choice and returns the folder.

# %%
# NBVAL_CHECK_OUTPUT
params = md.trained_params("cnn")
cnn = md.Network([
    md.Convolution(params / "c1-5x5x3x10"), md.ReLU(), md.Pooling(),
    md.Convolution(params / "c2-5x5x10x50"), md.ReLU(), md.Pooling(),
    md.Convolution(params / "c3-4x4x50x250"), md.ReLU(), md.Pooling(),
    md.Convolution(params / "c4-1x1x250x10"),
])
Ytest = cnn.forward(Xtest)
print("accuracy = %.3f" % (numpy.argmax(Ytest, axis=-1) == numpy.argmax(Ttest, axis=-1)).mean())

# %% [markdown]
# We explain the 50 test images with the most evidence $y_c$ for their own class $c$:

# %%
order = numpy.argsort(-(Ytest * Ttest).sum(axis=(1, 2, 3)))
X, T = Xtest[order[:50]], Ttest[order[:50]]
utils.images(X);

# %% [markdown]
# ### Sensitivity analysis
#
# Sensitivity analysis scores pixel $p$ by $S_p = \sum_{\text{colour}} (\partial y_c / \partial x_{p})^2$:
# one backward pass of the one-hot target vector through the network.

# %%
Y = cnn.forward(X)
S = (cnn.gradprop(T) ** 2).sum(axis=3)
utils.heatmaps(S);


# %% [markdown]
# If a heatmap marks what makes the image belong to its class, masking the image with it
# should keep the object and remove the rest. Each mask is the heatmap divided by its
# largest value (negative relevance is dropped):

# %% tags=["skip-when-grading"]
def masked(X, heatmaps):
    weights = numpy.maximum(0, heatmaps) / numpy.maximum(1e-12, heatmaps.max(axis=(1, 2), keepdims=True))
    return X * weights[..., None]


utils.images(masked(X, S));

# %% [markdown]
# The sensitivity maps do not single out the objects well: a gradient says what would
# make the image *more or less* of its class, not what in the image makes it belong to
# the class.
#
# ## Exercise 4: Deep Taylor decomposition (13 points)
#
# DTD redistributes the evidence $y_c$ of the network backwards, layer by layer, by a
# rule $R_i = \sum_j q_{ij} R_j$ with $\sum_i q_{ij} = 1$, so that the *relevance*
# $\sum_i R_i$ stays the same at each layer (conservation) and ends on the pixels.
#
# We add a method `relprop(R)` to every layer, and to the network.
#
# **Task 4a (network, 1 point).** `Network.relprop(R)` calls `relprop` of every layer,
# the last layer first, passing each result to the layer below, and returns the result
# of the first layer (as `gradprop` does for gradients).

# %% nbgrader={"grade": false, "grade_id": "network_relprop", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Network(md.Network):
    def relprop(self, R):
        ### BEGIN SOLUTION
        for layer in self.layers[::-1]:
            R = layer.relprop(R)
        return R
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_network_relprop", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
# two stand-in layers that record when they are visited
visited = []


class Recorder:
    def __init__(self, name):
        self.name = name

    def relprop(self, R):
        visited.append(self.name)
        return R + 1


relevance = Network([Recorder("bottom"), Recorder("top")]).relprop(numpy.zeros((1, 1, 1, 1), numpy.float32))
assert visited == ["top", "bottom"], "relprop should visit the layers from the top to the bottom"
assert float(numpy.sum(relevance)) == 2.0, "each layer's relprop should receive what the layer above returned"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet2_cifar", "test_network_relprop", Network=Network)
### END HIDDEN TESTS

# %% [markdown]
# **Task 4b (ReLU, 1 point).** DTD treats a convolution and the ReLU above it as one
# layer of neurons $x_j = \max(0, \sum_i x_i w_{ij} + b_j)$, and applies its rule in the
# convolution. The ReLU therefore passes relevance through unchanged.

# %% nbgrader={"grade": false, "grade_id": "relu_relprop", "locked": false, "schema_version": 3, "solution": true, "task": false}
class ReLU(md.ReLU):
    def relprop(self, R):
        ### BEGIN SOLUTION
        return R
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_relu_relprop", "locked": true, "points": 1, "schema_version": 3, "solution": false, "task": false}
_layer = ReLU()
_layer.forward(Xtest[:1])
assert numpy.array_equal(_layer.relprop(Xtest[:1] ** 2), Xtest[:1] ** 2)
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet2_cifar", "test_relu_relprop", ReLU=ReLU)
### END HIDDEN TESTS

# %% [markdown]
# **Task 4c (convolution, z⁺ rule, 3 points).** Above the first layer, inputs are ReLU
# activations $x_i \ge 0$, and relevance is shared in proportion to the positive
# contributions $x_i w_{ij}^+$, where $w^+ = \max(0, w)$ and the bias is left out:
#
# $$R_i = \sum_j \frac{x_i w_{ij}^+}{\sum_{i'} x_{i'} w_{i'j}^+} R_j .$$
#
# It takes three passes of the layers you already have (the "gradient trick"): with a
# copy of the layer whose weights are $W^+$ and whose biases are 0,
# $Z = \text{forward}(x)$, $S = R / Z$, $C = \text{gradprop}(S)$ and $R_i = x_i C_i$,
# because the gradient of a convolution with weights $W^+$ computes $C_i = \sum_j w_{ij}^+ S_j$.
# Add a small constant such as $10^{-9}$ to $Z$ so that a zero never divides. Use
# `copy.deepcopy(self)` for the copy, and leave `self.W`, `self.B` unchanged. In
# `relprop`, `self.X` is the input of the last forward pass.

# %% nbgrader={"grade": false, "grade_id": "convolution_relprop", "locked": false, "schema_version": 3, "solution": true, "task": false}
import copy


class Convolution(md.Convolution):
    def relprop(self, R):
        ### BEGIN SOLUTION
        positive = copy.deepcopy(self)
        positive.W = numpy.maximum(0, self.W)
        positive.B = numpy.zeros_like(self.B)
        Z = positive.forward(self.X) + 1e-9
        return self.X * positive.gradprop(R / Z)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_convolution_relprop", "locked": true, "points": 3, "schema_version": 3, "solution": false, "task": false}
_layer = Convolution((2, 2, 1, 1), init="zeros")
_layer.W[...] = [[[[1.0]], [[-1.0]]], [[[2.0]], [[0.0]]]]
_layer.forward(numpy.ones((1, 2, 2, 1)))
_R = _layer.relprop(numpy.full((1, 1, 1, 1), 3.0))
assert numpy.allclose(_R.ravel(), [1, 0, 2, 0]), "the positive weights 1 and 2 share the relevance 3 as 1 : 2"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet2_cifar", "test_convolution_relprop", Convolution=Convolution)
### END HIDDEN TESTS

# %% [markdown]
# **Task 4d (pooling, 2 points).** A sum-pooling window $x_j = \sum_{i \in \text{window}} x_i$
# shares its relevance in proportion to its inputs, $R_i = \frac{x_i}{x_j} R_j$: the same
# three passes, with the pooling layer itself.

# %% nbgrader={"grade": false, "grade_id": "pooling_relprop", "locked": false, "schema_version": 3, "solution": true, "task": false}
class Pooling(md.Pooling):
    def relprop(self, R):
        ### BEGIN SOLUTION
        Z = self.forward(self.X) + 1e-9
        return self.X * self.gradprop(R / Z)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_pooling_relprop", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
_layer = Pooling()
_layer.forward(numpy.array([1.0, 3.0, 0.0, 4.0]).reshape(1, 2, 2, 1))
assert numpy.allclose(_layer.relprop(numpy.full((1, 1, 1, 1), 2.0)).ravel(), [0.25, 0.75, 0, 1])
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet2_cifar", "test_pooling_relprop", Pooling=Pooling)
### END HIDDEN TESTS

# %% [markdown]
# **Task 4e (first layer, z^B rule, 4 points).** The pixels are not ReLU activations:
# they lie in a box $l_i \le x_i \le h_i$, here $l_i = -1$ and $h_i = 1$. The $z^B$ rule
# takes this box into account:
#
# $$R_i = \sum_j \frac{x_i w_{ij} - l_i w_{ij}^+ - h_i w_{ij}^-}
#                     {\sum_{i'} \big(x_{i'} w_{i'j} - l_{i'} w_{i'j}^+ - h_{i'} w_{i'j}^-\big)} R_j,$$
#
# with $w^+ = \max(0, w)$ and $w^- = \min(0, w)$ (every term of the denominator is
# $\ge 0$). Write the class `FirstConvolution` with this `relprop`: three copies of the
# layer (weights $W$, $W^+$, $W^-$, biases 0) and the gradient trick once for each.

# %% nbgrader={"grade": false, "grade_id": "firstconvolution", "locked": false, "schema_version": 3, "solution": true, "task": false}
class FirstConvolution(md.Convolution):
    def relprop(self, R):
        ### BEGIN SOLUTION
        plain, positive, negative = (copy.deepcopy(self) for _ in range(3))
        for layer in (plain, positive, negative):
            layer.B = numpy.zeros_like(self.B)
        positive.W = numpy.maximum(0, self.W)
        negative.W = numpy.minimum(0, self.W)
        L = numpy.full_like(self.X, -1.0)
        H = numpy.full_like(self.X, 1.0)
        Z = plain.forward(self.X) - positive.forward(L) - negative.forward(H) + 1e-9
        S = R / Z
        return self.X * plain.gradprop(S) - L * positive.gradprop(S) - H * negative.gradprop(S)
        ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "test_firstconvolution", "locked": true, "points": 4, "schema_version": 3, "solution": false, "task": false}
_layer = FirstConvolution((1, 2, 1, 1), init="zeros")
_layer.W[...] = [[[[1.0]], [[-1.0]]]]
_layer.forward(numpy.zeros((1, 1, 2, 1)))
# numerator x w - l w⁺ - h w⁻: 0 + 1 = 1 for the first pixel and 0 + 1 = 1 for the second
assert numpy.allclose(_layer.relprop(numpy.full((1, 1, 1, 1), 2.0)).ravel(), [1, 1])
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet2_cifar", "test_firstconvolution", FirstConvolution=FirstConvolution)
### END HIDDEN TESTS

# %% [markdown]
# With the new classes, the trained network can explain itself. A ReLU on top keeps only
# positive evidence; the relevance that enters is the evidence for the target class,
# $R = y \odot t$. The test after it (2 points) runs the whole chain of your classes on a small
# random network.

# %%
# NBVAL_CHECK_OUTPUT
names = ["c1-5x5x3x10", "c2-5x5x10x50", "c3-4x4x50x250", "c4-1x1x250x10"]
dtd = Network([
    FirstConvolution(params / names[0]), ReLU(), Pooling(),
    Convolution(params / names[1]), ReLU(), Pooling(),
    Convolution(params / names[2]), ReLU(), Pooling(),
    Convolution(params / names[3]), ReLU(),
])
Y = dtd.forward(X)
D = dtd.relprop(Y * T).sum(axis=3)
print("relevance in: %.4f, relevance on the pixels: %.4f (conservation)" % ((Y * T).sum(), D.sum()))
utils.heatmaps(D);

# %% nbgrader={"grade": true, "grade_id": "test_dtd", "locked": true, "points": 2, "schema_version": 3, "solution": false, "task": false}
assert D.shape == (50, 32, 32)
assert numpy.isclose(D.sum(), (Y * T).sum(), rtol=1e-2), "DTD should conserve the relevance"
### BEGIN HIDDEN TESTS
from utils.probing import probe as _probe

_probe("sheet2_cifar", "test_dtd", Network=Network, FirstConvolution=FirstConvolution, Convolution=Convolution,
       ReLU=ReLU, Pooling=Pooling)
### END HIDDEN TESTS

# %% [markdown]
# The images masked with the DTD heatmaps:

# %% tags=["skip-when-grading"]
utils.images(masked(X, D));


# %% [markdown]
# ## Beyond the masks: pixel flipping
#
# Masked images are judged by eye. *Pixel flipping* (Samek et al., "Evaluating the
# visualization of what a deep neural network has learned", *IEEE TNNLS* 28, 2017)
# measures instead: remove the pixels in the order of a heatmap, most relevant first,
# and follow the evidence $y_c$ as they go. The faster it falls, the better the heatmap
# found what the network uses. A removed pixel is set to 0, the mid-grey of $[-1, 1]$;
# pixels are removed in $2 \times 2$ blocks ranked by their summed relevance, and a
# random order is the baseline.

# %% tags=["skip-when-grading"]
def pixel_flipping(net, X, T, heatmaps, steps=pick(32, 8), block=2):
    """Mean class evidence after removing 0, 1/steps, ..., all of the blocks, most relevant first."""
    N, H, W, _ = X.shape
    scores = heatmaps.reshape(N, H // block, block, W // block, block).sum(axis=(2, 4)).reshape(N, -1)
    rank = numpy.argsort(numpy.argsort(-scores, axis=1), axis=1)  # 0 = most relevant block
    fractions = numpy.linspace(0, 1, steps + 1)
    evidence = []
    for fraction in fractions:
        keep = (rank >= fraction * rank.shape[1]).reshape(N, H // block, 1, W // block, 1)
        keep = numpy.broadcast_to(keep, (N, H // block, block, W // block, block)).reshape(N, H, W, 1)
        evidence.append((net.forward(X * keep) * T).sum(axis=-1).mean())
    return fractions, numpy.array(evidence)


random_order = numpy.random.default_rng(0).random(S.shape)
plt.figure(figsize=(5, 3.5))
for label, heatmap in [("sensitivity", S), ("deep Taylor", D), ("random", random_order)]:
    plt.plot(*pixel_flipping(cnn, X, T, heatmap), label=label)
plt.xlabel("fraction of pixels removed")
plt.ylabel("mean evidence $y_c$")
plt.legend();

# %% [markdown]
# What the curves say, with the parameters that ship with the course (yours may differ):
# both heatmaps order the pixels far better than chance, since the evidence falls much
# faster than along the random order. Between the two, the measurement is close to a
# tie: the two curves stay within a few percent of each other and cross more than once,
# and over the whole range sensitivity is slightly ahead (a smaller area under its
# curve). The masked images suggested a clear winner, DTD; pixel flipping does not
# confirm it in this form. Keep in mind what it
# measures: a heatmap that finds the pixels whose *change* moves $y_c$ most (exactly
# what a gradient is about) does well here even if it does not explain why $y_c$ is
# large, and grey patches are inputs the network never saw in training. Pixel
# flipping is an evaluation with its own bias, not the last word.
