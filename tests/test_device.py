"""The device plumbing: ``utils.device()`` and its override, and every helper of utils/
working on the device of the tensors it is given.

This machine has no GPU.  PyTorch's ``meta`` device stands in for it: a meta tensor has
a shape, a dtype and a device but no values, and mixing it with a CPU tensor fails
exactly as mixing a CUDA tensor with a CPU one does ("Tensor on device cpu is not on the
expected device meta!").  A helper that builds a constant on the CPU fails on meta.
The values themselves are checked on the CPU, reached through ``utils.device()``.
"""
import numpy as np
import pytest
import torch

import utils
from autograder.sheets.sheet3_vgg import reference as ref
from utils import attribution, vgg
from utils.cnn import SumPool2d, torch_cnn
from utils.device import ENVIRONMENT_VARIABLE, describe, exact_float32

META = torch.device("meta")


@pytest.fixture
def on_cpu(monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "cpu")
    return utils.device()


def test_device_defaults_to_cuda_exactly_when_available(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    assert utils.device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "  ")  # blank: as if unset
    assert utils.device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_environment_variable_overrides_the_choice(monkeypatch):
    for name in ("cpu", "meta"):
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, name)
        assert utils.device() == torch.device(name)
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "no-such-device")
    with pytest.raises(ValueError, match=ENVIRONMENT_VARIABLE):
        utils.device()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_a_missing_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "cuda")
    with pytest.raises(RuntimeError, match="sees none"):
        utils.device()


def test_describe_names_the_device(on_cpu):
    assert describe().startswith("cpu (") and describe("meta") == "meta"


def test_exact_float32_turns_tf32_off_and_restores_the_settings():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    try:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = True, True
        with exact_float32():
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        with pytest.raises(KeyError), exact_float32():
            raise KeyError("an error inside the block")
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


# ------------------------------------------------------------- the meta device


def test_normalisation_follows_the_device_of_its_input():
    pixels = torch.empty(2, 3, 5, 5, device=META)
    for normalisation in (vgg.IMAGENET_NORMALISATION, vgg.CIFAR_NORMALISATION):
        X = normalisation(pixels)
        L, H = normalisation.bounds(X)
        back = normalisation.to_pixels(X)
        for tensor in (X, L, H, back):
            assert tensor.device == META and tensor.shape == pixels.shape


def test_lrp_layers_and_models_run_on_the_device_of_the_model():
    model = ref.small_vgg(5, dtype=torch.float32).to(META)
    X = torch.empty(2, 3, 16, 16, device=META)
    L, H = vgg.CIFAR_NORMALISATION.bounds(X)
    # the notebook's zB layer, and the reference's fused layers and model
    zb = vgg.ConvPx(model.features[0])
    assert zb((X, L, H)).device == META
    R = ref.lrp(ref.build_lrp_model(model), X, 1, L, H)
    assert R.device == META and R.shape == X.shape
    gamma = ref.Conv(torch.nn.Conv2d(3, 4, 3, padding=1, bias=False).to(META), 0.25)
    assert gamma(X).device == META
    assert ref.ZBoxConv(torch.nn.Conv2d(3, 4, 3, padding=1, bias=False).to(META))((X, L, H)).device == META


def test_model_surgery_and_slicing_keep_the_device():
    model = ref.small_vgg(6, dtype=torch.float32).to(META)
    X = torch.empty(1, 3, 16, 16, device=META)
    guided = vgg.replace_relus(model, torch.nn.ELU)
    assert guided(X).device == META and next(guided.parameters()).device == META
    assert utils.newlayer(model.features[0], lambda p: p.clamp(min=0)).weight.device == META
    cnn = torch_cnn().to(META)
    h, g = attribution.split_model(cnn, 4)
    Z = attribution.map_batches(h, torch.empty(5, 3, 32, 32, device=META), batch_size=2)
    assert Z.device == META and Z.shape == (5, 50, 10, 10)
    assert g(Z).device == META and SumPool2d()(Z).shape == (5, 50, 5, 5)
    assert attribution.as_nchw(torch.empty(2, 8, 8, 3, device=META)).shape == (2, 3, 8, 8)


# --------------------------------------------------------- values, on the CPU


def test_normalisation_values_on_the_chosen_device(on_cpu):
    generator = torch.Generator().manual_seed(0)
    pixels = torch.rand(2, 3, 4, 4, generator=generator).to(on_cpu)
    X = vgg.IMAGENET_NORMALISATION(pixels)
    mean = np.array(vgg.IMAGENET_MEAN).reshape(1, 3, 1, 1)
    std = np.array(vgg.IMAGENET_STD).reshape(1, 3, 1, 1)
    assert X.device.type == on_cpu.type
    assert np.allclose(X.numpy(), (pixels.numpy() - mean) / std, atol=1e-6)
    L, H = vgg.IMAGENET_NORMALISATION.bounds(X.double())
    assert L.dtype == torch.float64
    assert np.allclose(L.numpy(), np.broadcast_to(-mean / std, X.shape)) and np.allclose(H.numpy(), np.broadcast_to((1 - mean) / std, X.shape))
    assert torch.allclose(vgg.IMAGENET_NORMALISATION.to_pixels(X), pixels, atol=1e-6)


def test_models_moved_to_the_chosen_device_explain_as_on_the_cpu(on_cpu):
    model = ref.small_vgg(7)
    X = torch.from_numpy(np.random.default_rng(7).uniform(-1, 1, (2, 3, 16, 16)))
    L, H = -torch.ones_like(X), torch.ones_like(X)
    moved = ref.small_vgg(7).to(on_cpu)
    R = ref.lrp(ref.build_lrp_model(moved), X.to(on_cpu), 2, L.to(on_cpu), H.to(on_cpu))
    assert R.device.type == on_cpu.type
    # against the explicit layer-by-layer formulas on the original model
    assert torch.allclose(R.cpu(), ref.lrp_explicit(model, X, 2, L, H), rtol=1e-7, atol=1e-10)
    curves = vgg.pixel_flipping(moved, X.to(on_cpu), R, 2, steps=4)
    assert isinstance(curves, np.ndarray) and curves.shape == (2, 5)
