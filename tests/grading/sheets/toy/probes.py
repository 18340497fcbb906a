"""Probes of the toy sheet, run in the student's kernel (numpy and utils only).

Each probe hands the student's function a copy of the challenge and also returns that
copy after the call, so that the check can tell whether the function changed its input.
"""
from utils.probing import call


def test_square_sum(challenge, square_sum):
    x = challenge["x"].copy()
    return {"s": call(square_sum, "square_sum", x), "x_after": x}


def test_normalize(challenge, normalize):
    v = challenge["v"].copy()
    return {"u": call(normalize, "normalize", v), "v_after": v}


def test_derivative(challenge, derivative):
    return {"value": call(derivative, "derivative")}
