"""The course's CIFAR-10 VGG and the loader of sheet 3: offline behaviour, the shipped
weights and their recorded accuracy, and the pixel-flipping comparison of the issue (LRP
beats Gradient×Input on at least 50 test images)."""
import json

import numpy as np
import pytest
import torch

from autograder.sheets.sheet3_vgg import reference as ref
from utils import cifar10, vgg


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """An empty torch cache on a machine that is not online: nothing can be downloaded."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("COURSE_FAST_MODE", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv(vgg.NO_DOWNLOAD_VARIABLE, raising=False)
    monkeypatch.setattr(vgg, "online", lambda *args, **kwargs: False)

    def no_download(*args, **kwargs):
        raise AssertionError("the test tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    return tmp_path


@pytest.fixture(scope="module")
def random_vgg16_state():
    """Parameters of VGG-16 with random weights (and zero biases), in place of ImageNet's."""
    torch.manual_seed(0)
    return __import__("torchvision").models.vgg16(weights=None).state_dict()


def test_imagenet_weights_missing_is_a_clear_catchable_error(offline):
    with pytest.raises(vgg.WeightsUnavailable, match="download=True"):
        vgg.load_vgg("imagenet")
    loaded = vgg.load_vgg("auto")
    model, description = loaded
    assert loaded.kind == "cifar" and "CIFAR-10" in description and model is loaded.model
    assert not model.training


def test_auto_downloads_only_when_online_and_allowed(offline, monkeypatch):
    asked = []

    def state_dict(download, progress):
        asked.append(download)
        raise vgg.WeightsUnavailable("no weights in this test")

    monkeypatch.setattr(vgg, "_imagenet_state_dict", state_dict)
    assert vgg.load_vgg("auto").kind == "cifar" and asked.pop() is False  # offline
    monkeypatch.setattr(vgg, "online", lambda *args, **kwargs: True)
    assert vgg.load_vgg("auto").kind == "cifar" and asked.pop() is True  # online: it tries
    monkeypatch.setenv(vgg.NO_DOWNLOAD_VARIABLE, "1")
    assert vgg.load_vgg("auto").kind == "cifar" and asked.pop() is False
    monkeypatch.delenv(vgg.NO_DOWNLOAD_VARIABLE)
    monkeypatch.setenv("COURSE_FAST_MODE", "1")  # grading never downloads
    assert vgg.load_vgg("auto").kind == "cifar" and asked.pop() is False
    assert vgg.load_vgg("auto", download=True).kind == "cifar" and asked.pop() is True


def test_download_goes_through_torch_hub_with_a_progress_bar(offline, monkeypatch, random_vgg16_state):
    calls = []

    def fetch(url, **options):
        calls.append((url, options))
        return random_vgg16_state

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", fetch)
    loaded = vgg.load_vgg("auto", download=True)
    (url, options), = calls
    assert url == vgg.IMAGENET_WEIGHTS_URL and options["progress"] is True and options["check_hash"] is True
    assert loaded.kind == "imagenet" and "downloaded" in loaded.description
    assert torch.equal(loaded.model.features[0].weight, random_vgg16_state["features.0.weight"])


def test_cached_weights_are_used_without_asking_the_network(offline, random_vgg16_state):
    cached = vgg.imagenet_weights_file()
    assert str(cached).startswith(str(offline))
    cached.parent.mkdir(parents=True)
    torch.save(random_vgg16_state, cached)
    loaded = vgg.load_vgg("auto")
    assert loaded.kind == "imagenet" and "torch cache" in loaded.description
    assert loaded.classes[vgg.MILITARY_UNIFORM] == "military uniform" and loaded.classes[vgg.CASTLE] == "castle"
    assert torch.equal(loaded.model.classifier[0].weight, random_vgg16_state["classifier.0.weight"])


@pytest.mark.slow
def test_imagenet_path_explains_the_sample_photo(offline, monkeypatch, random_vgg16_state):
    """Sheet 3's ImageNet path on random VGG-16 weights: the sample photo as input, LRP of
    class 652 against the explicit layer-by-layer rules, conservation (zero biases)."""
    monkeypatch.setattr(vgg, "_imagenet_state_dict", lambda download, progress: (random_vgg16_state, "download"))
    loaded = vgg.load_vgg("auto")
    assert loaded.kind == "imagenet"
    photo = vgg.sample_photo()
    assert photo.name == "grace_hopper.jpg" and photo.is_file()
    X = vgg.imagenet_image(photo)
    assert X.shape == (1, 3, 224, 224)
    pixels = loaded.normalisation.to_pixels(X)
    assert 0.2 < float(pixels.mean()) < 0.8 and float(pixels.std()) > 0.1  # a photo, not a blank
    L, H = loaded.normalisation.bounds(X)
    c = vgg.MILITARY_UNIFORM
    R = ref.lrp(ref.build_lrp_model(loaded.model), X, c, L, H)
    explicit = ref.lrp_explicit(loaded.model, X, c, L, H)
    assert float((R - explicit).norm() / explicit.norm()) < 1e-5
    with torch.no_grad():
        logit = float(loaded.model(X)[0, c])
    assert float(R.sum()) == pytest.approx(logit, rel=1e-4)


