"""VGG networks for sheet 3 (and sheet 4): loading, the course's small CIFAR-10 VGG,
and the structural helpers of the LRP layer surgery.

Two models can be explained with the same code:

* VGG-16 with torchvision's ImageNet weights (Simonyan & Zisserman, "Very Deep
  Convolutional Networks for Large-Scale Image Recognition", 2015), taken from the torch
  cache, or downloaded when the machine is online (see :func:`load_vgg`), and shown
  matplotlib's sample photo of Grace Hopper (:func:`sample_photo`) or an image of the
  student's own (:func:`imagenet_image`);
* the course's own VGG-style network for CIFAR-10, built from a small configuration and
  trained by ``python -m utils.train_vgg``; its weights ship in ``utils/params/vgg_cifar.pt``.

Both are instances of :class:`VGG`, laid out as torchvision's VGG (``features``,
``avgpool``, ``classifier``, the same parameter names), so torchvision's ImageNet weights
load into it unchanged.  The class is the course's own because importing torchvision
costs seconds (it loads PyTorch's compiler stack), which every start of sheets 3 and 4
would pay; torchvision is imported only for the ImageNet class names.

Both take NCHW tensors normalised per channel as ``(pixel - mean) / std`` with pixels in
[0, 1].  :class:`Normalisation` converts images and gives the pixel box ``[L, H]`` of the
zB rule (the images of the pixels 0 and 1).

The surgery helpers read the structure of ``model.features``: the convolutions, grouped
into blocks that end at a max-pooling layer, and the first convolution (the one that sees
pixels).  Nothing depends on hard-coded layer indices.  :func:`block_gamma` is the γ
schedule of Montavon et al., "Layer-Wise Relevance Propagation: An Overview" (2019), for
VGG-16: γ = 10^(-b/2) in block b = 0, 1, 2, ... (1, 10^-0.5, 10^-1, 10^-1.5, 10^-2).

:class:`ConvPx` is the worked example of the gradient trick for the zB rule (first
convolution); the other rules are exercises of the sheet.
"""
import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .layers import newlayer

PARAMS = Path(__file__).parent / "params"
CIFAR_WEIGHTS = PARAMS / "vgg_cifar.pt"
CIFAR_METRICS = PARAMS / "vgg_cifar.json"

#: Feature configuration of the course's CIFAR-10 VGG: three blocks of two 3×3
#: convolutions, each block closed by a 2×2 max-pooling (32×32 → 4×4).
CIFAR_CFG = (16, 16, "M", 32, 32, "M", 64, 64, "M")
CIFAR_HIDDEN = 256
#: VGG-16, configuration "D" of Simonyan & Zisserman: thirteen 3×3 convolutions in five blocks.
VGG16_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
CASTLE = 483  # ImageNet class index of "castle"
MILITARY_UNIFORM = 652  # ImageNet class index of "military uniform" (matplotlib's sample photo)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class WeightsUnavailable(RuntimeError):
    """The requested pretrained weights are neither cached nor downloadable."""


