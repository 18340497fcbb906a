"""Sheet 2: training the CIFAR-10 network with utils.modules against the same loop in PyTorch.

Both sides start from the same weights, draw the same minibatches of 25 from the same
training images, minimise the same error (softmax with a default class, mean over the
minibatch) with plain SGD at learning rate 0.01, and run in float32 on the CPU, in the
same process, in alternating blocks of iterations (see :func:`measure`).

Two rows: one thread on each side (OpenBLAS and :mod:`utils.modules`' own threads for
NumPy, intra-op threads for PyTorch), timed in CPU seconds; and the default thread count
of this machine on each side (PyTorch's default, the cores this process may use),
timed in wall-clock seconds, since there the cores work side by side.

    python bench/sheet2_cifar.py [--iterations 10000]

On the two-core machine of the course's development, 500 iterations (load average about
1.4 from other work): 0.73× PyTorch's CPU time at one thread, 0.82× its wall time at two.
There about a quarter of a NumPy step at one thread (a third at two) is the passes around
the products, run on one core: im2col 1.4 ms, its adjoint 2.1 ms (1.5 ms of it for the
input gradient of the first layer, which the training step throws away and PyTorch never
computes), ReLU and pooling 1.5 ms, of a 21 ms step.  Splitting them over threads made
the step 12 % slower on two cores (see ``utils.modules.PARALLEL_MIN_SIZE``); on many
cores they would bound the step from below while the matrix products shrink.
"""
import argparse
import ctypes
import time

import numpy as np
import torch

from autograder.sheets.sheet2_cifar.reference import reference_buildcnn, reference_trainingstep
from utils import cifar10
from utils import modules as md
from utils.cnn import from_modules

ITERATIONS = 10000
WARM_UP = 10


def _openblas_threads(count=None):
    """Read (and with ``count``, set) NumPy's OpenBLAS thread count; None when it cannot be found."""
    with open("/proc/self/maps") as maps:
        paths = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() and line.split()[-1].startswith("/")})
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                getter = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if getter is not None and setter is not None:
                    if count is not None:
                        setter(count)
                    return getter()
    return None


def _torch_trainer(model, X, labels, seed):
    """A function running ``k`` SGD iterations of ``model`` on the schedule of ``seed``."""
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    schedule = np.random.default_rng(seed)  # the same minibatches on both sides
    default = torch.zeros(25, 1)

    def train(k):
        for _ in range(k):
            R = torch.from_numpy(schedule.permutation(len(X))[:25])
            scores = model(X[R]).flatten(1)
            loss = torch.nn.functional.cross_entropy(torch.cat([default, scores], dim=1), labels[R] + 1)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()

    return train


def _numpy_trainer(net, X, T, seed):
    schedule = np.random.default_rng(seed)  # the same minibatches on both sides

    def train(k):
        for _ in range(k):
            reference_trainingstep(net, X, T, lr=0.01, generator=schedule)

    return train


def _relative_gap(net, model, X) -> float:
    """max |scores of net − scores of model| / max |scores of model| on the images X.

    Same start, same minibatches: after a few steps both sides should still compute the
    same network (float32 rounding makes them drift apart later: SGD amplifies it).
    """
    X = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        ours, peer = from_modules(net)(X), model(X)
    return float((ours - peer).abs().max() / peer.abs().max())


def measure(Xtrain, Ttrain, iterations, threads, seed=0, block=250) -> dict:
    """Time both trainings with ``threads`` threads on each side, in alternating blocks
    of ``block`` iterations, so that both see the same load on a shared machine.
    Returns CPU and wall-clock seconds of each side and the gap after the warm-up."""
    torch.set_num_threads(threads)
    _openblas_threads(threads)
    md.set_threads(threads)
    net = reference_buildcnn(np.random.default_rng(seed))
    model = from_modules(net)
    X_torch = torch.from_numpy(np.ascontiguousarray(Xtrain.transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(Ttrain.reshape(len(Ttrain), -1).argmax(axis=1))
    trainers = {"ours": _numpy_trainer(net, Xtrain, Ttrain, seed),
                "peer": _torch_trainer(model, X_torch, labels, seed)}
    cpu = dict.fromkeys(trainers, 0.0)
    wall = dict.fromkeys(trainers, 0.0)
    # an untimed warm-up, after which both sides must still compute the same network
    for train in trainers.values():
        train(WARM_UP)
    gap = _relative_gap(net, model, Xtrain[:100])
    done = 0
    while done < iterations:
        k = min(block, iterations - done)
        for side, train in trainers.items():
            start_cpu, start_wall = time.process_time(), time.perf_counter()
            train(k)
            cpu[side] += time.process_time() - start_cpu
            wall[side] += time.perf_counter() - start_wall
        done += k
    return {"cpu": cpu, "wall": wall, "gap": gap}


def run(iterations=ITERATIONS, seed=0, block=250) -> list[dict]:
    """One row at one thread per side (CPU seconds) and one at the default thread count
    (wall-clock seconds)."""
    Xtrain, Ttrain = cifar10.load_sample("train")
    torch_threads = torch.get_num_threads()
    blas_threads = _openblas_threads()
    module_threads = md.get_threads()
    rows = []
    try:
        for threads in dict.fromkeys((1, torch_threads)):
            times = measure(Xtrain, Ttrain, iterations, threads, seed, block)
            clock = "cpu" if threads == 1 else "wall"
            what = "1 thread, CPU s" if threads == 1 else f"{threads} threads (the default), wall s"
            rows.append({
                "name": f"sheet2: {iterations} SGD iterations, NumPy modules vs PyTorch CPU (float32, {what})",
                "ours_s": times[clock]["ours"],
                "peer": f"torch {torch.__version__} (CPU, same network and loop)",
                "peer_s": times[clock]["peer"],
                "ratio": times[clock]["ours"] / times[clock]["peer"],
                "threads": threads,
                "ours_cpu_s": times["cpu"]["ours"],
                "peer_cpu_s": times["cpu"]["peer"],
                "ours_wall_s": times["wall"]["ours"],
                "peer_wall_s": times["wall"]["peer"],
                "relative_gap_of_scores_after_warm_up": times["gap"],
            })
    finally:
        torch.set_num_threads(torch_threads)
        if blas_threads:
            _openblas_threads(blas_threads)
        md.set_threads(module_threads)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    args = parser.parse_args()
    for row in run(args.iterations):
        print(row)
