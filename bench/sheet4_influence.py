"""Benchmark of sheet 4: Integrated Gradients with 50 steps, the course's reference
(:func:`autograder.sheets.sheet4_influence.reference.integrated_gradients`) against Captum's
``IntegratedGradients(method="riemann_right")``, timed in the same process on the same
model, input, baseline and batch size.

The model is the largest one sheet 4 uses: the model of sheet 3 from
:func:`utils.vgg.load_vgg` (ImageNet VGG-16 on a 224×224 image when its weights are
installed, otherwise the course's CIFAR-10 VGG on a 32×32 image).

With ``SHEET4_BENCH_VGG16=1`` the VGG-16 architecture at 224×224 is timed as well, with
random weights when the ImageNet ones are absent (the arithmetic, and so the time, does
not depend on the weights); it takes minutes on a small CPU and runs once
(``BENCH_REPEATS`` overrides the number of timed rounds).  ``BENCH_THREADS`` sets torch's
thread count (default 1, for steadier figures on a shared machine).

    python bench/sheet4_influence.py
"""
import os
import time

import torch
import torchvision
from captum.attr import IntegratedGradients

from autograder.sheets.sheet4_influence import reference as ref

STEPS = 50
REPEATS = 7  # for 32×32 inputs; 224×224 ones take minutes and run once


def _sheet_model():
    """(name, model, input shape, batch size) of the model sheet 4 explains with VGG."""
    from utils import vgg

    try:
        loaded = vgg.load_vgg(download=False)  # the torch cache or the CIFAR-10 VGG: a benchmark never downloads
        model, kind = loaded.model, loaded.kind
    except vgg.WeightsUnavailable:  # the trained CIFAR weights are missing: same arithmetic untrained
        model, kind = vgg.cifar_vgg().eval(), "cifar"
    if kind == "imagenet":
        return "IG 50 steps, VGG-16 (ImageNet) 224x224", model, (3, 224, 224), 10
    return "IG 50 steps, course CIFAR-10 VGG 32x32", model, (3, 32, 32), STEPS


def _vgg16_random():
    torch.manual_seed(0)
    return "IG 50 steps, VGG-16 architecture 224x224", torchvision.models.vgg16(weights=None).eval(), (3, 224, 224), 10


def _timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def measure(name, model, shape, batch_size, repeats=None) -> dict:
    """Best of ``repeats`` interleaved runs of ours and Captum's; checks that they agree."""
    small = shape[-1] <= 64
    repeats = repeats or int(os.environ.get("BENCH_REPEATS", REPEATS if small else 1))
    for param in model.parameters():
        param.requires_grad_(False)
    generator = torch.Generator().manual_seed(4)
    x = torch.rand(shape, generator=generator) * 2 - 1
    baseline = torch.zeros(shape)
    with torch.no_grad():
        target = int(model(x[None]).argmax())
    ours_fn = lambda: ref.integrated_gradients(lambda B: model(B)[:, target], x, baseline, STEPS, batch_size)  # noqa: E731
    captum = IntegratedGradients(model)
    peer_fn = lambda: captum.attribute(  # noqa: E731
        x[None], baselines=baseline[None], target=target, n_steps=STEPS, method="riemann_right",
        internal_batch_size=batch_size,
    )[0]
    if small:  # small models: one untimed round first (allocator, oneDNN kernels)
        ours_fn(), peer_fn()
    ours_s, peer_s, difference = float("inf"), float("inf"), None
    for _ in range(repeats):
        seconds, ours_result = _timed(ours_fn)
        ours_s = min(ours_s, seconds)
        seconds, peer_result = _timed(peer_fn)
        peer_s = min(peer_s, seconds)
        if difference is None:
            # float32 rounding alone moves the attributions of a deep random ReLU network by
            # about 0.5 % (some ReLUs flip); the tests check agreement to 1e-5 in float64.
            difference = float((ours_result - peer_result).norm() / peer_result.norm())
            if difference > 1e-2:
                raise AssertionError(f"{name}: ours and Captum differ by {difference:.3g} (relative L2)")
    return {
        "name": name,
        "ours_s": ours_s,
        "peer": f"captum {__import__('captum').__version__} IntegratedGradients(riemann_right)",
        "peer_s": peer_s,
        "ratio": ours_s / peer_s,
        "relative_l2_difference": difference,
        "batch_size": batch_size,
        "threads": torch.get_num_threads(),
    }


def run() -> list[dict]:
    threads = torch.get_num_threads()  # restored afterwards: other benchmarks share the process
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    try:
        models = [_sheet_model()]
        if os.environ.get("SHEET4_BENCH_VGG16") == "1" and "VGG-16 (ImageNet)" not in models[0][0]:
            models.append(_vgg16_random())
        return [measure(*spec) for spec in models]
    finally:
        torch.set_num_threads(threads)


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']}: ours {row['ours_s']:.3f} s, {row['peer']} {row['peer_s']:.3f} s, "
              f"ratio {row['ratio']:.3f} (batch {row['batch_size']}, {row['threads']} thread(s), "
              f"relative L2 difference {row['relative_l2_difference']:.2g})")
