"""Sheet 3: LRP on VGG-16 (224×224, batch 1, CPU) by the gradient trick of the reference
solution, against Zennit's composite with the same rules and against plain
Gradient×Input, all in the same process.  Random weights (no download): the cost of a
pass does not depend on the weight values.

Goals of the issue: LRP ≤ 1.0× Zennit and ≤ 1.5× Gradient×Input.
"""
import statistics
import time

import torch
import torchvision

from autograder import sheet3_vgg as ref
from utils import vgg

REPEATS = 5


def _median_seconds(function, repeats=REPEATS):
    function()  # warm-up: allocator, oneDNN primitives
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run() -> list[dict]:
    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval().requires_grad_(False)
    X = vgg.IMAGENET_NORMALISATION(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)))
    L, H = vgg.IMAGENET_NORMALISATION.bounds(X)
    c = vgg.CASTLE

    lrpmodel = ref.build_lrp_model(model)
    ours = _median_seconds(lambda: ref.lrp(lrpmodel, X, c, L, H))
    gradient = _median_seconds(lambda: ref.gradient_x_input(model, X, c))

    from zennit.attribution import Gradient

    zmodel, composite = ref.zennit_setup(model, L, H)
    with Gradient(model=zmodel, composite=composite) as attributor:
        zennit = _median_seconds(lambda: attributor(X, ref.logit_of(c)))

    name = "LRP on VGG-16 (224×224, batch 1, CPU)"
    return [
        {"name": name, "ours_s": ours, "peer": "Zennit 0.5.1 composite (ZBox, Gamma, Epsilon, Pass)",
         "peer_s": zennit, "ratio": ours / zennit},
        {"name": name, "ours_s": ours, "peer": "plain Gradient×Input (torch autograd), same model",
         "peer_s": gradient, "ratio": ours / gradient},
    ]


if __name__ == "__main__":
    torch.set_num_threads(torch.get_num_threads())
    for row in run():
        print(f"{row['name']}: ours {row['ours_s']:.3f} s, {row['peer']} {row['peer_s']:.3f} s, ratio {row['ratio']:.2f}")
