"""Checks of sheet 4: the student's answers against closed forms on the test networks.

Every expected value is computed here from the challenge, in float64 NumPy, by the
closed forms of :mod:`reference` (explicit Jacobians of the two-layer test networks):
nothing the student's code returned is trusted but the numbers of the answer.  Besides
the values, a check fails answers that changed their arguments in place (the notebook
uses them again afterwards) and answers that called a test network on more inputs at
once than ``batch_size`` allows.
"""
import numpy as np

from autograder.checking import GradingError, assert_close
from autograder.sheets.sheet4_influence import reference as ref


def _cases(challenge: dict, key: str) -> range:
    """The case numbers of a challenge: those with an array ``c<i>_<key>``."""
    count = 0
    while f"c{count}_{key}" in challenge:
        count += 1
    return range(count)


def _batch_size(value):
    return None if int(value) == 0 else int(value)


def _shape(shape) -> str:
    return str(tuple(int(n) for n in shape))


def _per_case(answer, name: str, count: int, what: str) -> list:
    """The answer's list of arrays ``name``, one per case (shapes are checked by the caller,
    whose message names the case)."""
    arrays = answer.arrays_of(name, what=what)
    if len(arrays) != count:
        raise GradingError(f"{what}: expected {count} results, one per call, got {len(arrays)}")
    return arrays


def _unchanged(answer, name: str, originals: list, function: str, argument: str) -> None:
    """Fail when an argument differs, after the call, from what was passed in."""
    for after, original in zip(_per_case(answer, name, len(originals), f"{argument} after the call"), originals):
        if after.shape != original.shape or not np.array_equal(after, original):
            raise GradingError(
                f"{function} changed its argument {argument} in place (the caller's tensor differs after the "
                f"call); compute on a copy or with out-of-place operations, the notebook uses {argument} again"
            )


def _indices(answer, name: str, count: int, what: str) -> list:
    """A list of ``count`` integer indices, given as a 1-d array or a list of numbers."""
    if answer.node(name, what)["kind"] == "list":
        values = answer.arrays_of(name, what=what)
        if any(value.size != 1 for value in values):
            raise GradingError(f"{what} should hold single channel indices")
        flat = np.array([float(value.ravel()[0]) for value in values])
    else:
        flat = answer.array(name, what=what)
        if flat.ndim != 1:
            raise GradingError(f"{what} should be a 1-d tensor or list of channel indices, got shape {flat.shape}")
    if len(flat) != count:
        raise GradingError(f"{what} should hold {count} channel indices, got {len(flat)}")
    if not np.all(flat == np.round(flat)):
        raise GradingError(f"{what} should hold integer channel indices, got {flat.tolist()}")
    return [int(v) for v in flat]


def _batches_respected(largest: list, challenge: dict, function: str, networks: str) -> None:
    for i, seen in enumerate(largest):
        batch_size = _batch_size(challenge[f"c{i}_batch_size"])
        if batch_size is not None and int(seen) > batch_size:
            raise GradingError(f"with batch_size={batch_size}, {function} called {networks} on {int(seen)} "
                               f"inputs at once; process at most batch_size inputs per call")


def test_straight_line_path(challenge, answer) -> None:
    """The path points for k = 1..m, in order."""
    cases = _cases(challenge, "steps")
    xs = [challenge[f"c{i}_x"] for i in cases]
    baselines = [challenge[f"c{i}_baseline"] for i in cases]
    expected = [ref.path_points(xs[i], baselines[i], int(challenge[f"c{i}_steps"])) for i in cases]
    points = _per_case(answer, "points", len(cases), "straight_line_path(x, baseline, steps)")
    for i in cases:
        steps = int(challenge[f"c{i}_steps"])
        assert_close(points[i], expected[i], rtol=1e-6, atol=1e-7,
                     name=f"straight_line_path(x, baseline, {steps}) for x of shape {_shape(xs[i].shape)}")
    _unchanged(answer, "x_after", xs, "straight_line_path", "x")
    _unchanged(answer, "baseline_after", baselines, "straight_line_path", "baseline")


def test_integrated_gradients(challenge, answer) -> None:
    """Formula (3) on random networks, against their exact gradients; F sees at most
    ``batch_size`` path points at a time."""
    cases = _cases(challenge, "steps")
    xs = [challenge[f"c{i}_x"] for i in cases]
    baselines = [challenge[f"c{i}_baseline"] for i in cases]
    attributions = _per_case(answer, "attributions", len(cases),
                             "integrated_gradients(F, x, baseline, steps, batch_size)")
    for i in cases:
        net = ref.TwoLayerNet.from_challenge(challenge, f"c{i}_net")
        steps, batch_size = int(challenge[f"c{i}_steps"]), _batch_size(challenge[f"c{i}_batch_size"])
        expected = ref.integrated_gradients_of_net(net, challenge[f"c{i}_weights"], xs[i], baselines[i], steps)
        assert_close(attributions[i], expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max(),
                     name=f"integrated_gradients with steps={steps}, batch_size={batch_size} for x of shape "
                          f"{_shape(xs[i].shape)}")
    _batches_respected(answer.array("largest_batch", shape=(len(cases),), what="the batches F was called on"),
                       challenge, "integrated_gradients", "F")
    _unchanged(answer, "x_after", xs, "integrated_gradients", "x")
    _unchanged(answer, "baseline_after", baselines, "integrated_gradients", "baseline")