def test_imagenet_weights_and_class_names_are_torchvisions():
    from torchvision.models import VGG16_Weights

    assert vgg.IMAGENET_WEIGHTS_URL == VGG16_Weights.IMAGENET1K_V1.url
    assert vgg.imagenet_classes() == tuple(VGG16_Weights.IMAGENET1K_V1.meta["categories"])


def test_course_vgg16_computes_what_torchvisions_vgg16_computes(random_vgg16_state):
    """The course's VGG-16 takes torchvision's parameters unchanged (same names and shapes,
    strict loading) and computes the same scores, in training mode's layout and in eval."""
    import torchvision

    theirs = torchvision.models.vgg16(weights=None).eval()
    theirs.load_state_dict(random_vgg16_state)
    ours = vgg.vgg16().eval()
    ours.load_state_dict(random_vgg16_state)  # strict: every name and shape must match
    assert [type(m) for m in ours.modules()][1:] == [type(m) for m in theirs.modules()][1:]
    X = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(ours(X), theirs(X))


def loads_module(imports: str, module: str) -> bool:
    """Whether a fresh interpreter (fast mode) has ``module`` loaded after running ``imports``."""
    import subprocess
    import sys

    script = f"import sys\n{imports}\nsys.exit(3 if {module!r} in sys.modules else 0)"
    run = subprocess.run([sys.executable, "-c", script], env={"COURSE_FAST_MODE": "1", "PATH": ""})
    assert run.returncode in (0, 3), "the imports themselves failed"
    return run.returncode == 3


def test_sheets_3_and_4_start_without_torchvision():
    """torchvision's import loads PyTorch's compiler stack (seconds at every notebook start
    and every graded notebook): the modules sheets 3 and 4 import must not need it."""
    assert loads_module("import torchvision", "torchvision")  # the probe itself can see it
    assert not loads_module("import utils, utils.vgg, utils.attribution, utils.cnn\n"
                            "from utils.vgg import load_vgg; load_vgg('cifar')", "torchvision")


def test_sheet_2_starts_without_pytorch():
    """Sheet 2 is NumPy only: the course's modules it imports must not load PyTorch."""
    assert loads_module("import utils; utils.newlayer", "torch")  # the layer surgery does load it
    assert not loads_module("import utils, utils.modules, utils.cifar10, utils.runmode, utils.probing\n"
                            "utils.modules.Network", "torch")


def test_cifar_model_has_the_small_configuration_in_torchvisions_layout():
    model = vgg.load_cifar_vgg()
    assert isinstance(model, vgg.VGG) and isinstance(model.avgpool, torch.nn.Identity)
    kinds = {type(m) for m in model.features}
    assert kinds == {torch.nn.Conv2d, torch.nn.ReLU, torch.nn.MaxPool2d}
    assert {type(m) for m in model.classifier} == {torch.nn.Linear, torch.nn.ReLU, torch.nn.Dropout}
    assert [m.out_channels for m in model.features if isinstance(m, torch.nn.Conv2d)] == \
        [c for c in vgg.CIFAR_CFG if c != "M"]
    assert vgg.CIFAR_WEIGHTS.stat().st_size < 8e6


def test_shipped_weights_reach_the_recorded_accuracy():
    metrics = json.loads(vgg.CIFAR_METRICS.read_text())
    assert {"test_accuracy", "training_seconds", "seed"} <= set(metrics)
    model = vgg.load_cifar_vgg()
    X, labels = vgg.cifar_test_images(500)  # the shipped sample holds the first 500 test images
    with torch.no_grad():
        accuracy = float((model(X).argmax(1).numpy() == labels).mean())
    assert accuracy >= metrics["test_accuracy"] - 0.05  # 500 images: a few points of noise
    assert metrics["test_accuracy"] >= 0.65


def test_cifar_images_in_the_model_normalisation():
    X, labels = vgg.cifar_test_images(3, start=2)
    Xc, Tc = cifar10.load("test")
    assert torch.allclose(X, torch.from_numpy(Xc[2:5].transpose(0, 3, 1, 2)), atol=1e-6)
    assert labels.tolist() == Tc[2:5].reshape(3, -1).argmax(1).tolist()
    L, H = vgg.CIFAR_NORMALISATION.bounds(X)
    assert L.shape == X.shape and bool((L <= X).all() and (X <= H).all())


