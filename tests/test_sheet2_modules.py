"""utils.modules (sheet 2's NumPy framework) against PyTorch and finite differences."""
import numpy as np
import pytest
import torch

from utils import modules as md
from utils.cnn import SumPool2d, conv_from_numpy, torch_cnn

SHAPES = [((5, 5, 3, 10), (3, 32, 32)), ((3, 2, 4, 6), (2, 9, 7)), ((4, 4, 50, 250), (2, 5, 5)), ((1, 1, 7, 3), (4, 3, 3))]


def _conv(shape, seed=0):
    generator = np.random.default_rng(seed)
    layer = md.Convolution(shape, rng=generator)
    layer.B = generator.standard_normal(shape[-1]).astype(np.float32)
    return layer


@pytest.mark.parametrize("shape,batch", SHAPES)
def test_convolution_matches_torch_forward_backward_and_update(shape, batch):
    generator = np.random.default_rng(1)
    layer = _conv(shape)
    N, H, W = batch
    X = generator.standard_normal((N, H, W, shape[2])).astype(np.float32)
    Y = layer.forward(X)
    DY = generator.standard_normal(Y.shape).astype(np.float32)
    DX = layer.gradprop(DY)

    conv = conv_from_numpy(layer.W, layer.B)
    x = torch.tensor(X.transpose(0, 3, 1, 2), requires_grad=True)
    y = conv(x)
    y.backward(torch.tensor(DY.transpose(0, 3, 1, 2)))
    assert Y.dtype == np.float32 and DX.dtype == np.float32
    np.testing.assert_allclose(Y, y.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(DX, x.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)

    W0, B0 = layer.W.copy(), layer.B.copy()
    layer.update(0.5)
    np.testing.assert_allclose((W0 - layer.W) / 0.5, conv.weight.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose((B0 - layer.B) / 0.5, conv.bias.grad.numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("layer", [_conv((3, 2, 4, 6)), md.Pooling(), md.ReLU()], ids=["conv", "pool", "relu"])
def test_results_do_not_depend_on_the_memory_layout_of_the_input(layer):
    """The layers hand each other (C, H, W, N) memory; a plain NHWC array, a Fortran-ordered
    one and a reversed view must give the same numbers."""
    generator = np.random.default_rng(4)
    X = generator.standard_normal((3, 8, 6, 4)).astype(np.float32)
    Y = layer.forward(X)
    DY = generator.standard_normal(Y.shape).astype(np.float32)
    DX = layer.gradprop(DY)
    flipped = np.ascontiguousarray(X[::-1])[::-1]  # negative strides
    for variant in (np.asfortranarray(X), flipped, np.transpose(np.ascontiguousarray(X.transpose(3, 1, 2, 0)), (3, 1, 2, 0))):
        np.testing.assert_array_equal(layer.forward(variant), Y)
        np.testing.assert_array_equal(layer.gradprop(np.asfortranarray(DY)), DX)


def test_linear_layers_match_finite_differences():
    """Convolution and pooling are linear: central differences are exact up to rounding."""
    generator = np.random.default_rng(2)
    for layer, shape in ((_conv((3, 3, 2, 4)), (2, 6, 8, 2)), (md.Pooling(), (2, 6, 4, 3))):
        X = generator.standard_normal(shape).astype(np.float32)
        Y = layer.forward(X)
        DY = generator.standard_normal(Y.shape).astype(np.float32)
        DX = layer.gradprop(DY)
        for index in [tuple(generator.integers(0, s) for s in shape) for _ in range(12)]:
            plus, minus = X.copy(), X.copy()
            plus[index] += 0.5
            minus[index] -= 0.5
            numeric = float(((layer.forward(plus) - layer.forward(minus)).astype(np.float64) * DY).sum())
            assert numeric == pytest.approx(float(DX[index]), rel=1e-3, abs=1e-3)


def test_relu_gradient_by_finite_differences():
    generator = np.random.default_rng(3)
    X = generator.standard_normal((3, 4, 4, 2)).astype(np.float32)
    X[np.abs(X) < 0.1] = 0.5  # keep away from the kink
    relu = md.ReLU()
    DY = generator.standard_normal(X.shape).astype(np.float32)
    relu.forward(X)
    DX = relu.gradprop(DY)
    numeric = (np.maximum(X + 0.01, 0) - np.maximum(X - 0.01, 0)) / 0.02 * DY
    np.testing.assert_allclose(DX, numeric, rtol=1e-4, atol=1e-5)


def test_network_matches_the_torch_port_and_trains_like_it():
    generator = np.random.default_rng(4)
    net = md.Network([_conv((5, 5, 3, 10), 1), md.ReLU(), md.Pooling(), _conv((5, 5, 10, 50), 2), md.ReLU(),
                      md.Pooling(), _conv((4, 4, 50, 250), 3), md.ReLU(), md.Pooling(), _conv((1, 1, 250, 10), 4)])
    convs = [conv_from_numpy(layer.W, layer.B) for layer in net.layers if isinstance(layer, md.Convolution)]
    model = torch.nn.Sequential(convs[0], torch.nn.ReLU(), SumPool2d(), convs[1], torch.nn.ReLU(), SumPool2d(),
                                convs[2], torch.nn.ReLU(), SumPool2d(), convs[3])
    X = generator.uniform(-1, 1, (6, 32, 32, 3)).astype(np.float32)
    Y = net.forward(X)
    x = torch.tensor(X.transpose(0, 3, 1, 2), requires_grad=True)
    y = model(x)
    scale = np.abs(Y).max()
    np.testing.assert_allclose(Y / scale, y.detach().numpy().transpose(0, 2, 3, 1) / scale, atol=1e-5)
    DY = generator.standard_normal(Y.shape).astype(np.float32)
    DX = net.gradprop(DY)
    y.backward(torch.tensor(DY.transpose(0, 3, 1, 2)))
    grad = x.grad.numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(DX / np.abs(grad).max(), grad / np.abs(grad).max(), atol=1e-5)


def test_dump_names_and_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = md.Network([_conv((5, 5, 3, 10)), md.ReLU(), md.Pooling(), _conv((1, 1, 10, 2))])
    net.dump("cnn")
    assert sorted(p.name for p in (tmp_path / "cnn").iterdir()) == ["c1-5x5x3x10.npz", "c2-1x1x10x2.npz"]
    loaded = md.Convolution("cnn/c1-5x5x3x10")
    np.testing.assert_array_equal(loaded.W, net.layers[0].W)
    np.testing.assert_array_equal(loaded.B, net.layers[0].B)
    assert loaded.W.dtype == np.float32
    md.Network([loaded]).dump("again")  # a loaded layer keeps its name
    assert (tmp_path / "again" / "c1-5x5x3x10.npz").is_file()


def test_loader_prefers_the_local_folder_then_the_shipped_one(tmp_path, monkeypatch):
    shipped, local = tmp_path / "shipped", tmp_path / "work" / "cnn"
    shipped.mkdir()
    local.mkdir(parents=True)
    monkeypatch.setattr(md, "SHIPPED", shipped)
    monkeypatch.chdir(tmp_path / "work")
    md.Network([md.Convolution((1, 1, 2, 3), init="zeros")]).dump(shipped)
    with pytest.raises(FileNotFoundError, match="c2-1x1x2x3"):
        md.Convolution("cnn/c2-1x1x2x3")
    assert not md.Convolution("cnn/c1-1x1x2x3").W.any()  # falls back to the shipped zeros
    md.Network([_conv((1, 1, 2, 3))]).dump(local)
    assert md.Convolution("cnn/c1-1x1x2x3").W.any()  # the local file wins
    with pytest.raises(ValueError, match="promises"):
        (local / "c1-1x1x2x3.npz").rename(local / "c1-1x1x2x4.npz")
        md.Convolution("cnn/c1-1x1x2x4")
    with pytest.raises(ValueError, match="HxWxINxOUT"):
        md.Convolution("cnn/first-layer")


def test_trained_params_needs_all_four_layers(tmp_path):
    assert md.trained_params(tmp_path) == md.SHIPPED
    for name in md.SHEET2_LAYERS:
        shape = md.shape_from_name(name)
        np.savez(tmp_path / f"{name}.npz", W=np.zeros(shape, np.float32), B=np.zeros(shape[-1], np.float32))
    assert md.trained_params(tmp_path) == tmp_path


def test_bad_inputs_get_clear_errors():
    with pytest.raises(ValueError, match="even"):
        md.Pooling().forward(np.zeros((1, 3, 4, 1), np.float32))
    with pytest.raises(ValueError, match="cannot take"):
        md.Convolution((5, 5, 3, 10)).forward(np.zeros((1, 32, 32, 4), np.float32))
    with pytest.raises(ValueError, match="init"):
        md.Convolution((1, 1, 1, 1), init="ones")


def test_torch_cnn_equals_the_numpy_network_on_the_shipped_params():
    X = np.random.default_rng(5).uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    net = md.Network([md.Convolution(md.SHIPPED / md.SHEET2_LAYERS[0]), md.ReLU(), md.Pooling(),
                      md.Convolution(md.SHIPPED / md.SHEET2_LAYERS[1]), md.ReLU(), md.Pooling(),
                      md.Convolution(md.SHIPPED / md.SHEET2_LAYERS[2]), md.ReLU(), md.Pooling(),
                      md.Convolution(md.SHIPPED / md.SHEET2_LAYERS[3])])
    model = torch_cnn()
    assert not any(p.requires_grad for p in model.parameters())
    y = model(torch.tensor(X.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(net.forward(X), y, rtol=1e-4, atol=1e-4)


def test_torch_cnn_says_which_files_are_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="c1-5x5x3x10.npz"):
        torch_cnn(tmp_path)


def test_threads_give_the_same_numbers_bit_for_bit(monkeypatch):
    """The passes around the matrix products are split by channel (or, for im2col and its
    adjoint on few channels, by row) over threads; each element is computed by the same
    operations in the same order, whatever the count."""
    monkeypatch.setattr(md, "PARALLEL_MIN_SIZE", 1)  # split even these small arrays
    generator = np.random.default_rng(5)
    X = generator.standard_normal((3, 12, 12, 3)).astype(np.float32)

    def run():
        layers = [_conv((3, 3, 3, 6), seed=1), md.ReLU(), md.Pooling(), _conv((5, 5, 6, 4), seed=2)]
        net = md.Network(layers)
        Y = net.forward(X)
        DX = net.gradprop(np.ones_like(Y))
        net.update(0.1)
        return [Y, DX] + [layer.W for layer in layers if isinstance(layer, md.Convolution)]

    try:
        assert md.set_threads(1) == 1
        single = run()
        # three threads split the first layer's three channels; two and seven split its rows
        split_by_channel = {}
        threaded = {}
        for count in (2, 3, 7):
            assert md.set_threads(count) == count
            split_by_channel[count] = md._split_channels(3, 10)
            threaded[count] = run()
    finally:
        md.set_threads(None)
    assert split_by_channel == {2: False, 3: True, 7: False}
    for count, results in threaded.items():
        for ours, reference in zip(results, single):
            np.testing.assert_array_equal(ours, reference, err_msg=f"{count} threads")
    with pytest.raises(ValueError):
        md.set_threads(0)
