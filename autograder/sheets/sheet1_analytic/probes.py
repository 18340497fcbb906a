"""Probes of sheet 1, run in the student's kernel (numpy, torch and utils only).

The closed forms are recorded as they are (the probe runtime turns sympy objects into a
tree); the neuralization layers are called on the challenge's tensors.
"""
import torch

from utils.probing import StudentCodeError, call


def _expression(value):
    return {"value": value}


def test_prototype_l2(challenge, x_star_l2):
    return _expression(x_star_l2)


def test_prototype_gaussian(challenge, x_star_gaussian):
    return _expression(x_star_gaussian)


def test_code_generator(challenge, z_star_generator):
    return _expression(z_star_generator)


def test_prototype_generator(challenge, x_star_generator):
    return _expression(x_star_generator)


def test_R1_network_A(challenge, R1_network_A):
    return _expression(R1_network_A)


def test_R1_network_B(challenge, R1_network_B):
    return _expression(R1_network_B)


def test_R1_network_A_above(challenge, R1_network_A_above):
    return _expression(R1_network_A_above)


def test_softmin_lower_bound(challenge, softmin_lower_bound):
    return _expression(softmin_lower_bound)


def _tensor(array):
    return torch.tensor(array, dtype=torch.float64)


def _cases(challenge, prefix):
    return sorted(int(key.rsplit("_", 1)[1]) for key in challenge if key.startswith(prefix + "_"))


def test_layer1(challenge, layer1):
    results = {}
    for case in _cases(challenge, "gamma"):
        x, U, alpha = (_tensor(challenge[f"{name}_{case}"]) for name in ("x", "U", "alpha"))
        results[f"h_{case}"] = call(layer1, "layer1", x, U, alpha, float(challenge[f"gamma_{case}"]))
    return results


def test_layer2(challenge, layer2):
    return {f"o_{case}": call(layer2, "layer2", _tensor(challenge[f"h_{case}"]), float(challenge[f"gamma_{case}"]))
            for case in _cases(challenge, "gamma")}


def test_neuralization(challenge, layer1, layer2):
    results = {}
    for case in _cases(challenge, "gamma"):
        x, U, alpha = (_tensor(challenge[f"{name}_{case}"]) for name in ("x", "U", "alpha"))
        gamma = float(challenge[f"gamma_{case}"])
        h = call(layer1, "layer1", x, U, alpha, gamma)
        if type(h) is not torch.Tensor:
            raise StudentCodeError(f"layer1 should return a torch tensor, got {type(h).__name__}")
        results[f"o_{case}"] = call(layer2, "layer2", h, gamma)
    return results
