"""Where the course's PyTorch code runs: the GPU when there is one, else the CPU.

:func:`device` is the one place the sheets ask.  It returns ``cuda`` when PyTorch sees a
CUDA GPU and ``cpu`` otherwise; the environment variable ``COURSE_DEVICE`` overrides the
choice with any device PyTorch understands (``cpu``, ``cuda``, ``cuda:1``, ``mps``, ...),
for example to compare a GPU run with the CPU::

    COURSE_DEVICE=cpu jupyter lab

``utils.device`` is this function (the package exports it under the module's name);
the module's other names are imported with ``from utils.device import exact_float32``.
The helpers of :mod:`utils` follow the tensors they are given: a function called with
tensors on the GPU computes on the GPU and returns tensors there.

:func:`exact_float32` concerns GPUs only.  Since the Ampere generation NVIDIA GPUs can
multiply float32 matrices in TF32, a format that keeps 10 bits of the mantissa (about
three decimal digits) instead of 23; PyTorch uses it for convolutions by default.  A
network's output moves by about 1e-3 relative, but an explanation that divides by small
denominators (LRP) or sums many gradients (Integrated Gradients) can move by several per
cent.  Where a sheet compares two implementations or checks a conservation law, it turns
TF32 off with this context manager.
"""
from __future__ import annotations

import contextlib
import os
import typing

if typing.TYPE_CHECKING:
    import torch

#: The environment variable that overrides the automatic choice.
ENVIRONMENT_VARIABLE = "COURSE_DEVICE"


def device() -> torch.device:
    """The device the sheets put their models and data on.

    ``$COURSE_DEVICE`` when it is set (and not empty), else ``cuda`` when a CUDA GPU is
    available, else ``cpu``.  A device that PyTorch does not know, or a CUDA device on a
    machine without one, is an error that names the variable.
    """
    import torch  # here, not above: sheet 2 uses utils without PyTorch, and importing it costs seconds

    chosen = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not chosen:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        wanted = torch.device(chosen)
    except RuntimeError as error:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}={chosen!r} is not a device PyTorch knows "
                         "(try cpu or cuda)") from error
    if wanted.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"{ENVIRONMENT_VARIABLE}={chosen!r} asks for a CUDA GPU, but PyTorch sees none "
                           "on this machine; unset the variable or set it to cpu")
    return wanted


def describe(where: torch.device | None = None) -> str:
    """A short description of a device, e.g. ``cuda (NVIDIA H200)`` or ``cpu (2 threads)``."""
    import torch

    where = device() if where is None else torch.device(where)
    if where.type == "cuda":
        return f"{where} ({torch.cuda.get_device_name(where)})"
    if where.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return str(where)


@contextlib.contextmanager
def exact_float32():
    """Inside this block float32 matrix products and convolutions on a CUDA GPU are
    computed in full float32, not in TF32; the previous settings come back afterwards.
    On the CPU it changes nothing (the CPU never uses TF32)."""
    import torch

    matmul, cudnn = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul
        torch.backends.cudnn.allow_tf32 = cudnn
