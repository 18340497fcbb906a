"""Sheet 4's reference of Integrated Gradients and influence
(autograder/sheets/sheet4_influence/reference.py) against Captum, finite differences and
closed forms; the slicing helpers of utils/attribution.py."""
import copy

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients, InternalInfluence

from autograder.sheets.sheet4_influence import reference as ref
from utils import cnn as cnn_module
from utils.attribution import as_nchw, batches, map_batches, split_model

SLICE = 4  # the ReLU after the second convolution of the sheet-2 network


@pytest.fixture(scope="module")
def random_cnn(tmp_path_factory):
    """The sheet-2 architecture, built by the course's loader, with random parameters."""
    folder = tmp_path_factory.mktemp("sheet2_random")
    generator = np.random.default_rng(40)
    for name, shape in cnn_module.LAYERS:
        W = generator.standard_normal(shape) / np.sqrt(np.prod(shape[:3]))
        B = generator.normal(0, 0.1, shape[-1])
        np.savez(folder / f"{name}.npz", W=W.astype(np.float32), B=B.astype(np.float32))
    return cnn_module.torch_cnn(folder)


@pytest.fixture(scope="module")
def images():
    return torch.from_numpy(np.random.default_rng(41).uniform(-1, 1, (6, 3, 32, 32)).astype(np.float32))


