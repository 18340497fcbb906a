"""Challenge inputs of sheet 4's autograded tests.

Each test runs the student's function on a few *cases*; the arrays of case ``i`` are
named ``c<i>_<name>``.  A small random network is stored as its arrays under a prefix
(``c<i>_net_W``, ``c<i>_net_b``, …, see :func:`reference.random_net`); the probe builds
it in torch and the check in NumPy.  Integers (steps, a channel) are 0-d arrays; a
``batch_size`` of 0 stands for ``None``.

The draws avoid answers that would be right by accident: step counts and sample sizes
that are not multiples of the batch size (a wrong average over the batches shows), index
lists that are not ascending, channel peaks far enough apart that the ranking is not
decided by rounding, and rankings by the largest value that differ from the rankings by
the mean, the smallest value and the largest magnitude.
"""
import numpy as np

from autograder.sheets.sheet4_influence.reference import random_net


def _add(case: dict, prefix: str, arrays: dict) -> None:
    case.update({f"{prefix}_{name}": value for name, value in arrays.items()})


def _int(value) -> np.ndarray:
    return np.array(int(value), dtype=np.int64)


def test_straight_line_path(rng: np.random.Generator) -> dict:
    challenge = {}
    for i, (shape, steps) in enumerate((((3,), rng.integers(4, 7)), ((2, 3, 3), rng.integers(7, 10)), ((1, 4), 1))):
        challenge[f"c{i}_x"] = rng.normal(size=shape)
        challenge[f"c{i}_baseline"] = rng.normal(size=shape)
        challenge[f"c{i}_steps"] = _int(steps)
    return challenge


def test_integrated_gradients(rng: np.random.Generator) -> dict:
    challenge = {}
    cases = (((2, 3, 3), "tanh", 5, 0), ((6,), "relu", 12, 5), ((3, 2, 2), "softplus", 1, 0), ((4, 2), "tanh", 9, 4))
    for i, (shape, activation, steps, batch_size) in enumerate(cases):
        _add(challenge, f"c{i}_net", random_net(rng, shape, 8, (3,), activation))
        challenge[f"c{i}_weights"] = rng.normal(size=3)
        challenge[f"c{i}_x"] = rng.normal(size=shape)
        challenge[f"c{i}_baseline"] = rng.normal(0, 0.3, size=shape)
        challenge[f"c{i}_steps"] = _int(steps)
        challenge[f"c{i}_batch_size"] = _int(batch_size)
    return challenge


def test_influence(rng: np.random.Generator) -> dict:
    """Quantities of interest: one class score, a difference of two, a random mix."""
    challenge = {}
    cases = (((3, 2, 2), (2, 3, 3), 6, 0), ((5,), (4, 2, 2), 1, 0), ((2, 2, 2), (3, 2, 3), 9, 4))
    first, second = rng.choice(4, size=2, replace=False)
    qois = (np.eye(4)[first], np.eye(4)[first] - np.eye(4)[second], rng.normal(size=4))
    for i, ((in_shape, slice_shape, n, batch_size), weights) in enumerate(zip(cases, qois)):
        _add(challenge, f"c{i}_h", random_net(rng, in_shape, 6, slice_shape, "relu"))
        _add(challenge, f"c{i}_g", random_net(rng, slice_shape, 7, (4,), "tanh"))
        challenge[f"c{i}_weights"] = weights
        challenge[f"c{i}_X"] = rng.normal(size=(n,) + in_shape)
        challenge[f"c{i}_batch_size"] = _int(batch_size)
    return challenge


def _distinct_rankings(chi: np.ndarray, k: int) -> bool:
    """Whether the top-k channels by their largest value are clearly ordered, not in
    ascending order, and differ from the top k by other scores."""
    flat = chi.reshape(len(chi), -1)
    peak = flat.max(axis=1)
    if np.min(np.diff(np.sort(peak))) < 1e-3:
        return False
    top = list(np.argsort(-peak)[:k])
    if k > 1 and top == sorted(top):
        return False
    others = (flat.mean(axis=1), np.abs(flat).max(axis=1), flat.min(axis=1))
    return all(list(np.argsort(-score)[:k]) != top for score in others)


def test_top_neurons(rng: np.random.Generator) -> dict:
    challenge = {}
    for i, (shape, k) in enumerate((((6, 3, 3), 3), ((10, 2, 4), 10), ((5, 4, 4), 1))):
        for _ in range(10_000):
            chi = rng.normal(size=shape)
            if _distinct_rankings(chi, k):
                break
        else:  # pragma: no cover - each draw qualifies with a probability of about one half
            raise RuntimeError("no qualifying influence map drawn")
        challenge[f"c{i}_chi"] = chi
        challenge[f"c{i}_k"] = _int(k)
    return challenge


def test_neuron_saliency(rng: np.random.Generator) -> dict:
    challenge = {}
    for i, (in_shape, slice_shape) in enumerate((((2, 3, 3), (4, 2, 2)), ((3, 2, 2), (3, 3, 2)), ((6,), (5, 1, 3)))):
        _add(challenge, f"c{i}_h", random_net(rng, in_shape, 9, slice_shape, "softplus"))
        challenge[f"c{i}_x"] = rng.normal(size=in_shape)
        # Never channel 0 in the first two cases: an answer that ignores `channel` shows.
        challenge[f"c{i}_channel"] = _int(rng.integers(1 if i < 2 else 0, slice_shape[0]))
    return challenge


def test_masked_output(rng: np.random.Generator) -> dict:
    """The kept channels come as a list (cases 0 and 1) or as a tensor (case 2, as
    ``top_neurons`` returns them in the notebook); ``c<i>_as_tensor`` says which."""
    challenge = {}
    for i, (slice_shape, kept) in enumerate((((5, 2, 2), 2), ((4, 3, 1), 1), ((6, 2, 3), 4))):
        _add(challenge, f"c{i}_g", random_net(rng, slice_shape, 6, (3,), "relu"))
        challenge[f"c{i}_Z"] = np.abs(rng.normal(size=(4,) + slice_shape))
        channels = rng.permutation(slice_shape[0])[:kept]
        while kept > 1 and np.all(np.diff(channels) > 0):
            channels = rng.permutation(slice_shape[0])[:kept]
        challenge[f"c{i}_channels"] = channels.astype(np.int64)
        challenge[f"c{i}_as_tensor"] = _int(i == 2)
    return challenge
