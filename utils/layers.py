"""Layer surgery for the gradient trick of LRP.

Montavon et al., "Layer-Wise Relevance Propagation: An Overview" (2019), Section 10.2,
implement LRP rules as a forward pass through copies of the layers whose parameters have
been transformed, e.g. ``w + γ w⁺``.  :func:`newlayer` makes such a copy.
"""
import copy

import torch


def newlayer(layer: torch.nn.Module, g) -> torch.nn.Module:
    """Return a deep copy of ``layer`` whose ``weight`` and ``bias`` are replaced by ``g(p)``.

    ``g`` maps a parameter tensor to a tensor of the same shape, for example
    ``lambda p: p.clamp(min=0)``.  The original layer is left untouched.  A layer without
    a bias (``bias=None``) keeps none.
    """
    if not isinstance(layer, torch.nn.Module):
        raise TypeError(f"newlayer expects a torch.nn.Module, got {type(layer).__name__}")
    if not hasattr(layer, "weight"):
        raise TypeError(f"newlayer expects a layer with a 'weight' (Conv2d, Linear), got {type(layer).__name__}")
    clone = copy.deepcopy(layer)
    for name in ("weight", "bias"):
        param = getattr(layer, name, None)
        if param is None:
            continue
        with torch.no_grad():
            transformed = g(param.detach().clone())
        if not isinstance(transformed, torch.Tensor) or transformed.shape != param.shape:
            raise ValueError(f"g must return a tensor of shape {tuple(param.shape)} for the {name}")
        setattr(clone, name, torch.nn.Parameter(transformed, requires_grad=param.requires_grad))
    return clone
