"""Sheet 3: LRP on VGG-16 (224×224, batch 1, CPU) by the gradient trick of the reference
solution, against Zennit's composite with the same rules and against plain
Gradient×Input, all in the same process.  Random weights (no download): the cost of a
pass does not depend on the weight values.

Goals: LRP ≤ 1.0× Zennit and ≤ 1.2× Gradient×Input.  Where that second goal meets
arithmetic: per convolution, Gradient×Input runs one convolution forward and one
backward; LRP-γ also needs the modified output p = conv_{w+γw⁺}(a) at every position
(the forward computes z and p as one convolution with twice the output channels), so
three against two.  On one CPU thread, where every convolution is compute-bound, LRP
took 1.49× the CPU time of Gradient×Input (2.75 s against 1.85 s), with or without the
fused ReLU and the input gradients as forward convolutions; below that only a
convolution algorithm with fewer multiplications (Winograd) or the stacked convolution
using several cores better than two separate ones can go.
"""
import statistics
import time

import torch
import torchvision
from zennit.attribution import Gradient

from autograder.sheets.sheet3_vgg import reference as ref
from utils import vgg

REPEATS = 5


def _median_seconds(functions: dict, repeats=REPEATS) -> dict:
    """Median wall time of each function; the functions take turns in every round, so that
    a change in the load of a shared machine hits all of them alike."""
    times = {name: [] for name in functions}
    for function in functions.values():
        function()  # warm-up: allocator, oneDNN primitives
    for _ in range(repeats):
        for name, function in functions.items():
            start = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def run() -> list[dict]:
    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval().requires_grad_(False)
    X = vgg.IMAGENET_NORMALISATION(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)))
    L, H = vgg.IMAGENET_NORMALISATION.bounds(X)
    c = vgg.CASTLE

    lrpmodel = ref.build_lrp_model(model)
    zmodel, composite = ref.zennit_setup(model, L, H)
    with Gradient(model=zmodel, composite=composite) as attributor:
        seconds = _median_seconds({
            "ours": lambda: ref.lrp(lrpmodel, X, c, L, H),
            "zennit": lambda: attributor(X, ref.logit_of(c)),
            "gradient": lambda: ref.gradient_x_input(model, X, c),
        })
    ours, zennit, gradient = seconds["ours"], seconds["zennit"], seconds["gradient"]

    name = "LRP on VGG-16 (224×224, batch 1, CPU)"
    return [
        {"name": name, "ours_s": ours, "peer": "Zennit 0.5.1 composite (ZBox, Gamma, Epsilon, Pass)",
         "peer_s": zennit, "ratio": ours / zennit},
        {"name": name, "ours_s": ours, "peer": "plain Gradient×Input (torch autograd), same model",
         "peer_s": gradient, "ratio": ours / gradient},
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['name']}: ours {row['ours_s']:.3f} s, {row['peer']} {row['peer_s']:.3f} s, ratio {row['ratio']:.2f}")
