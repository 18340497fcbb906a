"""Plumbing for attribution methods on torch models: slicing a network into two halves
and walking through large batches in small pieces.

Leino et al., "Influence-directed explanations for deep convolutional networks" (2018),
Section II, explain a network ``f`` through a *slice* ``f = g ∘ h``: ``h`` maps the input
to the activations ``z = h(x)`` of an internal layer and ``g`` maps those activations to
the output.  :func:`split_model` cuts an ``nn.Sequential`` into such a pair.  Nothing in
this module computes an attribution; that is the students' work in sheet 4.
"""
from collections.abc import Callable, Iterator

import torch


def _position(model: torch.nn.Sequential, after) -> int:
    """Index of the module named or numbered ``after`` inside ``model``."""
    names = [name for name, _ in model.named_children()]
    if isinstance(after, str):
        if after not in names:
            raise ValueError(f"the model has no layer named {after!r}; its layers are {names}")
        return names.index(after)
    if isinstance(after, int) and not isinstance(after, bool):
        index = after + len(names) if after < 0 else after
        if not 0 <= index < len(names):
            raise ValueError(f"layer index {after} is out of range for a model with {len(names)} layers")
        return index
    raise TypeError(f"the layer must be given by its index (int) or its name (str), got {type(after).__name__}")


def split_model(model: torch.nn.Sequential, after) -> tuple[torch.nn.Sequential, torch.nn.Sequential]:
    """Cut ``model`` into ``(h, g)`` with ``model(x) == g(h(x))``.

    ``h`` runs the layers up to and including the one given by ``after`` (its index or its
    name in ``model``); ``g`` runs the rest.  Both share their layers, and so their
    parameters, with ``model``: nothing is copied.  ``g`` of the last layer is the
    identity.
    """
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"split_model expects a torch.nn.Sequential, got {type(model).__name__}")
    cut = _position(model, after) + 1
    return model[:cut], model[cut:]


def batches(n: int, batch_size: int | None) -> Iterator[slice]:
    """Slices ``[0:b], [b:2b], …`` that cover ``range(n)``; one slice when ``batch_size`` is None."""
    if batch_size is None:
        batch_size = max(n, 1)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def map_batches(function: Callable[[torch.Tensor], torch.Tensor], X: torch.Tensor, batch_size: int | None = 256):
    """``function(X)`` evaluated piece by piece without gradients, concatenated on axis 0."""
    with torch.no_grad():
        return torch.cat([function(X[part]) for part in batches(len(X), batch_size)])


def as_nchw(X) -> torch.Tensor:
    """A float32 NCHW tensor from a NumPy batch in the course's NHWC convention (or a tensor)."""
    tensor = torch.as_tensor(X, dtype=torch.float32)
    if tensor.ndim != 4:
        raise ValueError(f"expected a batch of images of shape (N, H, W, C), got shape {tuple(tensor.shape)}")
    return tensor.permute(0, 3, 1, 2).contiguous() if tensor.shape[-1] in (1, 3) else tensor
