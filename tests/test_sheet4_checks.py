"""Sheet 4's probes and checks: the challenges they draw, the test networks on both sides
of the boundary, and the messages a student reads (that every check accepts the
reference and rejects each mutant is tests/test_mutants.py's job)."""
import ast
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder.engine import challenges, local
from autograder.sheets.sheet4_influence import challenges as drawn
from autograder.sheets.sheet4_influence import mutants
from autograder.sheets.sheet4_influence import probes
from autograder.sheets.sheet4_influence import reference as ref
from utils.attribution import batches

SHEET = "sheet4_influence"
TESTS = list(mutants.CORRECT)


def _challenge(test, student="someone"):
    return challenges.draw(drawn, test, challenges.seed(b"course secret", student, SHEET, test))


def _random_net(generator, in_shape, hidden, out_shape, activation):
    arrays = ref.random_net(generator, in_shape, hidden, out_shape, activation)
    return ref.TwoLayerNet.from_challenge({f"net_{name}": value for name, value in arrays.items()}, "net")


def _nets(challenge):
    prefixes = sorted({name[: -len("_W")] for name in challenge if name.endswith("_W")})
    assert prefixes, "the challenge holds no network"
    return prefixes


@pytest.mark.parametrize("test", ["test_integrated_gradients", "test_influence", "test_neuron_saliency",
                                  "test_masked_output"])
