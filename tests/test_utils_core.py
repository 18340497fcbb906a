"""The student-facing helpers every sheet uses: plotting, newlayer, the CIFAR-10 loader."""
import hashlib
import io
import pickle
import tarfile

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

import utils
from utils import cifar10
from utils.plotting import RELEVANCE_CMAP


# ---------------------------------------------------------------- plotting

@pytest.mark.parametrize("layout", ["NHWC", "NCHW"])
def test_images_accepts_both_layouts_and_both_ranges(layout):
    batch = np.random.default_rng(0).uniform(-1, 1, size=(6, 8, 8, 3))
    if layout == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    fig = utils.images(torch.tensor(batch), columns=3)
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 6
    assert shown[0].shape == (8, 8, 3)
    assert 0.0 <= np.min(shown[0]) and np.max(shown[0]) <= 1.0
    plt.close(fig)


def test_images_maps_minus_one_to_black_and_one_to_white():
    batch = np.stack([-np.ones((4, 4, 3)), np.ones((4, 4, 3))])
    fig = utils.images(batch)
    dark, bright = (ax.images[0].get_array() for ax in fig.axes[:2])
    assert np.all(np.asarray(dark) == 0) and np.all(np.asarray(bright) == 1)
    plt.close(fig)


def test_heatmaps_are_centred_on_zero_and_scaled_per_map():
    maps = np.zeros((2, 5, 5))
    maps[0, 0, 0], maps[0, 1, 1] = 2.0, -1.0
    maps[1, 0, 0] = 100.0
    fig = utils.heatmaps(maps)
    limits = [ax.images[0].get_clim() for ax in fig.axes[:2]]
    assert limits == [(-2.0, 2.0), (-100.0, 100.0)]
    plt.close(fig)


def test_relevance_colormap_is_white_at_zero_red_positive_blue_negative():
    white, red, blue = RELEVANCE_CMAP(0.5), RELEVANCE_CMAP(1.0), RELEVANCE_CMAP(0.0)
    assert np.allclose(white[:3], 1.0)
    assert red[0] > red[2] and blue[2] > blue[0]


def test_visualize_sums_channels_of_one_image():
    relevance = torch.zeros(1, 3, 6, 6)
    relevance[0, :, 2, 3] = torch.tensor([1.0, 2.0, -0.5])
    fig = utils.visualize(relevance)
    shown = np.asarray(fig.axes[0].images[0].get_array())
    assert shown.shape == (6, 6) and shown[2, 3] == pytest.approx(2.5)
    plt.close(fig)


def test_visualize_rejects_a_batch():
    with pytest.raises(ValueError, match="one map"):
        utils.visualize(np.zeros((2, 3, 4, 4)))


# ---------------------------------------------------------------- newlayer

def test_newlayer_transforms_parameters_and_leaves_the_original_alone():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 4, 3)
    weight, bias = conv.weight.detach().clone(), conv.bias.detach().clone()
    positive = utils.newlayer(conv, lambda p: p.clamp(min=0))
    x = torch.randn(2, 3, 7, 7)
    expected = torch.nn.functional.conv2d(x, weight.clamp(min=0), bias.clamp(min=0))
    assert torch.allclose(positive(x), expected, atol=1e-6)
    assert torch.equal(conv.weight, weight) and torch.equal(conv.bias, bias)


def test_newlayer_keeps_a_missing_bias_missing():
    layer = utils.newlayer(torch.nn.Linear(3, 2, bias=False), lambda p: 2 * p)
    assert layer.bias is None


def test_newlayer_explains_bad_input():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        utils.newlayer(np.zeros(3), lambda p: p)
    with pytest.raises(ValueError, match="shape"):
        utils.newlayer(torch.nn.Linear(3, 2), lambda p: p.sum())


# ---------------------------------------------------------------- CIFAR-10

def test_sample_is_in_the_course_convention():
    X, T = cifar10.load_sample("test")
    assert X.shape == (500, 32, 32, 3) and X.dtype == np.float32
    assert -1.0 <= X.min() and X.max() <= 1.0
    assert T.shape == (500, 1, 1, 10) and np.all(T.sum(axis=-1) == 1)
    Xtrain, Ttrain = cifar10.load_sample("train")
    assert Xtrain.shape == (2000, 32, 32, 3) and Ttrain.shape == (2000, 1, 1, 10)


def _official_layout(folder, pixels, labels):
    """Write a tiny copy of the official "python version" layout."""
    batches = folder / cifar10.FOLDER
    batches.mkdir(parents=True)
    data = pixels.transpose(0, 3, 1, 2).reshape(len(pixels), 3072)
    for name in cifar10.TRAIN_BATCHES + ["test_batch"]:
        with open(batches / name, "wb") as f:
            pickle.dump({"data": data, "labels": list(map(int, labels))}, f)
    return batches


def test_load_reads_the_official_layout_with_the_seed_formula(tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, size=(4, 32, 32, 3), dtype=np.uint8)
    labels = np.array([3, 0, 9, 3])
    _official_layout(tmp_path, pixels, labels)
    monkeypatch.setenv("CIFAR10_ROOT", str(tmp_path))
    X, T = cifar10.load("train", sample_fallback=False)
    assert X.shape == (20, 32, 32, 3)
    np.testing.assert_allclose(X[:4], pixels / 127.5 - 1.0, atol=1e-6)
    assert list(T[:4].reshape(4, 10).argmax(axis=1)) == [3, 0, 9, 3]


def test_missing_data_says_what_to_download(tmp_path, monkeypatch):
    monkeypatch.delenv("CIFAR10_ROOT", raising=False)
    monkeypatch.setattr(cifar10, "CACHE", tmp_path / "cache")
    with pytest.raises(cifar10.DatasetUnavailable, match="cifar-10-python.tar.gz"):
        cifar10.load("test", sample_fallback=False)
    X, _ = cifar10.load("test")  # falls back to the sample
    assert len(X) == 500


def _fake_archive(tmp_path):
    rng = np.random.default_rng(2)
    source = tmp_path / "src"
    _official_layout(source, rng.integers(0, 256, size=(2, 32, 32, 3), dtype=np.uint8), [1, 2])
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / cifar10.FOLDER, arcname=cifar10.FOLDER)
    return archive


def test_download_checks_the_md5_sum(tmp_path, monkeypatch):
    archive = _fake_archive(tmp_path)
    monkeypatch.setattr(cifar10, "URL", archive.as_uri())
    monkeypatch.setattr(cifar10, "MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    dest = cifar10.download(tmp_path / "cache")
    assert cifar10.find_root(dest) == dest
    monkeypatch.setattr(cifar10, "MD5", "0" * 32)
    with pytest.raises(cifar10.DatasetUnavailable, match="MD5"):
        cifar10.download(tmp_path / "other")


def test_load_rejects_an_unknown_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        cifar10.load("validation")
