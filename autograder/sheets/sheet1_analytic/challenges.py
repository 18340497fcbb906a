"""Challenge inputs of sheet 1's autograded tests.

The closed-form answers (exercises 1 and 2, the soft-min bound) take no input: their
probes record the expression itself, and the check compares it with the reference for
all values of the symbols.  The neuralization layers are run on random data: points,
support vectors, weights and kernel widths drawn per student.
"""
import numpy as np


def _no_input(rng):
    return {}


test_prototype_l2 = test_prototype_gaussian = test_code_generator = test_prototype_generator = _no_input
test_R1_network_A = test_R1_network_B = test_R1_network_A_above = test_softmin_lower_bound = _no_input


def _svm_data(rng, n, m, d):
    return {"x": rng.normal(size=(n, d)), "U": rng.normal(size=(m, d)), "alpha": rng.uniform(0.2, 2.0, size=m)}


def test_layer1(rng):
    """Three problems of different sizes, each with its own kernel width γ."""
    challenge = {}
    for case, (n, m, d) in enumerate([(7, 5, 4), (3, 6, 2), (9, 2, 3)]):
        challenge.update({f"{name}_{case}": value for name, value in _svm_data(rng, n, m, d).items()})
        challenge[f"gamma_{case}"] = np.array(rng.uniform(0.3, 8.0))
    return challenge


def test_layer2(rng):
    """Soft minima at moderate γ, and one at γ = 500, where exp(−γh) underflows to 0."""
    challenge = {f"h_{case}": rng.normal(size=(6, 5)) for case in range(3)}
    challenge.update({f"gamma_{case}": np.array(value) for case, value in
                      enumerate([rng.uniform(0.3, 1.0), rng.uniform(1.0, 5.0), 500.0])})
    challenge["h_2"] = 3.0 + rng.uniform(0.0, 1.0, size=(6, 5))
    return challenge


def test_neuralization(rng):
    """The two layers together on unseen data, at two kernel widths."""
    challenge = {}
    for case in range(2):
        challenge.update({f"{name}_{case}": value for name, value in _svm_data(rng, 9, 4, 3).items()})
        challenge[f"gamma_{case}"] = np.array(rng.uniform(0.2, 3.0))
    return challenge
