"""Sheet 3's lecture methods (occlusion, class-averaged saliency, filter visualisation,
activation maximisation, the class model with the mean image) against independent
formulations: Captum's Occlusion and Saliency, closed-form maximisers of linear
objectives; and their checks against blank answers and other students' challenges."""
import numpy as np
import pytest
import torch
from captum.attr import Occlusion, Saliency

from autograder.engine import local
from autograder.sheets.sheet3_vgg import mutants
from autograder.sheets.sheet3_vgg import reference as ref
from utils import vgg

TESTS = ("test_occlusion", "test_class_averaged_saliency", "test_filter_images", "test_maximise_channel",
         "test_class_model_with_mean")


def _captum_occlusion(model, X, c, size, stride, baseline):
    channels = X.shape[1]
    return Occlusion(model).attribute(X, target=c, sliding_window_shapes=(channels, size, size),
                                      strides=(channels, stride, stride), baselines=baseline)


@pytest.mark.parametrize("size, stride, baseline", [(4, 3, 0.3), (3, 1, 0.0), (5, 5, -0.4), (2, 2, 0.7)])
def test_occlusion_equals_captum_on_a_small_vgg(size, stride, baseline):
    """float64, 11×9 images: the last windows stick out of the image in most of these cases."""
    torch.manual_seed(0)
    model = ref.small_vgg(1, size=8)  # three max-poolings end at 1×1 on 11×9 images too
    X = torch.rand(2, 3, 11, 9, dtype=torch.float64) * 2 - 1
    ours, theirs = ref.occlusion(model, X, 2, size, stride, baseline), _captum_occlusion(model, X, 2, size, stride, baseline)
    assert float(theirs.abs().max()) > 0
    assert float((ours - theirs).abs().max()) <= 1e-5


@pytest.mark.slow
def test_occlusion_equals_captum_on_the_trained_cifar_vgg():
    """The setting of the sheet: the trained network (float32), 4×4 windows, stride 2."""
    model = vgg.load_cifar_vgg()
    X, labels = vgg.cifar_test_images(3)
    c = int(labels[0])
    ours, theirs = ref.occlusion(model, X, c, 4, 2, 0.0), _captum_occlusion(model, X, c, 4, 2, 0.0)
    assert float(theirs.abs().max()) > 0.01
    assert float((ours - theirs).abs().max()) <= 1e-5


@pytest.mark.parametrize("length, size, stride", [(11, 4, 3), (9, 5, 3), (32, 4, 2), (10, 4, 4), (7, 7, 3), (9, 3, 1)])
def test_window_starts_cover_every_pixel_as_captum_counts(length, size, stride):
    starts = ref.window_starts(length, size, stride)
    assert len(starts) == int(np.ceil((length - size) / stride)) + 1  # Captum's shift count
    assert starts == list(range(0, length - size + stride, stride))  # the notebook's loop
    covered = np.zeros(length, dtype=bool)
    for start in starts:
        covered[start:start + size] = True
    assert covered.all() and starts[-1] <= length - 1


def test_class_averaged_saliency_equals_captum_saliency_of_the_centred_network():
    torch.manual_seed(1)
    model = ref.small_vgg(2)
    mean_image = torch.rand(1, 3, 16, 16, dtype=torch.float64) - 0.5
    centred = torch.rand(7, 3, 16, 16, dtype=torch.float64) * 2 - 1 - mean_image
    labels = np.array([3, 0, 3, 1, 3, 0, 1])

    class Centred(torch.nn.Module):
        def forward(self, image):
            return model(image + mean_image)

    ours = ref.class_averaged_saliency(model, centred, labels, mean_image, 5)
    saliency = Saliency(Centred())
    for k in range(5):
        chosen = np.flatnonzero(labels == k)
        if len(chosen) == 0:
            assert float(ours[k].abs().max()) == 0
            continue
        theirs = saliency.attribute(centred[chosen].clone().requires_grad_(True), target=k, abs=True).amax(1).mean(0)
        assert torch.allclose(ours[k], theirs, rtol=1e-10, atol=1e-12)


def test_filter_images_are_each_filter_rescaled_to_the_unit_interval():
    model = ref.small_vgg(6)
    images = ref.filter_images(model)
    weight = model.features[0].weight.detach()
    for image, filter_ in zip(images, weight):
        assert float(image.min()) == 0.0 and float(image.max()) == pytest.approx(1.0)
        assert torch.allclose(filter_.min() + image * (filter_.max() - filter_.min()), filter_, atol=1e-6)


def test_class_model_with_mean_reaches_the_closed_form_on_a_linear_score():
    """max_I w·(I + m) + b − λ‖I‖² is reached at I = w/(2λ); the result shown is m + w/(2λ)."""
    torch.manual_seed(3)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(48, 4)).double()
    mean_image = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    lam = 0.7
    result = ref.class_model_with_mean(linear, 2, mean_image, lam, 80, 0.3 / lam)
    expected = mean_image + linear[1].weight.detach()[2].reshape(1, 3, 4, 4) / (2 * lam)
    assert torch.allclose(result, expected, rtol=1e-9, atol=1e-12)


def test_maximise_channel_of_a_linear_layer_reaches_the_closed_form():
    """On the first convolution the mean activation is linear in I: its maximiser with the
    penalty is the gradient of the mean over 2λ, here computed by finite differences."""
    model = ref.small_vgg(4, size=8, cfg=(4, "M", 6, "M"))
    lam, channel = 0.5, 3
    start = torch.randn(1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    result = ref.maximise_channel(model, 0, channel, start, lam, 80, 0.5 / lam)

    def mean_activation(image):
        with torch.no_grad():
            return float(model.features[0](image)[0, channel].mean())

    gradient = torch.zeros_like(start)
    for index in np.ndindex(*start.shape):
        step = torch.zeros_like(start)
        step[index] = 1.0  # the objective is affine: a unit step gives the exact slope
        gradient[index] = mean_activation(step) - mean_activation(torch.zeros_like(start))
    assert torch.allclose(result, gradient / (2 * lam), rtol=1e-8, atol=1e-12)


def _raises(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("test", TESTS)
def test_blank_answers_fail(test):
    objects = {name: _raises for name in mutants.CORRECT[test]}
    message = local.judge("sheet3_vgg", test, objects)
    assert message is not None and "not implemented" in message


@pytest.mark.slow
@pytest.mark.parametrize("test", TESTS)
def test_references_pass_and_mutants_fail_for_other_students(test):
    """The challenges differ per student: every student's challenge accepts the reference
    and rejects every mutant."""
    for student in ("student-a", "student-b", "student-c"):
        secret = b"another course secret"
        assert local.judge("sheet3_vgg", test, mutants.CORRECT[test], secret=secret, student=student) is None
        for what, objects in mutants.MUTANTS[test].items():
            assert local.judge("sheet3_vgg", test, objects, secret=secret, student=student), (student, what)