def _qoi_text(weights: np.ndarray) -> str:
    nonzero = np.flatnonzero(weights)
    if len(nonzero) == 1 and weights[nonzero[0]] == 1:
        return f"y[:, {nonzero[0]}]"
    if len(nonzero) == 2 and sorted(weights[nonzero]) == [-1, 1]:
        plus, minus = (nonzero if weights[nonzero[0]] == 1 else nonzero[::-1])
        return f"y[:, {plus}] - y[:, {minus}]"
    return "a weighted sum of the outputs"


def test_influence(challenge, answer) -> None:
    """Distributional influence of a random slice against g's exact gradient."""
    cases = _cases(challenge, "X")
    samples = [challenge[f"c{i}_X"] for i in cases]
    hs = [ref.TwoLayerNet.from_challenge(challenge, f"c{i}_h") for i in cases]
    chis = _per_case(answer, "influence", len(cases), "influence(h, g, X, qoi, batch_size)")
    for i in cases:
        g = ref.TwoLayerNet.from_challenge(challenge, f"c{i}_g")
        weights = challenge[f"c{i}_weights"]
        expected = ref.influence_of_net(g, weights, hs[i](samples[i]))
        assert_close(chis[i], expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max(),
                     name=f"influence for {len(samples[i])} inputs, quantity of interest {_qoi_text(weights)}, "
                          f"batch_size={_batch_size(challenge[f'c{i}_batch_size'])}")
    _batches_respected(answer.array("largest_batch", shape=(len(cases),), what="the batches h and g were called on"),
                       challenge, "influence", "h or g")
    _unchanged(answer, "X_after", samples, "influence", "X")


def test_top_neurons(challenge, answer) -> None:
    """Channels ordered by their largest influence over positions, best first."""
    cases = _cases(challenge, "chi")
    maps = [challenge[f"c{i}_chi"] for i in cases]
    for i in cases:
        k = int(challenge[f"c{i}_k"])
        what = f"top_neurons(chi, {k}) for chi of shape {_shape(maps[i].shape)}"
        got = _indices(answer, f"channels_{i}", k, what)
        expected = ref.ranking_by_peak(maps[i], k)
        if got != expected:
            raise GradingError(f"{what} returned {got}, expected the {k} channels with the largest maximum over "
                               "the positions, most influential first")
    _unchanged(answer, "chi_after", maps, "top_neurons", "chi")


def test_neuron_saliency(challenge, answer) -> None:
    """Gradient of a channel's summed activation, against the exact Jacobian."""
    cases = _cases(challenge, "channel")
    xs = [challenge[f"c{i}_x"] for i in cases]
    saliency = _per_case(answer, "saliency", len(cases), "neuron_saliency(h, x, channel)")
    for i in cases:
        h = ref.TwoLayerNet.from_challenge(challenge, f"c{i}_h")
        channel = int(challenge[f"c{i}_channel"])
        expected = ref.neuron_saliency_of_net(h, xs[i], channel)
        assert_close(saliency[i], expected, rtol=1e-5, atol=1e-7 * np.abs(expected).max(),
                     name=f"neuron_saliency for channel {channel} of a slice of shape {_shape(h.out_shape)}")
    _unchanged(answer, "x_after", xs, "neuron_saliency", "x")


def test_masked_output(challenge, answer) -> None:
    """g on the slice with every channel but the chosen ones zeroed."""
    cases = _cases(challenge, "Z")
    slices = [challenge[f"c{i}_Z"] for i in cases]
    nets = [ref.TwoLayerNet.from_challenge(challenge, f"c{i}_g") for i in cases]
    outputs = _per_case(answer, "outputs", len(cases), "masked_output(g, Z, channels)")
    for i in cases:
        channels = [int(j) for j in challenge[f"c{i}_channels"]]
        expected = ref.masked_output_of_net(nets[i], slices[i], channels)
        assert_close(outputs[i], expected, rtol=1e-6, atol=1e-8,
                     name=f"masked_output keeping channels {channels} of a slice of shape "
                          f"{_shape(slices[i].shape[1:])}")
    _unchanged(answer, "Z_after", slices, "masked_output", "Z")
    for i in cases:
        channels = [int(j) for j in challenge[f"c{i}_channels"]]
        if _indices(answer, f"channels_after_{i}", len(channels), "channels after the call") != channels:
            raise GradingError("masked_output changed its argument channels in place (reordered or overwrote the "
                               "caller's list or tensor); the notebook uses it again")
