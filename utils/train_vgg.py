"""Train the course's CIFAR-10 VGG (:func:`utils.vgg.cifar_vgg`) in one command::

    CIFAR10_ROOT=/path/to/folder python -m utils.train_vgg --epochs 6 --out utils/params/vgg_cifar.pt

Reads the full CIFAR-10 training set (see :mod:`utils.cifar10`; the 2,000-image sample is
used when the full set is absent, which gives a much weaker model), trains with AdamW and
a one-cycle learning-rate schedule on random crops and horizontal flips, evaluates on the
test set and writes the weights plus a JSON file (accuracy, training time, seed, settings)
next to them.  Seeds, the data order and the thread count are fixed, so that the same
command on the same machine gives the same weights.  One thread is the default: on a
small shared machine two threads mostly wait for each other (measured 4× slower per batch
on the course's 2-core build machine under load).

Training runs on :func:`utils.device` (the GPU when there is one; ``COURSE_DEVICE=cpu`` or
``--device cpu`` forces the CPU).  A GPU gives different weights than the CPU (other
kernels, other rounding); the shipped weights were trained on the CPU.
"""
import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from .cifar10 import load
from .device import device as default_device
from .vgg import CIFAR_CFG, CIFAR_WEIGHTS, cifar_vgg


def to_tensors(X: np.ndarray, T: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Course format (NHWC in [-1, 1], one-hot) → NCHW float tensor and integer labels.

    The CIFAR-10 VGG takes the course's [-1, 1] pixels as they are (its normalisation has
    mean 0.5 and std 0.5 on the [0, 1] scale)."""
    images = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))
    labels = torch.from_numpy(T.reshape(len(T), -1).argmax(axis=1))
    return images, labels


def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and random 32×32 crops of the image padded by 4 pixels."""
    n = len(batch)
    flip = torch.rand(n, generator=generator) < 0.5
    batch = torch.where(flip[:, None, None, None], batch.flip(3), batch)
    padded = torch.nn.functional.pad(batch, (4, 4, 4, 4), value=-1.0)  # pad with black
    dx, dy = torch.randint(0, 9, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(32))[:, None, :, None].expand(n, 3, 32, 32)
    cols = (dx[:, None] + torch.arange(32))[:, None, None, :].expand(n, 3, 32, 32)
    return padded[torch.arange(n)[:, None, None, None], torch.arange(3)[None, :, None, None], rows, cols]


@torch.no_grad()
def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 500) -> float:
    model.eval()
    where = next(model.parameters()).device
    correct = sum(int((model(images[i:i + batch].to(where)).argmax(1).cpu() == labels[i:i + batch]).sum())
                  for i in range(0, len(images), batch))
    return correct / len(images)


def train(epochs: int = 6, batch_size: int = 128, lr: float = 3e-3, seed: int = 0, threads: int = 1, log=print,
          device=None):
    """Train from scratch on ``device`` (default :func:`utils.device`); returns (model on
    the CPU, metrics)."""
    where = default_device() if device is None else torch.device(device)
    if where.type == "cuda":  # cuBLAS is deterministic only with a fixed workspace
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    train_images, train_labels = to_tensors(*load("train"))
    test_images, test_labels = to_tensors(*load("test"))
    model = cifar_vgg(seed=seed).to(where)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=5e-4)
    steps = epochs * ((len(train_images) + batch_size - 1) // batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps)
    generator = torch.Generator().manual_seed(seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(epochs):
        model.train()
        order = torch.randperm(len(train_images), generator=generator)
        total = 0.0
        for i in range(0, len(order), batch_size):
            index = order[i:i + batch_size]
            inputs = augment(train_images[index], generator).to(where)  # augmented on the CPU: same draws
            loss = torch.nn.functional.cross_entropy(model(inputs), train_labels[index].to(where))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += float(loss.detach()) * len(index)
        log(f"epoch {epoch + 1}/{epochs}: training loss {total / len(order):.3f}, "
            f"{time.perf_counter() - start:.0f} s")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    test_accuracy = accuracy(model, test_images, test_labels)
    log(f"test accuracy {100 * test_accuracy:.2f} % after {seconds:.0f} s")
    metrics = {
        "test_accuracy": test_accuracy,
        "test_images": len(test_images),
        "train_images": len(train_images),
        "training_seconds": round(seconds, 1),
        "training_cpu_seconds": round(cpu_seconds, 1),
        "seed": seed,
        "epochs": epochs,
        "batch_size": batch_size,
        "max_lr": lr,
        "threads": threads,
        "cfg": list(CIFAR_CFG),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "device": str(where) if where.type != "cuda" else f"{where} ({torch.cuda.get_device_name(where)})",
    }
    return model.cpu().eval(), metrics


def main(argv=None):
    parser = argparse.ArgumentParser(description="Train the course's CIFAR-10 VGG.")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: utils.device())")
    parser.add_argument("--out", type=Path, default=CIFAR_WEIGHTS)
    args = parser.parse_args(argv)
    model, metrics = train(args.epochs, args.batch_size, args.lr, args.seed, args.threads, device=args.device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    args.out.with_suffix(".json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {args.out} and {args.out.with_suffix('.json')}")


if __name__ == "__main__":
    main()