def small_conv_net(seed, dtype=torch.float64):
    """A smooth random CNN (softplus), so that finite differences are accurate."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3), torch.nn.Softplus(), torch.nn.Conv2d(4, 5, 3), torch.nn.Tanh(),
        torch.nn.Flatten(), torch.nn.Linear(5 * 4 * 4, 6),
    )
    return model.to(dtype).eval()


# ------------------------------------------------------------- Integrated Gradients


@pytest.mark.parametrize("steps", [2, 7, 50])
def test_integrated_gradients_equal_captum_riemann_right_on_the_sheet2_network(random_cnn, images, steps):
    x, baseline, target = images[0], -torch.ones(3, 32, 32), 3
    ours = ref.integrated_gradients(lambda B: random_cnn(B).flatten(1)[:, target], x, baseline, steps, batch_size=16)
    theirs = IntegratedGradients(lambda B: random_cnn(B).flatten(1)).attribute(
        x[None], baselines=baseline[None], target=target, n_steps=steps, method="riemann_right"
    )[0]
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))


def test_integrated_gradients_equal_captum_in_float64_to_1e_5():
    model = small_conv_net(1)
    generator = torch.Generator().manual_seed(2)
    x, baseline = torch.randn(2, 8, 8, generator=generator, dtype=torch.float64), torch.zeros(2, 8, 8, dtype=torch.float64)
    ours = ref.integrated_gradients(lambda B: model(B)[:, 4], x, baseline, 20, batch_size=6)
    theirs = IntegratedGradients(model).attribute(x[None], baselines=baseline[None], target=4, n_steps=20,
                                                  method="riemann_right")[0]
    assert float((ours - theirs).abs().max()) < 1e-5 * max(1.0, float(theirs.abs().max()))


def test_batch_size_does_not_change_integrated_gradients(random_cnn, images):
    F = lambda B: random_cnn(B).flatten(1)[:, 1]  # noqa: E731
    whole = ref.integrated_gradients(F, images[1], images[2], 13)
    pieces = ref.integrated_gradients(F, images[1], images[2], 13, batch_size=4)
    assert torch.allclose(whole, pieces, rtol=1e-5, atol=1e-6)


def test_completeness_error_shrinks_with_the_steps():
    model = small_conv_net(3)
    x = torch.randn(2, 8, 8, dtype=torch.float64)
    baseline = torch.zeros_like(x)
    F = lambda B: model(B)[:, 0]  # noqa: E731
    with torch.no_grad():
        gap = float(F(x[None]) - F(baseline[None]))
    errors = [abs(float(ref.integrated_gradients(F, x, baseline, m).sum()) - gap) for m in (4, 16, 64, 256)]
    assert all(later < earlier for earlier, later in zip(errors, errors[1:]))
    assert errors[-1] < 0.05 * errors[0]


@pytest.mark.parametrize("m", [2, 4, 10, 64])
def test_saturation_example_in_closed_form(m):
    """y = 1 - relu(1 - i1 - i2) from (0, 0) to (1, 1): right sum points k/m with k < m/2
    see slope 1 (torch's relu'(0) = 0 at the kink), so IG = ((m/2 - 1)/m) per input."""
    def saturating(I):
        return 1 - torch.relu(1 - I[:, 0] - I[:, 1])

    ig = ref.integrated_gradients(saturating, torch.tensor([1.0, 1.0]), torch.zeros(2), steps=m)
    expected = sum(1 for k in range(1, m + 1) if 2 * k < m) / m
    assert torch.allclose(ig, torch.full((2,), expected))


def test_straight_line_path_points():
    x, baseline = torch.tensor([3.0, -1.0]), torch.tensor([1.0, 1.0])
    path = ref.straight_line_path(x, baseline, 4)
    assert torch.allclose(path, torch.tensor([[1.5, 0.5], [2.0, 0.0], [2.5, -0.5], [3.0, -1.0]]))


# ------------------------------------------------------------------------- influence


@pytest.mark.parametrize("target", [0, 7])
def test_internal_influence_equals_captum_on_the_same_path(random_cnn, images, target):
    h, g = split_model(random_cnn, SLICE)
    x, baseline, steps = images[3], -torch.ones(3, 32, 32), 30
    ours = ref.influence(h, g, ref.straight_line_path(x, baseline, steps), lambda y: y.flatten(1)[:, target], batch_size=8)
    theirs = InternalInfluence(lambda B: random_cnn(B).flatten(1), random_cnn[SLICE]).attribute(
        x[None], baselines=baseline[None], target=target, n_steps=steps, method="riemann_right"
    )[0]
    assert theirs.shape == ours.shape == (50, 10, 10)
    assert torch.allclose(ours, theirs, rtol=1e-4, atol=1e-5 * float(theirs.abs().max()))


def test_influence_equals_finite_differences_of_g():
    model = small_conv_net(5)
    h, g = split_model(model, 1)  # slice: the softplus after the first convolution, (4, 6, 6)
    X = torch.randn(5, 2, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    qoi = lambda y: y[:, 2] - y[:, 5]  # noqa: E731
    chi = ref.influence(h, g, X, qoi, batch_size=2)
    with torch.no_grad():
        Z = h(X)
        flat = Z.reshape(len(Z), -1)
        eps, expected = 1e-6, torch.zeros(flat.shape[1], dtype=torch.float64)
        for j in range(flat.shape[1]):
            step = torch.zeros(flat.shape[1], dtype=torch.float64)
            step[j] = eps
            up, down = qoi(g((flat + step).reshape(Z.shape))), qoi(g((flat - step).reshape(Z.shape)))
            expected[j] = ((up - down) / (2 * eps)).mean()
    assert torch.allclose(chi, expected.reshape(Z.shape[1:]), rtol=1e-6, atol=1e-9)


def test_influence_at_the_input_times_difference_is_integrated_gradients(random_cnn, images):
    x, baseline, steps = images[4], -torch.ones(3, 32, 32), 25
    qoi = lambda y: y.flatten(1)[:, 2]  # noqa: E731
    path = ref.straight_line_path(x, baseline, steps)
    via_influence = (x - baseline) * ref.influence(torch.nn.Identity(), random_cnn, path, qoi)
    ig = ref.integrated_gradients(lambda B: qoi(random_cnn(B)), x, baseline, steps)
    assert torch.allclose(via_influence, ig, rtol=1e-5, atol=1e-6 * float(ig.abs().max()))


def test_influence_is_linear_in_the_quantity_of_interest(random_cnn, images):
    h, g = split_model(random_cnn, SLICE)
    first = ref.influence(h, g, images, lambda y: y.flatten(1)[:, 3])
    second = ref.influence(h, g, images, lambda y: y.flatten(1)[:, 5])
    difference = ref.influence(h, g, images, lambda y: y.flatten(1)[:, 3] - y.flatten(1)[:, 5])
    assert torch.allclose(difference, first - second, atol=1e-6)


def test_top_neurons_rank_channels_by_their_peak():
    chi = torch.zeros(5, 3, 3)
    chi[1] = 0.5
    chi[3, 2, 2] = 2.0  # one strong position beats a uniformly good channel
    chi[4] = -1.0
    chi[4, 0, 0] = 1.0
    assert ref.top_neurons(chi, 5).tolist() == [3, 4, 1, 0, 2]


def test_neuron_saliency_equals_finite_differences(random_cnn, images):
    h, _ = split_model(random_cnn, SLICE)
    h64 = copy.deepcopy(h).double()  # a float64 copy, so that finite differences are accurate
    x = images[5].double()
    saliency = ref.neuron_saliency(h64, x, 17)
    generator = np.random.default_rng(7)
    for _ in range(5):
        i = tuple(int(generator.integers(n)) for n in x.shape)
        step = torch.zeros_like(x)
        step[i] = 1e-6
        with torch.no_grad():
            numeric = (h64((x + step)[None])[0, 17].sum() - h64((x - step)[None])[0, 17].sum()) / 2e-6
        assert abs(float(numeric) - float(saliency[i])) < 1e-5 * max(1.0, float(saliency.abs().max()))


def test_masked_output_equals_zeroing_channels_by_a_forward_hook(random_cnn, images):
    h, g = split_model(random_cnn, SLICE)
    keep = [4, 11, 30]

    def zero_others(module, inputs, output):
        mask = torch.zeros(output.shape[1])
        mask[keep] = 1
        return output * mask.reshape(1, -1, 1, 1)

    handle = random_cnn[SLICE].register_forward_hook(zero_others)
    try:
        with torch.no_grad():
            expected = random_cnn(images)
    finally:
        handle.remove()
    with torch.no_grad():
        got = ref.masked_output(g, h(images), keep)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(ref.masked_output(g, h(images), range(50)), map_batches(random_cnn, images), atol=1e-5)


# ------------------------------------------------------------------- utils.attribution


def test_split_model_composes_to_the_model(random_cnn, images):
    for after in (0, SLICE, "4", -2):
        h, g = split_model(random_cnn, after)
        with torch.no_grad():
            assert torch.allclose(g(h(images)), random_cnn(images), atol=1e-6)
    h, g = split_model(random_cnn, SLICE)
    assert h(images).shape == (6, 50, 10, 10)
    assert h[0] is random_cnn[0]  # shared, not copied


def test_split_model_rejects_bad_layers(random_cnn):
    with pytest.raises(ValueError, match="out of range"):
        split_model(random_cnn, 10)
    with pytest.raises(ValueError, match="no layer named"):
        split_model(random_cnn, "conv2")
    with pytest.raises(TypeError, match="Sequential"):
        split_model(torch.nn.Linear(2, 2), 0)
    with pytest.raises(TypeError, match="index"):
        split_model(random_cnn, 1.5)


def test_batches_cover_the_range_once():
    assert [(s.start, s.stop) for s in batches(7, 3)] == [(0, 3), (3, 6), (6, 7)]
    assert [(s.start, s.stop) for s in batches(4, None)] == [(0, 4)]
    with pytest.raises(ValueError):
        list(batches(4, 0))


def test_as_nchw_turns_the_course_layout_around():
    X = np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3)
    assert torch.equal(as_nchw(X), torch.from_numpy(X).permute(0, 3, 1, 2))


# ------------------------------------------------------------------------- benchmark


def test_bench_times_ours_and_captum_in_the_same_run():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(
        "bench_sheet4", Path(__file__).resolve().parent.parent / "bench" / "sheet4_influence.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    row = bench.measure("tiny", small_conv_net(8, torch.float32), (2, 8, 8), 10, repeats=1)
    assert {"name", "ours_s", "peer", "peer_s", "ratio"} <= set(row)
    assert row["ratio"] == pytest.approx(row["ours_s"] / row["peer_s"])
    assert row["relative_l2_difference"] < 1e-5
