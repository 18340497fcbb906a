"""Sheet 2's references and autograded tests.

The float64 formulas the checks use are compared with independent formulations (finite
differences and computer algebra for the error gradient, the course's NumPy modules for
a training step and the forward pass); every test accepts the reference, and correct
answers written differently, for any student's challenge, and fails every mutant with a
message; unfinished answers get a message, not a crash.
"""
import numpy as np
import pytest
import sympy

from autograder import sheets
from autograder.engine import challenges, local
from autograder.sheets.sheet2_cifar import mutants
from autograder.sheets.sheet2_cifar import reference as ref
from utils import modules as md

SHEET = "sheet2_cifar"
TESTS = list(mutants.CORRECT)


# ----------------------------------------------------------------------------- references
@pytest.mark.parametrize("scale", [1.0, 30.0, 300.0])
def test_errorgrad_matches_finite_differences_even_for_large_scores(scale):
    generator = np.random.default_rng(int(scale))
    y = generator.standard_normal((4, 1, 1, 10)) * scale
    y[0, 0, 0] = -scale  # no evidence at all: the default class wins
    t = np.eye(10)[generator.integers(0, 10, 4)].reshape(4, 1, 1, 10)
    grad = ref.errorgrad(y.astype(np.float32), t)
    assert np.isfinite(grad).all()
    for index in np.ndindex(y.shape):
        step = 1e-5 * max(1.0, abs(y[index]))
        plus, minus = y.copy(), y.copy()
        plus[index] += step
        minus[index] -= step
        numeric = (ref.error(plus, t) - ref.error(minus, t)) / (2 * step)
        assert grad[index] == pytest.approx(numeric, abs=1e-5), index


def test_the_derivation_holds_for_any_targets_by_computer_algebra():
    """∂E/∂y_k = p_k Σ_i t_i − t_k, the formula of errorgrad, for three classes and symbolic targets."""
    ys, ts = sympy.symbols("y1:4"), sympy.symbols("t1:4")
    denominator = 1 + sum(sympy.exp(v) for v in ys)
    E = -sum(ti * sympy.log(sympy.exp(yi) / denominator) for ti, yi in zip(ts, ys))
    for k in range(3):
        claim = sympy.exp(ys[k]) / denominator * sum(ts) - ts[k]
        assert sympy.simplify(sympy.diff(E, ys[k]) - claim) == 0


def test_errorgrad_matches_the_sympy_derivative_with_ten_classes():
    ys, ts = sympy.symbols("y1:11"), sympy.symbols("t1:11")
    denominator = 1 + sum(sympy.exp(v) for v in ys)
    E = -sum(ti * sympy.log(sympy.exp(yi) / denominator) for ti, yi in zip(ts, ys))
    generator = np.random.default_rng(7)
    y = generator.standard_normal((1, 1, 1, 10)) * 3
    t = np.eye(10)[[4]].reshape(1, 1, 1, 10)
    values = {**dict(zip(ys, y.ravel())), **dict(zip(ts, t.ravel()))}
    exact = np.array([float(sympy.diff(E, v).evalf(subs=values)) for v in ys])
    np.testing.assert_allclose(ref.errorgrad(y, t).ravel(), exact, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ref.reference_geterrorgrad(y, t).ravel(), exact, rtol=1e-6, atol=1e-8)


def test_error_is_stable_and_matches_the_direct_formula():
    y = np.array([[1.0, -2.0, 0.5]])
    t = np.array([[0.0, 1.0, 0.0]])
    direct = -np.log(np.exp(-2.0) / (1 + np.exp(y).sum()))
    assert ref.error(y, t) == pytest.approx(direct)
    assert np.isfinite(ref.error(np.array([[900.0, -900.0, 0.0]]), t))


def _training_network(params):
    layers = []
    for k, (W, B) in enumerate(params):
        layer = md.Convolution(W.shape, init="zeros")
        layer.W, layer.B = W.astype(np.float32), B.astype(np.float32)
        layers += [layer] + ([md.ReLU(), md.Pooling()] if k < len(params) - 1 else [])
    return md.Network(layers)


def test_sgd_step_of_the_checks_equals_a_step_of_the_course_modules():
    """The check's float64 autograd step against the reference step on utils.modules."""
    challenge = challenges.draw(sheets.load(SHEET).challenges, "test_trainingstep", 5)
    X, T = challenge["Xtrain"], challenge["Ttrain"]
    params = [(challenge["W1"], challenge["B1"]), (challenge["W2"], challenge["B2"])]
    net = _training_network(params)
    generator = np.random.RandomState(3)
    minibatch = np.random.RandomState(3).permutation(len(X))[:9]
    ref.reference_trainingstep(net, X.astype(np.float32), T.astype(np.float32), lr=0.1, batchsize=9,
                               generator=generator)
    expected = ref.sgd_step(params, X[minibatch], T[minibatch], 0.1)
    convolutions = [layer for layer in net.layers if isinstance(layer, md.Convolution)]
    for layer, (W, B), (W0, B0) in zip(convolutions, expected, params):
        assert np.linalg.norm(layer.W - W) <= 1e-4 * np.linalg.norm(W - W0)
        assert np.linalg.norm(layer.B - B) <= 1e-4 * np.linalg.norm(B - B0)


