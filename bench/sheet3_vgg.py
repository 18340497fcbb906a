"""Sheet 3: LRP on VGG-16 (224×224, batch 1, CPU) by the gradient trick of the reference
solution, against Zennit's composite with the same rules and against plain
Gradient×Input, all in the same process.  Random weights (no download): the cost of a
pass does not depend on the weight values.

    python bench/sheet3_vgg.py [--threads 1] [--breakdown]

Goals: LRP ≤ 1.0× Zennit and ≤ 1.2× Gradient×Input.  The second is out of reach on the
CPU while LRP stays equal to Zennit's, for a reason of arithmetic.  Per convolution after
the first, Gradient×Input runs one convolution forward (z) and one backward.  LRP-γ (γ > 0
in every block of VGG-16, so no convolution falls back to LRP-0, which would need no p)
also needs the modified output p = conv_{w+γw⁺}(a) at every position where the signal
passes, since z/p multiplies it there: three convolutions of the same size against two.
No exact rewriting removes the third: for a ≥ 0, p = z + γ(conv_{w⁺}(a) + b⁺) still needs
conv_{w⁺}(a); the backward (w + γw⁺)ᵀs is one convolution either way; and the positions
where p matters (z > 0, and the maxima before a max-pooling) differ from channel to
channel, which a dense convolution cannot skip.  The forward computes z and p as one
convolution with twice the output channels (z is a view of it, free); it costs exactly
twice the convolution of z, in NCHW as in channels_last memory.

Measured with ``--breakdown`` (parts taking turns in one process, medians of 5,
convolutions 2–13 of VGG-16 summed; load average 0.5–1.2 from other work):

    part                                   1 thread            2 threads
                                        LRP     G×I          LRP     G×I
    forward z                           (838)   838 ms       (431)   431 ms
    forward z and p (one convolution)   1669      —           857      —
      of which p                         830                  426
    backward                             832    837           425    427
    first convolution, fwd + bwd          81     31            34     16
    dense layers, pooling, element-wise  158    132            98     90
    total                               2739   1838 ms       1414    964 ms
    ratio                                  1.49                 1.47
    ratio without p                        1.04                 1.03

The bench rows at the same time: 1.48× Gradient×Input and 0.25× Zennit at one thread,
1.46× and 0.24× at two.  1.2× would leave p at most about a third of a convolution.
The zB layer runs two small convolutions forward (the pixels; the bounds L and H
stacked) and one backward (the pixels' gradient is the negated sum of the bounds'),
which took it from 101 to 64 ms at one thread (its own forward and backward, in one
process).  Below 1.5× only a convolution algorithm with fewer multiplications
(Winograd) on the LRP side alone, which compares different algorithms and rounds
differently, could go.
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


def _setup():
    torch.manual_seed(0)
    model = torchvision.models.vgg16(weights=None).eval().requires_grad_(False)
    X = vgg.IMAGENET_NORMALISATION(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)))
    L, H = vgg.IMAGENET_NORMALISATION.bounds(X)
    return model, X, L, H, vgg.CASTLE


def run() -> list[dict]:
    model, X, L, H, c = _setup()
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


def breakdown(repeats=REPEATS) -> dict:
    """Median seconds of the parts of LRP and of Gradient×Input (the table of the module
    docstring): the convolutions after the first one, summed (z alone; z and p as the
    reference's one convolution; the backward of each side), the first convolution forward
    and backward on each side, the totals, and what is left (dense layers, pooling,
    element-wise passes)."""
    model, X, L, H, c = _setup()
    lrpmodel = ref.build_lrp_model(model)
    features = model.features
    inputs, x = {}, X
    with torch.no_grad():
        for index, layer in enumerate(features):
            if isinstance(layer, torch.nn.Conv2d):
                inputs[index] = x
            x = layer(x)
        later = [index for index in inputs if index != ref.first_conv(model)]
        outputs = {i: features[i](inputs[i]) for i in later}

    def forward_z():
        for i in later:
            features[i](inputs[i])

    def forward_z_and_p():
        for i in later:
            lrp_layer = lrpmodel.features[i]
            lrp_layer.geometry.forward(inputs[i], lrp_layer.stacked_weight, lrp_layer.stacked_bias)

    def backward_lrp():
        for i in later:
            lrp_layer = lrpmodel.features[i]
            lrp_layer.geometry.input_gradient(inputs[i].shape, lrp_layer.pconv.weight,
                                              lrp_layer.flipped_weight, outputs[i])

    def backward_gradient():
        for i in later:
            conv = features[i]
            torch.nn.grad.conv2d_input(inputs[i].shape, conv.weight, outputs[i], conv.stride, conv.padding)

    first = ref.first_conv(model)

    def first_lrp():
        leaves = [t.clone().requires_grad_(True) for t in (X, L, H)]
        torch.autograd.grad(lrpmodel.features[first](tuple(leaves)).sum(), leaves)

    def first_gradient():
        leaf = X.clone().requires_grad_(True)
        torch.autograd.grad(features[first](leaf).sum(), leaf)

    with torch.no_grad():
        parts = _median_seconds({"forward z": forward_z, "forward z and p": forward_z_and_p,
                                 "backward LRP": backward_lrp, "backward Gradient×Input": backward_gradient},
                                repeats)
    parts.update(_median_seconds({
        "LRP": lambda: ref.lrp(lrpmodel, X, c, L, H),
        "Gradient×Input": lambda: ref.gradient_x_input(model, X, c),
        "first convolution LRP": first_lrp, "first convolution Gradient×Input": first_gradient}, repeats))
    parts["p (z and p − z)"] = parts["forward z and p"] - parts["forward z"]
    parts["rest LRP"] = (parts["LRP"] - parts["forward z and p"] - parts["backward LRP"]
                         - parts["first convolution LRP"])
    parts["rest Gradient×Input"] = (parts["Gradient×Input"] - parts["forward z"] - parts["backward Gradient×Input"]
                                    - parts["first convolution Gradient×Input"])
    parts["ratio"] = parts["LRP"] / parts["Gradient×Input"]
    parts["ratio without p"] = (parts["LRP"] - parts["p (z and p − z)"]) / parts["Gradient×Input"]
    return parts


if __name__ == "__main__":
    import argparse
    import os

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=None, help="torch's thread count (default: torch's own)")
    parser.add_argument("--breakdown", action="store_true", help="time the parts of LRP and Gradient×Input")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.2f}")
    if args.breakdown:
        for part, value in breakdown().items():
            print(f"{part:36s} {value:.3f}" if "ratio" in part else f"{part:36s} {1e3 * value:8.1f} ms")
    else:
        for row in run():
            print(f"{row['name']}: ours {row['ours_s']:.3f} s, {row['peer']} {row['peer_s']:.3f} s, ratio {row['ratio']:.2f}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