@dataclass(frozen=True)
class Normalisation:
    """Per-channel input normalisation ``x = (pixel - mean) / std`` for pixels in [0, 1]."""

    mean: tuple
    std: tuple

    def _shape(self, values, like: torch.Tensor) -> torch.Tensor:
        """``values`` as a (1, C, 1, 1) tensor on the device of ``like``, in its floating dtype."""
        dtype = like.dtype if like.is_floating_point() else torch.float32
        return torch.tensor(values, dtype=dtype, device=like.device).reshape(1, -1, 1, 1)

    def __call__(self, pixels) -> torch.Tensor:
        """NCHW pixels in [0, 1] → model input (float32, on the device of ``pixels``)."""
        pixels = torch.as_tensor(pixels, dtype=torch.float32)
        return (pixels - self._shape(self.mean, pixels)) / self._shape(self.std, pixels)

    def to_pixels(self, X) -> torch.Tensor:
        """Model input → NCHW pixels in [0, 1] (for plotting), on the device of ``X``."""
        X = torch.as_tensor(X).detach()
        return X * self._shape(self.std, X) + self._shape(self.mean, X)

    def bounds(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The pixel box ``(L, H)`` shaped like ``X`` (same device and dtype): the images of
        the pixel values 0 and 1."""
        X = torch.as_tensor(X).detach()
        mean, std = self._shape(self.mean, X), self._shape(self.std, X)
        low = torch.zeros_like(X) + (0 - mean) / std
        high = torch.zeros_like(X) + (1 - mean) / std
        return low, high


#: The CIFAR-10 VGG sees the course's [-1, 1] pixels: mean 0.5, std 0.5, box [-1, 1].
CIFAR_NORMALISATION = Normalisation((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
IMAGENET_NORMALISATION = Normalisation(IMAGENET_MEAN, IMAGENET_STD)


@dataclass
class LoadedVGG:
    """A VGG ready to explain: the model (eval mode), what it is, and how to feed it."""

    model: torch.nn.Module
    kind: str  # "imagenet" or "cifar"
    description: str
    normalisation: Normalisation
    classes: tuple = field(default=())

    def __iter__(self):  # ``model, description = load_vgg()``
        return iter((self.model, self.description))


# ----------------------------------------------------------------------------- models


def make_features(cfg=CIFAR_CFG, in_channels: int = 3) -> torch.nn.Sequential:
    """``features`` of a VGG: 3×3 convolutions with padding 1 and ReLU, 'M' = 2×2 max-pool."""
    layers = []
    for item in cfg:
        if item == "M":
            layers.append(torch.nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [torch.nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1), torch.nn.ReLU(inplace=True)]
            in_channels = int(item)
    return torch.nn.Sequential(*layers)


class VGG(torch.nn.Module):
    """A VGG network: ``features`` (convolutions, ReLUs, max-poolings) → ``avgpool`` →
    flatten → ``classifier``, with torchvision's attribute and parameter names."""

    def __init__(self, features: torch.nn.Sequential, avgpool: torch.nn.Module, classifier: torch.nn.Sequential):
        super().__init__()
        self.features = features
        self.avgpool = avgpool
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def vgg16(num_classes: int = 1000) -> VGG:
    """VGG-16's architecture (untrained, PyTorch's default initialisation): features
    :data:`VGG16_CFG`, a 7×7 adaptive average pooling, and the classifier
    Linear(25088, 4096)-ReLU-Dropout-Linear(4096, 4096)-ReLU-Dropout-Linear(4096, classes)."""
    classifier = torch.nn.Sequential(
        torch.nn.Linear(512 * 7 * 7, 4096), torch.nn.ReLU(inplace=True), torch.nn.Dropout(0.5),
        torch.nn.Linear(4096, 4096), torch.nn.ReLU(inplace=True), torch.nn.Dropout(0.5),
        torch.nn.Linear(4096, num_classes),
    )
    return VGG(make_features(VGG16_CFG), torch.nn.AdaptiveAvgPool2d((7, 7)), classifier)


def cifar_vgg(seed: int | None = 0) -> VGG:
    """The course's CIFAR-10 VGG, freshly initialised (seeded): :data:`CIFAR_CFG` features
    (He-normal weights for the ReLUs that follow, zero biases), no pooling of the 4×4
    feature map of a 32×32 image, and a classifier Linear-ReLU-Dropout-Linear-ReLU-Dropout-Linear
    (He-uniform weights, zero biases)."""
    if seed is not None:
        torch.manual_seed(seed)
    features = make_features(CIFAR_CFG)
    channels = [c for c in CIFAR_CFG if c != "M"][-1]
    classifier = torch.nn.Sequential(
        torch.nn.Linear(channels * 4 * 4, CIFAR_HIDDEN),
        torch.nn.ReLU(inplace=True),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(CIFAR_HIDDEN, CIFAR_HIDDEN),
        torch.nn.ReLU(inplace=True),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(CIFAR_HIDDEN, 10),
    )
    model = VGG(features, torch.nn.Identity(), classifier)  # the feature map is already 4×4
    for layer in model.features:
        if isinstance(layer, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            torch.nn.init.zeros_(layer.bias)
    for layer in model.classifier:
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")
            torch.nn.init.zeros_(layer.bias)
    return model


def load_cifar_vgg(weights: str | os.PathLike | None = CIFAR_WEIGHTS) -> VGG:
    """The trained CIFAR-10 VGG in eval mode; ``weights=None`` gives the untrained one."""
    model = cifar_vgg()
    if weights is not None:
        if not Path(weights).is_file():
            raise WeightsUnavailable(f"no trained CIFAR-10 VGG at {weights}; train it with 'python -m utils.train_vgg'")
        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return model.eval()


def cifar_metrics() -> dict:
    """Test accuracy, training time and seed recorded when the shipped weights were trained."""
    return json.loads(CIFAR_METRICS.read_text()) if CIFAR_METRICS.is_file() else {}


#: torchvision's ImageNet weights of VGG-16 (528 MB; the file name carries the start of its SHA-256).
IMAGENET_WEIGHTS_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
#: Set to 1 to forbid every download of model weights (CI, grading, metered connections).
NO_DOWNLOAD_VARIABLE = "COURSE_NO_DOWNLOAD"
#: Where the ImageNet weights come from.
WEIGHTS_HOST = "download.pytorch.org"


def imagenet_weights_file() -> Path:
    """Where the ImageNet weights of VGG-16 lie in the torch cache (``$TORCH_HOME``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(IMAGENET_WEIGHTS_URL).name


def online(host: str = WEIGHTS_HOST, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a connection to ``host`` opens within ``timeout`` seconds."""
    import socket

    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def downloads_allowed() -> bool:
    """False in fast mode (grading, CI) and when ``$COURSE_NO_DOWNLOAD`` is set to 1."""
    from .runmode import fast_mode

    return not fast_mode() and os.environ.get(NO_DOWNLOAD_VARIABLE, "0") in ("", "0", "false", "False")


def _imagenet_state_dict(download: bool, progress: bool) -> tuple[dict, str]:
    """The ImageNet parameters of VGG-16 and where they came from ("cache" or "download").

    The only function here that reads or fetches the weights (the tests replace it)."""
    cached = imagenet_weights_file()
    if cached.is_file():
        return torch.load(cached, map_location="cpu", weights_only=True), "cache"
    if not download:
        raise WeightsUnavailable(
            f"the ImageNet weights of VGG-16 are not in the torch cache ({cached}); "
            "pass download=True to fetch them (528 MB), or use the course's CIFAR-10 VGG"
        )
    try:  # a progress bar on stderr; the file's hash is checked against its name
        state = torch.hub.load_state_dict_from_url(IMAGENET_WEIGHTS_URL, progress=progress, check_hash=True,
                                                   map_location="cpu", weights_only=True)
    except Exception as error:  # network errors come in many types
        raise WeightsUnavailable(f"the ImageNet weights of VGG-16 could not be downloaded: {error}") from error
    return state, "download"


def load_imagenet_vgg16(download: bool = False, progress: bool = True) -> VGG:
    """VGG-16 with torchvision's ImageNet weights, in eval mode.

    Uses the torch cache (``$TORCH_HOME``); fetches the weights (with a progress bar) only
    when ``download=True``.  Raises :class:`WeightsUnavailable` otherwise.  The model's
    attribute ``weights_source`` says "cache" or "download".
    """
    state, source = _imagenet_state_dict(download, progress)
    model = vgg16()
    model.load_state_dict(state)
    model.weights_source = source
    return model.eval()


def _cifar_loaded() -> LoadedVGG:
    from .cifar10 import CLASSES

    model = load_cifar_vgg()
    metrics = cifar_metrics()
    accuracy = f", test accuracy {100 * metrics['test_accuracy']:.1f} %" if "test_accuracy" in metrics else ""
    description = (f"the course's VGG-style CIFAR-10 network (features {list(CIFAR_CFG)}, "
                   f"32×32 inputs{accuracy})")
    return LoadedVGG(model, "cifar", description, CIFAR_NORMALISATION, CLASSES)


def load_vgg(prefer: str = "auto", *, download: bool | None = None, progress: bool = True) -> LoadedVGG:
    """The model of sheet 3: ImageNet VGG-16 where available, else the CIFAR-10 VGG.

    ``prefer`` is

    * "auto": VGG-16 from the torch cache; else VGG-16 downloaded (528 MB, with a progress
      bar) when downloads are allowed and the machine is online; else the course's
      CIFAR-10 VGG, which ships with the course;
    * "imagenet": the same two ways to VGG-16, raising :class:`WeightsUnavailable` when
      neither works;
    * "cifar": the course's CIFAR-10 VGG.

    ``download=None`` downloads when :func:`downloads_allowed` (not in fast mode, not with
    ``COURSE_NO_DOWNLOAD=1``) and the weights' host answers; ``True`` always tries,
    ``False`` never does.  The ``description`` of the result says which model it is and
    where its weights came from.  Unpacks as ``model, description = load_vgg()``.
    """
    if prefer not in ("auto", "imagenet", "cifar"):
        raise ValueError(f"prefer must be 'auto', 'imagenet' or 'cifar', got {prefer!r}")
    if prefer == "cifar":
        return _cifar_loaded()
    if download is None:
        download = not imagenet_weights_file().is_file() and downloads_allowed() and online()
    try:
        model = load_imagenet_vgg16(download=download, progress=progress)
    except WeightsUnavailable:
        if prefer == "imagenet":
            raise
        return _cifar_loaded()
    where = {"cache": f"from the torch cache, {imagenet_weights_file()}",
             "download": f"downloaded into {imagenet_weights_file()}"}.get(getattr(model, "weights_source", ""), "")
    description = f"VGG-16 with torchvision's ImageNet weights (1000 classes, 224×224 inputs; weights {where})"
    return LoadedVGG(model, "imagenet", description, IMAGENET_NORMALISATION, imagenet_classes())


def imagenet_classes() -> tuple:
    """The names of the 1000 ImageNet classes, in the order of VGG-16's outputs (from
    torchvision, imported here only: the ImageNet model is the slow path anyway)."""
    from torchvision.models import VGG16_Weights

    return tuple(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def sample_photo() -> Path:
    """matplotlib's sample photo of Grace Hopper in uniform (ImageNet class 652, "military
    uniform"): the image sheet 3 explains with VGG-16 when the student names none."""
    from matplotlib import cbook

    return Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))


def cifar_test_images(n: int = 8, start: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """``n`` CIFAR-10 test images as model input (NCHW, [-1, 1]) and their integer labels."""
    from .cifar10 import load

    X, T = load("test")
    X, T = X[start:start + n], T[start:start + n]
    pixels = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)) * 0.5 + 0.5)
    return CIFAR_NORMALISATION(pixels), T.reshape(len(T), -1).argmax(axis=1)


