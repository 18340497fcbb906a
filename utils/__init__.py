"""Helpers for the exercise sheets of the course *Explaining neural networks*.

The package is small on purpose: plotting in the course's red/blue convention
(:mod:`utils.plotting`), layer surgery for the gradient trick (:mod:`utils.layers`),
the CIFAR-10 loader with its offline sample (:mod:`utils.cifar10`), the run mode of
the notebooks (:mod:`utils.runmode`) and the device the sheets compute on
(``utils.device()``, the GPU when there is one; :mod:`utils.device`).  Sheet-specific
helpers live in their own modules and are imported by the sheets that need them:
:mod:`utils.symbols` and :mod:`utils.lrp_exact` (sheet 1), :mod:`utils.modules` and
:mod:`utils.cnn` (sheets 2 and 4), :mod:`utils.vgg` (sheets 3 and 4),
:mod:`utils.attribution` (sheet 4).
"""
from .device import device, exact_float32
from .plotting import heatmaps, images, visualize
from .runmode import fast_mode

__all__ = ["images", "heatmaps", "visualize", "newlayer", "fast_mode", "device", "exact_float32"]


def __getattr__(name):
    # ``utils.newlayer`` imports PyTorch when first used, not with the package: sheet 2
    # runs on NumPy alone, and importing PyTorch costs seconds.
    if name == "newlayer":
        from .layers import newlayer

        return newlayer
    raise AttributeError(f"module 'utils' has no attribute {name!r}")