def test_dtd_forward_equals_the_course_modules():
    challenge = challenges.draw(sheets.load(SHEET).challenges, "test_dtd", 5)
    params = [(challenge[f"W{k}"], challenge[f"B{k}"]) for k in (1, 2, 3)]
    net = _training_network(params)
    net.layers.append(md.ReLU())
    scores = net.forward(challenge["X"].astype(np.float32))
    np.testing.assert_allclose(scores, ref.dtd_forward(params, challenge["X"])[0], rtol=1e-5, atol=1e-6)


def test_reference_buildcnn_trains_on_the_sample():
    """A few hundred reference SGD steps on the course's sample beat chance clearly."""
    from utils import cifar10

    X, T = cifar10.load_sample("train")
    generator = np.random.default_rng(0)
    net = ref.reference_buildcnn(generator)
    for _ in range(300):
        ref.reference_trainingstep(net, X, T, generator=generator)
    Xtest, Ttest = cifar10.load_sample("test")
    assert ref.accuracy(net, Xtest, Ttest) > 0.25


# ----------------------------------------------------------------------------- the tests
@pytest.mark.parametrize("test", TESTS)
def test_every_test_accepts_the_reference_and_fails_every_mutant(test):
    assert local.judge(SHEET, test, mutants.CORRECT[test]) is None
    assert len(mutants.MUTANTS[test]) >= 5
    survivors = [what for what, objects in mutants.MUTANTS[test].items()
                 if local.judge(SHEET, test, objects) is None]
    assert survivors == []


@pytest.mark.parametrize("test", TESTS)
def test_the_reference_passes_on_every_students_challenge(test):
    for student in ("ada", "grace", "alan", "edsger", "barbara"):
        assert local.judge(SHEET, test, mutants.CORRECT[test], secret=b"course", student=student) is None, student


@pytest.mark.slow
@pytest.mark.parametrize("test", TESTS)
def test_mutants_fail_on_other_students_challenges(test):
    for student in ("ada", "grace", "alan"):
        for what, objects in mutants.MUTANTS[test].items():
            assert local.judge(SHEET, test, objects, secret=b"course", student=student) is not None, (student, what)


def _step_sorted(nn, Xtrain, Ttrain, lr=0.01, batchsize=25):
    R = np.sort(np.random.permutation(len(Xtrain))[:batchsize])
    nn.gradprop(ref.reference_geterrorgrad(nn.forward(Xtrain[R]), Ttrain[R]))
    nn.update(lr)


def _step_choice(nn, Xtrain, Ttrain, lr=0.01, batchsize=25):
    R = np.random.choice(len(Xtrain), batchsize, replace=False)
    nn.gradprop(ref.reference_geterrorgrad(nn.forward(Xtrain[R]), Ttrain[R]))
    nn.update(lr)


def _grad_float64_by_concatenation(y, t):
    scores = np.concatenate([np.zeros(y.shape[:-1] + (1,)), np.asarray(y, dtype=np.float64)], axis=-1)
    p = np.exp(scores - scores.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    return (p[..., 1:] - t) / len(y)


class _NetworkReversed(md.Network):
    def relprop(self, R):
        for layer in reversed(self.layers):
            R = layer.relprop(R)
        return R


class _PoolingByWindows(md.Pooling):
    """The pooling rule written with the windows, without the gradient trick."""

    def relprop(self, R):
        N, H, W, C = self.X.shape
        windows = np.asarray(self.X).reshape(N, H // 2, 2, W // 2, 2, C)
        share = windows / (windows.sum(axis=(2, 4), keepdims=True) + 1e-12)
        return (share * R[:, :, None, :, None, :]).reshape(self.X.shape)


@pytest.mark.parametrize("test, objects", [
    ("test_trainingstep", {"trainingstep": _step_sorted}),
    ("test_trainingstep", {"trainingstep": _step_choice}),
    ("test_geterrorgrad", {"geterrorgrad": _grad_float64_by_concatenation}),
    ("test_network_relprop", {"Network": _NetworkReversed}),
    ("test_pooling_relprop", {"Pooling": _PoolingByWindows}),
], ids=["sorted minibatch", "choice without replacement", "float64 softmax with a zero column",
        "reversed()", "pooling by windows"])
def test_correct_answers_written_differently_pass(test, objects):
    assert local.judge(SHEET, test, objects) is None


# ----------------------------------------------------------------------------- unfinished answers
def _unfinished(*args, **kwargs):
    raise NotImplementedError()


def _stub(base):
    return type(base.__name__, (base,), {"relprop": _unfinished})


STUBS = {"buildcnn": _unfinished, "geterrorgrad": _unfinished, "trainingstep": _unfinished,
         "Network": _stub(md.Network), "ReLU": _stub(md.ReLU), "Pooling": _stub(md.Pooling),
         "Convolution": _stub(md.Convolution), "FirstConvolution": _stub(md.Convolution)}


@pytest.mark.parametrize("test", TESTS)
def test_the_blank_release_fails_every_test_with_a_message(test):
    objects = {name: STUBS[name] for name in mutants.CORRECT[test]}
    message = local.judge(SHEET, test, objects)
    assert message is not None and "not implemented" in message


def test_crashing_or_malformed_answers_get_a_message():
    assert "raised ZeroDivisionError" in local.judge(SHEET, "test_buildcnn", {"buildcnn": lambda: 1 / 0})
    assert "modules.Network" in local.judge(SHEET, "test_buildcnn", {"buildcnn": lambda: "a network"})
    assert "shape" in local.judge(SHEET, "test_geterrorgrad", {"geterrorgrad": lambda y, t: y[:, 0]})
    assert "NaN" in local.judge(SHEET, "test_geterrorgrad", {"geterrorgrad": lambda y, t: y * np.nan})
