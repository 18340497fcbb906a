"""Cut the CIFAR-10 sample that ships with the course out of a full copy.

    python -m autograder sample [ROOT]

ROOT holds ``cifar-10-batches-py/`` (default: ``$CIFAR10_ROOT``).  The sample keeps the
first 500 test images (the seed's evaluation set) and the first 2,000 training images,
as uint8 pixels, exactly as they are in the copy it was cut from.
"""
import sys

import numpy as np

from utils import cifar10

N_TEST, N_TRAIN = 500, 2000


def main(argv):
    root = cifar10.find_root(argv[0] if argv else None)
    if root is None:
        sys.exit("no CIFAR-10 copy found: pass its folder or set CIFAR10_ROOT")
    folder = root / cifar10.FOLDER
    test_pixels, test_labels = cifar10._read_batch(folder / "test_batch")
    train_pixels, train_labels = cifar10._read_batch(folder / "data_batch_1")
    cifar10.SAMPLE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        cifar10.SAMPLE,
        test_pixels=np.asarray(test_pixels[:N_TEST], np.uint8),
        test_labels=np.asarray(test_labels[:N_TEST], np.uint8),
        train_pixels=np.asarray(train_pixels[:N_TRAIN], np.uint8),
        train_labels=np.asarray(train_labels[:N_TRAIN], np.uint8),
    )
    print(f"wrote {cifar10.SAMPLE} ({cifar10.SAMPLE.stat().st_size / 1e6:.1f} MB)")
