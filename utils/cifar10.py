"""CIFAR-10 in the course's convention.

Images are NHWC float32 with pixels scaled to [-1, 1]; targets are one-hot indicator
vectors of shape (N, 1, 1, 10), so that they line up with the output of a network whose
last layer is a 1×1 convolution (sheet 2).

Where the data comes from, in this order:

1. the ``root`` argument, then ``$CIFAR10_ROOT``, then the user cache
   (``~/.cache/explaining-nn/cifar10``): a folder that holds ``cifar-10-batches-py/``,
   the official "python version" of the data set;
2. with ``download=True``, the official archive, fetched into the user cache and checked
   against its published MD5 sum;
3. otherwise, with ``sample_fallback=True``, the small sample that ships with the course
   (the first 500 test images and the first 2,000 training images), so that every
   notebook runs offline.  A message says so.
"""
import hashlib
import os
import pickle
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
SAMPLE = Path(__file__).parent / "data" / "cifar10-sample.npz"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "explaining-nn" / "cifar10"


class DatasetUnavailable(FileNotFoundError):
    """The full CIFAR-10 set is neither on disk nor downloadable."""


def to_course_format(pixels: np.ndarray, labels) -> tuple[np.ndarray, np.ndarray]:
    """uint8 pixels (N, 3072 channel-major, or N×32×32×3) and integer labels → (X, T)."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    X = (pixels.astype(np.float32) / np.float32(127.5) - np.float32(1.0)).astype(np.float32)
    labels = np.asarray(labels, dtype=np.int64)
    T = (labels[:, None] == np.arange(10)).astype(np.float32).reshape(-1, 1, 1, 10)
    return X, T


def find_root(root=None) -> Path | None:
    """The first candidate folder that holds ``cifar-10-batches-py/``, or None."""
    candidates = [root, os.environ.get("CIFAR10_ROOT"), CACHE]
    for candidate in candidates:
        if candidate and (Path(candidate) / FOLDER / "test_batch").is_file():
            return Path(candidate)
    return None


def _read_batch(path: Path):
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="latin1")
    return batch["data"], batch["labels"]


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(dest: Path = CACHE) -> Path:
    """Fetch the official archive into ``dest``, check its MD5 and unpack it."""
    from tqdm.auto import tqdm

    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / "cifar-10-python.tar.gz"
    if not archive.exists() or _md5(archive) != MD5:
        try:
            with urllib.request.urlopen(URL, timeout=30) as response, open(archive, "wb") as out:
                total = int(response.headers.get("Content-Length", 0)) or None
                with tqdm(total=total, unit="B", unit_scale=True, desc="CIFAR-10") as bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        bar.update(len(block))
        except OSError as error:
            archive.unlink(missing_ok=True)
            raise DatasetUnavailable(_missing_message(f"the download failed ({error})")) from error
        if _md5(archive) != MD5:
            archive.unlink()
            raise DatasetUnavailable(_missing_message("the downloaded archive has the wrong MD5 sum"))
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def _missing_message(reason: str) -> str:
    return (
        f"CIFAR-10 is not available: {reason}.\n"
        f"Download {URL} (MD5 {MD5}), unpack it so that '{FOLDER}/' lies in a folder of your choice,\n"
        f"and pass that folder as root=..., or set CIFAR10_ROOT to it, or unpack it into {CACHE}."
    )


def load(split: str = "train", root=None, *, download_missing: bool = False, sample_fallback: bool = True):
    """Return ``(X, T)`` for ``split`` in {"train", "test"} in the course's convention.

    Reads the full data set where it is found (see the module docstring); downloads it
    only when ``download_missing=True``; otherwise falls back to the shipped sample when
    ``sample_fallback=True`` and raises :class:`DatasetUnavailable` when not.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    found = find_root(root)
    if found is None and download_missing:
        found = download()
    if found is None:
        if not sample_fallback:
            raise DatasetUnavailable(_missing_message("no copy was found"))
        print(f"CIFAR-10: full data set not found, using the course's sample ({split}).")
        return load_sample(split)
    names = TRAIN_BATCHES if split == "train" else ["test_batch"]
    parts = [_read_batch(found / FOLDER / name) for name in names]
    pixels = np.concatenate([np.asarray(data) for data, _ in parts])
    labels = np.concatenate([np.asarray(lab) for _, lab in parts])
    return to_course_format(pixels, labels)


def load_sample(split: str = "test"):
    """The sample that ships with the course: 500 test or 2,000 training images."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    with np.load(SAMPLE) as sample:
        return to_course_format(sample[f"{split}_pixels"], sample[f"{split}_labels"])
