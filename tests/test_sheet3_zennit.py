"""Sheet 3's LRP (the gradient trick of the reference solution) against Zennit and against
the explicit layer-by-layer formulas, on VGG-16 with random weights and on the course's
trained CIFAR-10 VGG.  Zennit's backward signal is relevance, so every layer gets its
rule: ZBox on the first convolution, Gamma(γ of the block) on the others, Epsilon with a
negligible ε on the Linear layers, Pass on the ReLUs, nothing on max-pooling."""
import pytest
import torch
import torchvision

from autograder.sheets.sheet3_vgg import reference as ref
from autograder.checking import relative_error as _relative_error
from utils import vgg


def relative_error(actual, expected) -> float:
    """‖actual − expected‖₂ / ‖expected‖₂ of two tensors (detached, on the CPU, in float64)."""
    return _relative_error(*(torch.as_tensor(v).detach().cpu().double().numpy() for v in (actual, expected)))


pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def vgg16_case():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    model = torchvision.models.vgg16(weights=None).eval()  # architecture only: no download
    X = vgg.IMAGENET_NORMALISATION(torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(1)))
    L, H = vgg.IMAGENET_NORMALISATION.bounds(X)
    return model, X, L, H


def test_structure_of_vgg16_is_found_without_fixed_indices(vgg16_case):
    model = vgg16_case[0]
    # the indices the course material hard-codes for VGG-16
    assert vgg.conv_blocks(model) == [[0, 2], [5, 7], [10, 12, 14], [17, 19, 21], [24, 26, 28]]
    assert vgg.first_conv(model) == 0
    assert [vgg.block_gamma(b) for b in range(5)] == pytest.approx([1, 10 ** -0.5, 0.1, 10 ** -1.5, 0.01])


def test_lrp_equals_zennit_on_vgg16_with_random_weights(vgg16_case):
    model, X, L, H = vgg16_case
    c = vgg.CASTLE
    ours = ref.lrp(ref.build_lrp_model(model), X, c, L, H)
    # Zennit's default stabilizer (1e-6 added to each denominator) alone moves its result
    # by about 2e-5 here; with 1e-12 the two agree to float32 precision (about 4e-6).
    theirs, output = ref.zennit_lrp(model, X, c, L, H, stabilizer=1e-12)
    default, _ = ref.zennit_lrp(model, X, c, L, H)
    explicit = ref.lrp_explicit(model, X, c, L, H)
    with torch.no_grad():
        logit = float(model(X)[0, c])
    assert float(output[0, c].detach()) == pytest.approx(logit, rel=1e-6)
    assert relative_error(ours, theirs) <= 1e-5
    assert relative_error(ours, default) <= 1e-4
    assert relative_error(ours, explicit) <= 1e-5
    # random VGG-16 has zero biases: both redistribute exactly the class logit
    assert float(ours.sum()) == pytest.approx(logit, rel=1e-4)
    assert float(theirs.sum()) == pytest.approx(logit, rel=1e-4)


def test_lrp_equals_zennit_on_the_trained_cifar_vgg():
    model = vgg.load_cifar_vgg()
    X, labels = vgg.cifar_test_images(8)
    L, H = vgg.CIFAR_NORMALISATION.bounds(X)
    assert float(L.min()) == -1.0 and float(H.max()) == 1.0  # the course's [-1, 1] pixel box
    for c in sorted(set(labels.tolist()))[:3]:
        ours = ref.lrp(ref.build_lrp_model(model), X, c, L, H)
        theirs, _ = ref.zennit_lrp(model, X, c, L, H)
        assert relative_error(ours, theirs) <= 1e-4
        assert relative_error(ours, ref.zennit_lrp(model, X, c, L, H, stabilizer=1e-12)[0]) <= 1e-5
        assert relative_error(ours, ref.lrp_explicit(model, X, c, L, H)) <= 1e-5


def test_lrp_model_keeps_the_forward_pass():
    model = vgg.load_cifar_vgg()
    X, _ = vgg.cifar_test_images(4)
    L, H = vgg.CIFAR_NORMALISATION.bounds(X)
    with torch.no_grad():
        assert torch.allclose(ref.build_lrp_model(model)((X, L, H)), model(X), atol=1e-5)
