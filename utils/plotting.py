"""Plots in the course's convention: images in a grid, relevance as red (positive) and
blue (negative) on white, each map scaled to its own largest magnitude.

Every function accepts NumPy arrays and torch tensors, NHWC or NCHW.  In a notebook the
figure is shown once and nothing is returned (a returned figure would be drawn a second
time); with a non-interactive backend (scripts, tests) the figure is returned instead, to
be saved or inspected.
"""
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import LinearSegmentedColormap

#: Blue for negative, white for zero, red for positive relevance.  An odd number of
#: colours puts zero exactly on the white entry of the lookup table.
RELEVANCE_CMAP = LinearSegmentedColormap.from_list(
    "relevance", [(0.0, "#0b3d91"), (0.25, "#6fa8dc"), (0.5, "#ffffff"), (0.75, "#ea9999"), (1.0, "#990000")], N=257
)


def as_numpy(x) -> np.ndarray:
    """A float64 NumPy copy of an array-like or a (possibly grad-tracking) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    array = np.asarray(x, dtype=np.float64)
    if array.dtype == object:
        raise TypeError("expected numbers, got an array of Python objects")
    return array


def _channels_last(batch: np.ndarray) -> np.ndarray:
    """Turn a 4-D batch into NHWC; NCHW is recognised by 1 or 3 channels on axis 1."""
    if batch.ndim != 4:
        raise ValueError(f"expected a batch of shape (N, H, W, C) or (N, C, H, W), got shape {batch.shape}")
    if batch.shape[-1] in (1, 3):
        return batch
    if batch.shape[1] in (1, 3):
        return batch.transpose(0, 2, 3, 1)
    raise ValueError(f"cannot tell the channel axis of shape {batch.shape}: expected 1 or 3 channels")


def _show(fig):
    """Show ``fig`` in a notebook; hand it back where it cannot be shown."""
    if matplotlib.get_backend().lower() in ("agg", "pdf", "svg", "ps", "cairo", "template"):
        return fig
    plt.show()
    return None


def _grid(n: int, columns: int):
    columns = max(1, min(columns, n))
    rows = int(np.ceil(n / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.2 * columns, 1.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    return fig, axes.ravel()


def images(X, columns: int = 10, value_range=None):
    """Show a batch of images in a grid.

    ``X`` holds N images, NHWC or NCHW, with pixels in [-1, 1] (the course's CIFAR-10
    convention) or [0, 1]; the range is guessed from the sign of the smallest value
    unless ``value_range=(low, high)`` is given.
    """
    batch = as_numpy(X)
    if batch.ndim == 3:
        batch = batch[None]
    batch = _channels_last(batch)
    low, high = value_range if value_range is not None else ((-1.0, 1.0) if batch.min() < 0 else (0.0, 1.0))
    pixels = np.clip((batch - low) / (high - low), 0.0, 1.0)
    fig, axes = _grid(len(pixels), columns)
    for ax, image in zip(axes, pixels):
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=1)
    return _show(fig)


def _relevance_maps(R) -> np.ndarray:
    """N relevance maps of shape (N, H, W); channels, if any, are summed."""
    maps = as_numpy(R)
    if maps.ndim == 4:
        maps = _channels_last(maps).sum(axis=-1)
    elif maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"expected relevance of shape (N, H, W) or (N, H, W, C) or (N, C, H, W), got {maps.shape}")
    return maps


def _draw_relevance(ax, relevance: np.ndarray):
    limit = np.abs(relevance).max()
    limit = limit if limit > 0 else 1.0
    ax.imshow(relevance, cmap=RELEVANCE_CMAP, vmin=-limit, vmax=limit, interpolation="nearest")


def heatmaps(R, columns: int = 10):
    """Show a batch of relevance maps in a grid, each scaled to its own largest |R|."""
    maps = _relevance_maps(R)
    fig, axes = _grid(len(maps), columns)
    for ax, relevance in zip(axes, maps):
        _draw_relevance(ax, relevance)
    return _show(fig)


def visualize(R, size: float = 4.0):
    """Show one relevance map: (H, W), or one image's relevance (C, H, W), (1, C, H, W), NHWC too."""
    maps = _relevance_maps(R if as_numpy(R).ndim != 3 else as_numpy(R)[None])
    if len(maps) != 1:
        raise ValueError(f"visualize shows one map, got {len(maps)}; use heatmaps for a batch")
    fig, ax = plt.subplots(figsize=(size, size))
    ax.axis("off")
    _draw_relevance(ax, maps[0])
    return _show(fig)
