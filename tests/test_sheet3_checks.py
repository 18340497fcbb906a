"""Sheet 3's checks, judged as a graded answer is judged (probe, encoding, strict reader,
check): the references and other honest answers pass, plausible wrong answers and
unfinished stubs get a message; the challenges avoid the cases that would hide mistakes."""
import numpy as np
import pytest
import torch

from autograder.engine import local
from autograder.sheets.sheet3_vgg import challenges, checks, mutants

SHEET = "sheet3_vgg"
CASES = [(test, label, objects) for test, table in mutants.MUTANTS.items() for label, objects in table.items()]
HONEST = [(test, label, objects) for test, table in mutants.HONEST.items() for label, objects in table.items()]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("test", sorted(mutants.CORRECT))
def test_reference_passes(test):
    assert local.judge(SHEET, test, mutants.CORRECT[test]) is None


@pytest.mark.parametrize("test", sorted(mutants.CORRECT))
def test_reference_passes_for_another_student(test):
    """Challenges are drawn per student: the reference passes on other draws too."""
    for student in ("student-a", "student-b"):
        assert local.judge(SHEET, test, mutants.CORRECT[test], secret=b"another course", student=student) is None


@pytest.mark.parametrize("test,label,objects", HONEST, ids=[f"{t}-{label}" for t, label, _ in HONEST])
def test_honest_answer_passes(test, label, objects):
    assert local.judge(SHEET, test, objects) is None


def test_class_model_with_torch_optim_sgd_passes():
    """A correct class model written with torch.optim.SGD (plain steps) is accepted."""
    def class_model(model, c, shape, lam, steps, lr):
        image = torch.zeros(shape, requires_grad=True)
        optimiser = torch.optim.SGD([image], lr=lr)
        for _ in range(steps):
            optimiser.zero_grad()
            (lam * (image ** 2).sum() - model(image)[0, c]).backward()
            optimiser.step()
        return image.detach()

    assert local.judge(SHEET, "test_class_model", {"class_model": class_model}) is None


@pytest.mark.parametrize("test,label,objects", CASES, ids=[f"{t}-{label}" for t, label, _ in CASES])
def test_mutant_is_rejected(test, label, objects):
    message = local.judge(SHEET, test, objects)
    assert message, f"{test} accepted the mutant {label!r}"


def test_every_test_has_at_least_five_mutants():
    assert set(mutants.MUTANTS) == set(mutants.CORRECT)
    assert all(callable(getattr(checks, test, None)) for test in mutants.CORRECT)
    for test in mutants.CORRECT:
        assert len(mutants.MUTANTS[test]) >= 5, test


def test_every_existing_test_of_the_sheet_is_covered():
    existing = {"test_gradient_x_input", "test_saliency", "test_Conv", "test_lrp", "test_modified_relus",
                "test_activations", "test_class_model", "test_saturation"}
    assert existing <= set(mutants.CORRECT)
    assert existing <= {n for n in vars(challenges) if n.startswith("test_")}


@pytest.mark.parametrize("test", sorted(mutants.CORRECT))
def test_unfinished_answers_get_a_message(test):
    """The blank release: every answer is a stub that raises NotImplementedError."""
    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    class Unfinished(torch.nn.Module):
        def __init__(self, *args, **kwargs):
            super().__init__()
            raise NotImplementedError()

    objects = {name: Unfinished if name == "Conv" else unfinished for name in mutants.CORRECT[test]}
    assert "not implemented" in local.judge(SHEET, test, objects)


def test_crashing_and_malformed_answers_get_a_message():
    assert "raised ZeroDivisionError" in local.judge(SHEET, "test_saturation", {"saturation": lambda i1, i2: 1 / 0})
    assert "shape" in local.judge(SHEET, "test_saliency", {"saliency": lambda model, X, c: torch.zeros(3)})
    assert "list or tuple" in local.judge(SHEET, "test_activations",
                                          {"activations": lambda model, X, indices: (m for m in [X])})
    message = local.judge(SHEET, "test_saturation", {"saturation": lambda i1, i2: "1, 0, 0"})
    assert "saturation" in message


def test_challenges_are_not_degenerate():
    rng = np.random.default_rng(0)
    for _ in range(20):
        drawn = challenges.test_activations(rng)
        lists = [list(drawn[f"indices_{k}"]) for k in range(3)]
        assert lists[0] != sorted(lists[0]) and len(set(lists[0])) == 3
        assert set(lists[0]) & set(challenges.CONVOLUTIONS)
        assert len(set(lists[1])) < len(lists[1]) and lists[1] != sorted(lists[1])
        gradient = challenges.test_gradient_x_input(rng)
        assert len(gradient["X"]) >= 2 and len(set(gradient["classes"])) == 2
        sums = challenges.test_saturation(rng)["points"].sum(1)
        assert (sums < 0.95).sum() == 4 and (sums > 1.05).sum() == 4
        conv = challenges.test_Conv(rng)
        assert {int(conv[f"stride_{k}"]) for k in range(4)} == {1, 2}
        assert (conv["bias_0"] > 0).any() and (conv["weight_0"] < 0).any()


def test_inputs_changed_in_place_are_rejected():
    """Right values, but the input X is overwritten: rejected with a message that says so."""
    message = local.judge(SHEET, "test_gradient_x_input", mutants.MUTANTS["test_gradient_x_input"]["right values written into X"])
    assert "in place" in message