def imagenet_image(path, size: int = 224) -> torch.Tensor:
    """A user-supplied image file as VGG-16 input: resized (shorter side), centre-cropped
    to ``size``×``size``, normalised with the ImageNet mean and std; shape (1, 3, size, size)."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    scale = size / min(image.size)
    image = image.resize((max(size, round(image.width * scale)), max(size, round(image.height * scale))), Image.BILINEAR)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    pixels = np.asarray(image.crop((left, top, left + size, top + size)), dtype=np.float32) / 255.0
    return IMAGENET_NORMALISATION(torch.from_numpy(pixels.transpose(2, 0, 1)[None].copy()))


# ------------------------------------------------------------------ structure helpers


def _features(model) -> torch.nn.Sequential:
    features = getattr(model, "features", model)
    if not isinstance(features, torch.nn.Sequential):
        raise TypeError(f"expected a VGG (with a Sequential 'features') or a Sequential, got {type(model).__name__}")
    return features


def conv_blocks(model) -> list[list[int]]:
    """Indices into ``model.features`` of the convolutions, grouped by block: a block
    ends at a max-pooling layer.  VGG-16 gives [[0, 2], [5, 7], [10, 12, 14], ...]."""
    blocks, current = [], []
    for index, layer in enumerate(_features(model)):
        if isinstance(layer, torch.nn.Conv2d) or hasattr(layer, "conv"):  # a conv, possibly already wrapped
            current.append(index)
        elif isinstance(layer, (torch.nn.MaxPool2d, torch.nn.AvgPool2d)) and current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    if not blocks:
        raise ValueError("found no convolution in model.features")
    return blocks


def first_conv(model) -> int:
    """Index into ``model.features`` of the first convolution (the one that sees pixels)."""
    return conv_blocks(model)[0][0]


def block_gamma(block: int) -> float:
    """γ of LRP-γ in convolution block ``block`` (0-based): 10^(-block/2)."""
    if block < 0:
        raise ValueError(f"block must be >= 0, got {block}")
    return 10.0 ** (-0.5 * block)


def replace_relus(model: torch.nn.Module, make) -> torch.nn.Module:
    """A deep copy of ``model`` in which every ``torch.nn.ReLU`` module is replaced by
    ``make()``, wherever it is used (a ReLU module used twice is replaced at both places).

    Swapping modules, rather than hooking the ReLUs, keeps a modified backward pass
    correct for in-place ReLUs and for a ReLU module that is called more than once.
    """
    clone = copy.deepcopy(model)
    for module in list(clone.modules()):
        for name, child in list(module._modules.items()):
            if isinstance(child, torch.nn.ReLU):
                module._modules[name] = make()
    return clone.eval() if not model.training else clone


class ConvPx(torch.nn.Module):
    """The zB rule of the first convolution by the gradient trick (Montavon et al., 2017,
    "Explaining nonlinear classification decisions with deep Taylor decomposition";
    Montavon et al., 2019, Section 10.2).

    The forward pass takes ``(X, L, H)``, the input and the pixel box, and returns the
    ordinary output ``z`` as the value ``p · [z / p]_cst`` with
    ``p = z - conv⁺(L) - conv⁻(H)``, so that ``X·∂/∂X + L·∂/∂L + H·∂/∂H`` of the
    output relevance is the zB redistribution.
    """

    def __init__(self, conv: torch.nn.Conv2d):
        super().__init__()
        self.conv = conv
        self.pconv = newlayer(conv, lambda p: p.clamp(min=0))
        self.nconv = newlayer(conv, lambda p: p.clamp(max=0))

    def forward(self, inputs):
        X, L, H = inputs
        z = self.conv(X)
        p = z - self.pconv(L) - self.nconv(H)
        return p * (z / p).detach()


# ------------------------------------------------------------------ evaluation, plots


@torch.no_grad()
def pixel_flipping(model, X, R, c, steps: int = 16, baseline: float = 0.0) -> np.ndarray:
    """Pixel-flipping curves (Samek et al., 2017, "Evaluating the visualization of what a
    deep neural network has learned"): pixels are removed, most relevant first (relevance
    summed over channels), by setting all their channels to ``baseline`` (0 is the mean
    colour of the model's normalisation); after each of ``steps`` equal portions the logit
    of class ``c`` is recorded.  Returns an array (N, steps + 1) starting with the intact
    images.  A faster drop (a smaller area under the curve) means a better explanation."""
    X = torch.as_tensor(X).detach()
    N, C, height, width = X.shape
    scores = torch.as_tensor(R).detach().reshape(N, C, -1).sum(1)
    order = scores.argsort(dim=1, descending=True)
    flat = X.reshape(N, C, -1).clone()
    bounds = np.linspace(0, height * width, steps + 1).round().astype(int)
    curves = [model(X)[:, c]]
    for start, stop in zip(bounds[:-1], bounds[1:]):
        chosen = order[:, start:stop]
        flat.scatter_(2, chosen[:, None, :].expand(N, C, -1), baseline)
        curves.append(model(flat.reshape(X.shape))[:, c])
    return torch.stack(curves, 1).double().cpu().numpy()


def flipping_auc(curves: np.ndarray) -> float:
    """Mean area under pixel-flipping curves, on a flipped-fraction axis from 0 to 1."""
    curves = np.asarray(curves, dtype=np.float64)
    steps = curves.shape[1] - 1
    return float(((curves[:, 1:] + curves[:, :-1]) / 2).sum(1).mean() / steps)


def comparison_panel(pixels, maps: dict, size: float = 2.2):
    """One image (NCHW or CHW pixels in [0, 1]) and, beside it, each named relevance map
    in the course's red (positive) / blue (negative) convention."""
    import matplotlib.pyplot as plt

    from .plotting import _draw_relevance, as_numpy

    image = as_numpy(pixels)
    image = image[0] if image.ndim == 4 else image
    fig, axes = plt.subplots(1, len(maps) + 1, figsize=(size * (len(maps) + 1), size * 1.15))
    axes[0].imshow(np.clip(image.transpose(1, 2, 0), 0, 1))
    axes[0].set_title("input", fontsize=9)
    for ax, (name, relevance) in zip(axes[1:], maps.items()):
        _draw_relevance(ax, _one_map(as_numpy(relevance)))
        ax.set_title(name, fontsize=9)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def _one_map(values: np.ndarray) -> np.ndarray:
    """(H, W) from one image's map: (H, W), (1, H, W), (C, H, W) or (1, C, H, W); channels summed."""
    if values.ndim == 4:
        values = values[0]
    if values.ndim == 3:
        values = values.sum(0)
    if values.ndim != 2:
        raise ValueError(f"expected one relevance map, got shape {values.shape}")
    return values