def test_probe_networks_compute_what_the_checks_assume(test):
    """The probe builds each network in torch, the check in NumPy: same outputs, and the
    NumPy Jacobian equals torch's autograd through the probe's network."""
    challenge = _challenge(test)
    generator = np.random.default_rng(3)
    for prefix in _nets(challenge):
        numpy_net = ref.TwoLayerNet.from_challenge(challenge, prefix)
        torch_net = probes._TwoLayerNet(challenge, prefix)
        X = generator.normal(size=(3,) + numpy_net.in_shape)
        weights = generator.normal(size=(3, int(np.prod(numpy_net.out_shape))))
        points = torch.tensor(X, requires_grad=True)
        outputs = torch_net(points)
        (gradient,) = torch.autograd.grad((outputs.flatten(1) * torch.tensor(weights)).sum(), points)
        np.testing.assert_allclose(outputs.detach().numpy(), numpy_net(X), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gradient.numpy(), numpy_net.vjp(X, weights), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("activation", ref.ACTIVATION_NAMES)
def test_numpy_jacobian_equals_central_differences(activation):
    generator = np.random.default_rng(4)
    net = _random_net(generator, (2, 3), 5, (4,), activation)
    X, weights = generator.normal(size=(2, 2, 3)), generator.normal(size=(2, 4))
    numeric = np.zeros_like(X)
    for index in np.ndindex(X.shape):
        step = np.zeros_like(X)
        step[index] = 1e-6
        numeric[index] = ((net(X + step) - net(X - step)).reshape(2, -1) * weights).sum() / 2e-6
    np.testing.assert_allclose(net.vjp(X, weights), numeric, rtol=1e-6, atol=1e-8)


def test_closed_form_integrated_gradients_are_complete_for_many_steps():
    """Σ IG → F(x) − F(x') as the steps grow: the check's closed form integrates the right function."""
    generator = np.random.default_rng(5)
    net = _random_net(generator, (3, 2), 6, (2,), "tanh")
    weights, x, baseline = generator.normal(size=2), generator.normal(size=(3, 2)), generator.normal(size=(3, 2))
    gap = float((net(x[None]) - net(baseline[None]))[0] @ weights)
    total = ref.integrated_gradients_of_net(net, weights, x, baseline, 4000).sum()
    assert abs(total - gap) < 1e-3 * max(1.0, abs(gap))


def test_challenges_are_reproducible_and_differ_between_students():
    for test in TESTS:
        first, again, other = _challenge(test, "a"), _challenge(test, "a"), _challenge(test, "b")
        assert first.keys() == again.keys() == other.keys()
        assert all(np.array_equal(first[name], again[name]) for name in first)
        assert not all(np.array_equal(first[name], other[name]) for name in first)


@pytest.mark.parametrize("student", [f"student{i}" for i in range(20)])
def test_challenges_leave_no_accidental_right_answers(student):
    """Batches that do not divide the sample, rankings that are not ascending and differ
    from other scores, kept channels out of order."""
    for test, size in (("test_integrated_gradients", lambda c, i: int(c[f"c{i}_steps"])),
                       ("test_influence", lambda c, i: len(c[f"c{i}_X"]))):
        challenge = _challenge(test, student)
        cases = range(sum(name.endswith("_batch_size") for name in challenge))
        batched = [(size(challenge, i), int(challenge[f"c{i}_batch_size"]))
                   for i in cases if challenge[f"c{i}_batch_size"]]
        assert batched and all(n % b and n > 2 * b for n, b in batched)
    challenge = _challenge("test_top_neurons", student)
    for i in range(3):
        chi, k = challenge[f"c{i}_chi"], int(challenge[f"c{i}_k"])
        ranking = ref.ranking_by_peak(chi, k)
        assert k == 1 or ranking != sorted(ranking)
        assert ranking != list(np.argsort(-chi.reshape(len(chi), -1).mean(axis=1))[:k])
    challenge = _challenge("test_masked_output", student)
    assert any(len(challenge[f"c{i}_channels"]) > 1 for i in range(3))
    for i in range(3):
        channels = challenge[f"c{i}_channels"]
        assert len(set(channels.tolist())) == len(channels)
        assert len(channels) == 1 or not np.all(np.diff(channels) > 0)


def test_probes_import_nothing_but_the_kernel_side_libraries():
    tree = ast.parse(Path(probes.__file__).read_text())
    imported = {alias.name.split(".")[0]
                for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported <= {"re", "numpy", "torch", "utils"}


@pytest.mark.parametrize("student", ["ana", "ben", "chloe"])
def test_reference_passes_for_other_students(student):
    for test, objects in mutants.CORRECT.items():
        assert local.judge(SHEET, test, objects, secret=b"course secret", student=student) is None, test


def test_unfinished_or_crashing_answers_get_a_message_not_a_crash():
    def unfinished(*args, **kwargs):
        raise NotImplementedError()

    for test, objects in mutants.CORRECT.items():
        (name,) = objects
        assert "not implemented" in local.judge(SHEET, test, {name: unfinished})
    assert "raised ZeroDivisionError" in local.judge(SHEET, "test_influence", {"influence": lambda *a, **k: 1 / 0})
    batched_x = {"integrated_gradients": lambda F, x, b, steps=50, batch_size=None: x[None]}
    assert "should have shape" in local.judge(SHEET, "test_integrated_gradients", batched_x)
    one_index = {"top_neurons": lambda chi, k: [0]}
    assert "should hold 3 channel indices" in local.judge(SHEET, "test_top_neurons", one_index)
    assert "integer channel indices" in local.judge(SHEET, "test_top_neurons",
                                                    {"top_neurons": lambda chi, k: ref.top_neurons(chi, k) + 0.5})
    assert "a value of type dict" in local.judge(SHEET, "test_masked_output", {"masked_output": lambda g, Z, c: {}})


def test_top_neurons_may_answer_with_a_list_an_array_or_a_tensor():
    answers = {
        "list of ints": lambda chi, k: [int(j) for j in ref.top_neurons(chi, k)],
        "list of 0-d tensors": lambda chi, k: list(torch.as_tensor(ref.top_neurons(chi, k))),
        "tensor": lambda chi, k: torch.argsort(chi.flatten(1).max(dim=1).values, descending=True)[:k],
        "numpy array": ref.top_neurons,
    }
    for form, answer in answers.items():
        assert local.judge(SHEET, "test_top_neurons", {"top_neurons": answer}) is None, form


def test_answers_that_change_their_inputs_in_place_are_rejected():
    """masked_output zeroing the caller's Z gives the right numbers, and fails."""
    message = local.judge(SHEET, "test_masked_output", {"masked_output": mutants.masked_in_place})
    assert "changed its argument Z in place" in message
    assert local.judge(SHEET, "test_masked_output", {"masked_output": mutants.masked_complement}) != message


def test_batch_sizes_are_enforced_through_the_networks_the_probe_builds():
    message = local.judge(SHEET, "test_influence", {"influence": mutants.influence_ignores_batch_size})
    assert "with batch_size=4" in message and "9 inputs at once" in message


def test_a_network_called_without_a_batch_axis_says_what_it_expects():
    message = local.judge(SHEET, "test_neuron_saliency",
                          {"neuron_saliency": lambda h, x, channel: torch.autograd.grad(h(x)[channel].sum(), x)[0]})
    assert "expects a batch of shape (B, " in message


def test_the_notebooks_own_solutions_pass():
    """The answer cells of the source notebook (written differently from the reference)."""
    source = (Path(__file__).resolve().parent.parent / "source" / SHEET / f"{SHEET}.nb.py").read_text()
    answer_cell = r'# %% nbgrader=\{"grade": false, "grade_id": "(\w+)"[^\n]*\n(.*?)(?=\n# %%)'
    cells = dict(re.findall(answer_cell, source, re.S))
    namespace = {"torch": torch, "batches": batches}
    for test in TESTS:
        name = test[len("test_"):]
        exec(compile(cells[name], f"<answer cell {name}>", "exec"), namespace)
        assert local.judge(SHEET, test, {name: namespace[name]}) is None, test
