"""Sheet 3's gradient family against Captum: Gradient×Input = InputXGradient, saliency =
max over channels of Saliency (|gradient|), DeconvNet = Deconvolution, guided backprop =
GuidedBackprop; on VGG-16 with random weights and on the trained CIFAR-10 VGG."""
import copy

import pytest
import torch
import torchvision
from captum.attr import Deconvolution, GuidedBackprop, InputXGradient, Saliency

from autograder.sheets.sheet3_vgg import reference as ref
from autograder.checking import relative_error as _relative_error
from utils import vgg


def relative_error(actual, expected) -> float:
    """‖actual − expected‖₂ / ‖expected‖₂ of two tensors (detached, on the CPU, in float64)."""
    return _relative_error(*(torch.as_tensor(v).detach().cpu().double().numpy() for v in (actual, expected)))

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:Setting backward hooks on ReLU")]


def _out_of_place(model):
    """Captum hooks the ReLU modules; give it out-of-place ones (same function)."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, torch.nn.ReLU):
            module.inplace = False
    return model


def _cases():
    torch.manual_seed(0)
    vgg16 = torchvision.models.vgg16(weights=None).eval()
    X16 = vgg.IMAGENET_NORMALISATION(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(2)))
    cifar = vgg.load_cifar_vgg()
    Xc, labels = vgg.cifar_test_images(6)
    return {"vgg16-random": (vgg16, X16, vgg.CASTLE), "cifar-trained": (cifar, Xc, int(labels[0]))}


@pytest.fixture(scope="module")
def cases():
    torch.set_num_threads(2)
    return _cases()


@pytest.mark.parametrize("case", ["vgg16-random", "cifar-trained"])
def test_gradient_family_equals_captum(cases, case):
    model, X, c = cases[case]
    peer = _out_of_place(model)
    pairs = {
        "gradient×input": (ref.gradient_x_input(model, X, c), InputXGradient(peer).attribute(X.clone().requires_grad_(True), target=c)),
        "saliency": (ref.saliency(model, X, c),
                     Saliency(peer).attribute(X.clone().requires_grad_(True), target=c, abs=True).amax(dim=1)),
        "deconvnet": (ref.deconvnet(model, X, c), Deconvolution(peer).attribute(X.clone().requires_grad_(True), target=c)),
        "guided backprop": (ref.guided_backprop(model, X, c), GuidedBackprop(peer).attribute(X.clone().requires_grad_(True), target=c)),
    }
    for name, (ours, theirs) in pairs.items():
        assert float(theirs.detach().abs().max()) > 0, name
        assert relative_error(ours, theirs) <= 1e-5, name


def test_modified_backward_leaves_the_model_alone(cases):
    model, X, c = cases["cifar-trained"]
    before = ref.gradient_x_input(model, X, c)
    ref.deconvnet(model, X, c)
    ref.guided_backprop(model, X, c)
    assert torch.equal(ref.gradient_x_input(model, X, c), before)
    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU)]
    assert relus and all(m.inplace for m in relus)
    assert not any(isinstance(m, ref._Apply) for m in model.modules())
