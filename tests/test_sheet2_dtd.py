"""Deep Taylor decomposition of sheet 2 against Zennit, dense formulas and conservation.

Zennit (Anders et al., "Software for dataset-wide XAI", 2021) applies its rules to the
same network ported to PyTorch: ZBox(−1, 1) on the first convolution, ZPlus with the
bias zeroed on the others (the sheet's z⁺ rule drops the bias), Norm on the sum-pooling
and Pass on the ReLUs.
"""
import numpy as np
import pytest
import torch
from zennit.attribution import Gradient
from zennit.composites import SpecialFirstLayerMapComposite
from zennit.rules import Norm, Pass, ZBox, ZPlus

from autograder.sheets.sheet2_cifar import reference as ref
from utils import cifar10
from utils import modules as md
from utils.cnn import SumPool2d, from_modules

EPS = ref.EPS


def zennit_relevance(network: md.Network, X, R):
    """Relevance on the pixels of ``network`` (conv/ReLU/pool layers) computed by Zennit."""
    model = from_modules(network).eval()
    composite = SpecialFirstLayerMapComposite(
        layer_map=[(torch.nn.ReLU, Pass()), (SumPool2d, Norm(stabilizer=EPS)),
                   (torch.nn.Conv2d, ZPlus(stabilizer=EPS, zero_params="bias"))],
        first_map=[(torch.nn.Conv2d, ZBox(low=-1.0, high=1.0, stabilizer=EPS))],
    )
    x = torch.tensor(X.transpose(0, 3, 1, 2), requires_grad=True)
    with Gradient(model=model, composite=composite) as attributor:
        _, relevance = attributor(x, torch.tensor(R.transpose(0, 3, 1, 2)))
    return relevance.numpy().transpose(0, 2, 3, 1)


def relative_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.fixture(scope="module")
def trained():
    """The shipped network with relprop, and the 50 sample test images with the most evidence."""
    net = ref.reference_dtd_network(md.SHIPPED)
    X, T = cifar10.load_sample("test")
    Y = net.forward(X)
    order = np.argsort(-(Y * T).sum(axis=(1, 2, 3)))[:50]
    return net, X[order], T[order]


def test_dtd_of_the_trained_network_equals_zennit(trained):
    net, X, T = trained
    R = net.forward(X) * T
    ours = net.relprop(R)
    assert relative_l2(ours, zennit_relevance(net, X, R)) <= 1e-4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dtd_of_random_networks_equals_zennit_and_the_dense_formula(seed):
    generator = np.random.default_rng(seed)
    params = [(generator.standard_normal(s).astype(np.float32) / np.sqrt(np.prod(s[:3])),
               generator.standard_normal(s[-1]).astype(np.float32) * 0.1)
              for s in ((3, 3, 3, 4), (3, 3, 4, 6), (1, 1, 6, 3))]
    layers = [ref.RefFirstConvolution(p[0].shape, init="zeros") if k == 0 else ref.RefConvolution(p[0].shape, init="zeros")
              for k, p in enumerate(params)]
    for layer, (W, B) in zip(layers, params):
        layer.W, layer.B = W, B
    net = ref.RefNetwork([layers[0], ref.RefReLU(), ref.RefPooling(), layers[1], ref.RefReLU(), ref.RefPooling(),
                          layers[2], ref.RefReLU()])
    X = generator.uniform(-1, 1, (4, 10, 10, 3)).astype(np.float32)
    R = net.forward(X) * np.eye(3)[generator.integers(0, 3, 4)].reshape(4, 1, 1, 3).astype(np.float32)
    ours = net.relprop(R)
    assert relative_l2(ours, zennit_relevance(net, X, R)) <= 1e-4
    assert relative_l2(ours, ref.reference_relevance(params, X, R)) <= 1e-4


def test_relevance_is_conserved_layer_by_layer(trained):
    """Σ_i R_i = Σ_j R_j Z_j / (Z_j + ε): only neurons without any positive contribution lose relevance."""
    net, X, T = trained
    R = net.forward(X) * T
    total = R.sum(axis=(1, 2, 3))
    for layer in net.layers[::-1]:
        below = layer.relprop(R)
        sums = below.reshape(len(X), -1).sum(axis=1)
        np.testing.assert_allclose(sums, R.reshape(len(X), -1).sum(axis=1), rtol=1e-3, atol=1e-4 * total.max())
        R = below
    np.testing.assert_allclose(R.sum(axis=(1, 2, 3)), total, rtol=1e-3)


def test_both_heatmaps_beat_a_random_order_at_pixel_flipping(trained):
    """The sheet's pixel-flipping section: removing the 10 % most relevant pixels (set to
    grey) destroys far more evidence than removing a random 10 %, for both methods, and
    DTD is at least on par with sensitivity analysis there (the notebook calls it a near tie)."""
    net, X, T = trained
    plain = md.Network(net.layers)
    R = net.forward(X) * T
    D = net.relprop(R).sum(axis=3)
    net.forward(X)
    S = (plain.gradprop(T) ** 2).sum(axis=3)
    random_order = np.random.default_rng(0).random(S.shape)

    def evidence_after_removing(heatmap, fraction=0.1):
        threshold = np.quantile(heatmap.reshape(len(X), -1), 1 - fraction, axis=1)[:, None, None]
        kept = (heatmap < threshold)[..., None]
        return float((plain.forward(X * kept) * T).sum(axis=-1).mean())

    dtd, sensitivity, chance = (evidence_after_removing(h) for h in (D, S, random_order))
    assert dtd < 0.8 * chance and sensitivity < 0.8 * chance
    assert dtd <= 1.05 * sensitivity
