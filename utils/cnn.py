"""The convolutional network of sheet 2 as a PyTorch model.

Sheet 2 trains a small CIFAR-10 network with the NumPy modules of :mod:`utils.modules`
(NHWC, float32)::

    conv 5×5×3×10 → ReLU → sum-pool 2×2 → conv 5×5×10×50 → ReLU → sum-pool 2×2
    → conv 4×4×50×250 → ReLU → sum-pool 2×2 → conv 1×1×250×10

:func:`torch_cnn` builds the same network in PyTorch (NCHW) and loads the parameters the
course ships in ``utils/params/sheet2_cnn/`` (or those of another folder written by
``Network.dump``), so that later sheets and the tests can use it with PyTorch tools
(autograd, Zennit, Captum).  The two networks compute the same function: a NumPy batch
``X`` of shape (N, 32, 32, 3) gives the same scores as ``torch_cnn()(X.transpose(0, 3, 1, 2))``.
"""
from pathlib import Path

import numpy as np
import torch

#: The folder of the parameters that ship with the course.
SHIPPED = Path(__file__).parent / "params" / "sheet2_cnn"

#: The four convolutions: file name (without ``.npz``) and weight shape (height, width, in, out).
LAYERS = (
    ("c1-5x5x3x10", (5, 5, 3, 10)),
    ("c2-5x5x10x50", (5, 5, 10, 50)),
    ("c3-4x4x50x250", (4, 4, 50, 250)),
    ("c4-1x1x250x10", (1, 1, 250, 10)),
)


class SumPool2d(torch.nn.Module):
    """Sum over non-overlapping 2×2 windows (four times a 2×2 average pooling).

    A module of its own, so that relevance rules can be attached to it by type.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(x, 2) * 4


def missing_params(folder) -> list[str]:
    """The parameter files of the four layers that ``folder`` lacks (empty when complete)."""
    folder = Path(folder)
    return [f"{name}.npz" for name, _ in LAYERS if not (folder / f"{name}.npz").is_file()]


def load_layer(folder, name: str, shape) -> tuple[np.ndarray, np.ndarray]:
    """The float32 weight (h, w, in, out) and bias (out,) stored in ``folder/name.npz``."""
    path = Path(folder) / f"{name}.npz"
    with np.load(path) as stored:
        W = np.asarray(stored["W"], dtype=np.float32)
        B = np.asarray(stored["B"], dtype=np.float32)
    if W.shape != tuple(shape) or B.shape != (shape[-1],):
        raise ValueError(f"{path} holds W{W.shape} and B{B.shape}; expected W{tuple(shape)} and B({shape[-1]},)")
    return W, B


def conv_from_numpy(W: np.ndarray, B: np.ndarray) -> torch.nn.Conv2d:
    """A ``Conv2d`` computing the same cross-correlation as an NHWC weight ``W`` (h, w, in, out)."""
    h, w, cin, cout = W.shape
    conv = torch.nn.Conv2d(cin, cout, (h, w))
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(W.transpose(3, 2, 0, 1))))
        conv.bias.copy_(torch.from_numpy(np.ascontiguousarray(B)))
    return conv


def torch_cnn(params_dir=None) -> torch.nn.Sequential:
    """The sheet-2 network in PyTorch with the parameters stored in ``params_dir``.

    ``params_dir`` defaults to the parameters that ship with the course
    (:data:`SHIPPED`); any folder written by ``utils.modules.Network.dump`` works too.
    Input: NCHW float32 images in [-1, 1]; output: scores of shape (N, 10, 1, 1).
    The model is in evaluation mode and its parameters do not require gradients.
    """
    folder = SHIPPED if params_dir is None else Path(params_dir)
    missing = missing_params(folder)
    if missing:
        hint = (
            "The course's trained parameters are missing: the maintainers create them with "
            "'OPENBLAS_NUM_THREADS=1 python -m autograder.sheets.sheet2_cifar.train --iterations 10000 --seed 2 "
            "--out utils/params/sheet2_cnn'."
            if folder == SHIPPED
            else "Write them with Network.dump() after training on sheet 2."
        )
        raise FileNotFoundError(f"{folder} lacks {', '.join(missing)}. {hint}")
    convs = [conv_from_numpy(*load_layer(folder, name, shape)) for name, shape in LAYERS]
    model = torch.nn.Sequential(
        convs[0], torch.nn.ReLU(), SumPool2d(),
        convs[1], torch.nn.ReLU(), SumPool2d(),
        convs[2], torch.nn.ReLU(), SumPool2d(),
        convs[3],
    )
    model.eval()
    for param in model.parameters():
        param.requires_grad_(False)
    return model


def from_modules(network) -> torch.nn.Sequential:
    """The PyTorch twin (NCHW) of a :class:`utils.modules.Network` built from Convolution,
    ReLU and Pooling layers, with the same parameters."""
    from utils import modules as md

    layers = []
    for layer in network.layers:
        if isinstance(layer, md.Convolution):
            layers.append(conv_from_numpy(layer.W, layer.B))
        elif isinstance(layer, md.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(layer, md.Pooling):
            layers.append(SumPool2d())
        else:
            raise TypeError(f"no PyTorch twin for a layer of type {type(layer).__name__}")
    return torch.nn.Sequential(*layers)