def test_pixel_flipping_removes_the_most_relevant_pixels_first():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 2, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.arange(24.0).reshape(2, 12))
    X = torch.ones(1, 3, 2, 2)
    R = torch.tensor([[[[4.0, 3.0], [2.0, 1.0]]] * 3])
    curve = vgg.pixel_flipping(model, X, R, 1, steps=4)
    w = torch.arange(12.0, 24.0).reshape(3, 2, 2)
    expected = [float(w.sum())]
    for pixel in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        w[:, pixel[0], pixel[1]] = 0
        expected.append(float(w.sum()))
    assert np.allclose(curve[0], expected)
    assert vgg.flipping_auc(curve) == pytest.approx(np.mean([(a + b) / 2 for a, b in zip(expected, expected[1:])]))


@pytest.mark.slow
def test_lrp_beats_gradient_x_input_on_pixel_flipping():
    torch.set_num_threads(2)
    model = vgg.load_cifar_vgg()
    lrpmodel = ref.build_lrp_model(model)
    X, labels = vgg.cifar_test_images(64)
    curves = {"lrp": [], "gi": []}
    for k in range(10):
        chosen = np.flatnonzero(labels == k)
        Xk = X[chosen]
        L, H = vgg.CIFAR_NORMALISATION.bounds(Xk)
        curves["lrp"].append(vgg.pixel_flipping(model, Xk, ref.lrp(lrpmodel, Xk, k, L, H), k))
        curves["gi"].append(vgg.pixel_flipping(model, Xk, ref.gradient_x_input(model, Xk, k), k))
    auc = {name: vgg.flipping_auc(np.concatenate(rows)) for name, rows in curves.items()}
    assert sum(len(rows) for rows in curves["lrp"]) >= 50
    print(f"pixel-flipping AUC over 64 test images: LRP {auc['lrp']:.3f}, Gradient×Input {auc['gi']:.3f}")
    assert auc["lrp"] < auc["gi"]


def test_fused_reference_layers_equal_the_plain_gradient_trick():
    """The reference fuses convolutions for speed; values and gradients stay those of
    ``p * (z / p).detach()`` (the notebook's form) and of ``utils.vgg.ConvPx``."""
    from utils.layers import newlayer

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 5, 3, padding=1, stride=2).double()
    X = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    L, H = -2 * torch.ones_like(X), 2 * torch.ones_like(X)
    weights = torch.rand(2, 5, 4, 4, dtype=torch.float64)

    def run(layer, inputs):
        inputs = [t.clone().requires_grad_(True) for t in inputs]
        y = layer(tuple(inputs) if len(inputs) == 3 else inputs[0])
        return [y.detach(), *torch.autograd.grad((y * weights).sum(), inputs)]

    for ours, plain in zip(run(ref.ZBoxConv(conv), (X, L, H)), run(vgg.ConvPx(conv), (X, L, H))):
        assert torch.allclose(ours, plain, atol=1e-12)

    # stride 1 (the input gradient runs as a forward convolution), the ReLU fused
    same_size = torch.nn.Conv2d(3, 5, 3, padding=1).double()
    signal = torch.rand(2, 5, 7, 7, dtype=torch.float64)

    def run_with_relu(fused):
        inputs = [t.clone().requires_grad_(True) for t in (X, L, H)]
        y = ref.ZBoxConv(same_size, relu=True)(tuple(inputs)) if fused else torch.relu(vgg.ConvPx(same_size)(tuple(inputs)))
        return [y.detach(), *torch.autograd.grad((y * signal).sum(), inputs)]

    for ours, plain in zip(run_with_relu(True), run_with_relu(False)):
        assert torch.allclose(ours, plain, atol=1e-12)

    class PlainGamma(torch.nn.Module):
        def __init__(self, conv, gamma):
            super().__init__()
            self.conv, self.pconv = conv, newlayer(conv, lambda p: p + gamma * p.clamp(min=0))

        def forward(self, a):
            z, p = self.conv(a), self.pconv(a)
            return p * (z / p).detach()

    a = torch.rand(2, 3, 7, 7, dtype=torch.float64)
    for ours, plain in zip(run(ref.Conv(conv, 0.3), (a,)), run(PlainGamma(conv, 0.3), (a,))):
        assert torch.allclose(ours, plain, atol=1e-12)


def test_user_image_for_the_imagenet_path(tmp_path):
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "photo.png")
    X = vgg.imagenet_image(tmp_path / "photo.png")
    assert X.shape == (1, 3, 224, 224)
    L, H = vgg.IMAGENET_NORMALISATION.bounds(X)
    assert bool((L - 1e-5 <= X).all() and (X <= H + 1e-5).all())
    back = vgg.IMAGENET_NORMALISATION.to_pixels(X)
    assert float(back.min()) >= -1e-5 and float(back.max()) <= 1 + 1e-5
