"""Train sheet 2's network with the reference solution; this makes the shipped parameters.

    OPENBLAS_NUM_THREADS=1 python -m autograder.sheets.sheet2_cifar.train --iterations 10000 --seed 2 --out utils/params/sheet2_cnn

Uses the full CIFAR-10 copy (``CIFAR10_ROOT``; the course's sample otherwise, with a
message), plain SGD with learning rate 0.01 on minibatches of 25, exactly the loop of the
sheet, and prints the accuracy on the first 500 test images at the sheet's checkpoints.
The parameters are dumped at every checkpoint, so the folder holds the last one.
"""
import argparse
import os
import time

import numpy as np

from autograder.sheets.sheet2_cifar.reference import accuracy, reference_buildcnn, reference_trainingstep
from utils import cifar10

CHECKPOINTS = (10, 20, 40, 100, 200, 400, 1000, 2000, 4000, 6000, 8000, 10000,
               12000, 14000, 16000, 18000, 20000)


def train(iterations=10000, seed=0, out=None, lr=0.01, log=print):
    """Train from ``seed``; return ``{checkpoint: accuracy on the first 500 test images}``."""
    Xtrain, Ttrain = cifar10.load("train")
    Xtest, Ttest = cifar10.load("test")
    Xtest, Ttest = Xtest[:500], Ttest[:500]
    generator = np.random.default_rng(seed)
    nn = reference_buildcnn(generator)
    scores, start = {}, time.perf_counter()
    for i in range(1, iterations + 1):
        reference_trainingstep(nn, Xtrain, Ttrain, lr=lr, generator=generator)
        if i in CHECKPOINTS or i == iterations:
            if out is not None:
                nn.dump(out)
            scores[i] = accuracy(nn, Xtest, Ttest)
            log("%6d %.3f   (%.0f s)" % (i, scores[i], time.perf_counter() - start))
    return scores


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--out", default=None, help="folder for the parameters (none: not stored)")
    args = parser.parse_args(argv)
    if "CIFAR10_ROOT" not in os.environ:
        print("CIFAR10_ROOT is not set: the shipped parameters must come from the full data set.")
    train(args.iterations, args.seed, args.out, args.lr)


if __name__ == "__main__":
    main()
