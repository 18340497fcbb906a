"""Challenge inputs: drawn per (student, sheet, test) from a seed nobody can predict.

The seed of a test is derived from the course secret, the student, the sheet and the
test (SHA-256), so the same submission always meets the same inputs (and gets the same
grade), while outputs cannot be computed in advance from a published seed.  The
instructor's own runs (the solution notebook, the mutants) use the fixed secret
``INSTRUCTOR_SECRET``.

The checker never reads challenges back from the job folder (the kernel could have
written there): it draws them again from the seed.
"""
from __future__ import annotations

import hashlib
import io
import os
import secrets
from pathlib import Path

import numpy as np

INSTRUCTOR_SECRET = b"instructor"
SECRET_BYTES = 32


def seed(secret: bytes, student: str, sheet: str, test: str) -> int:
    digest = hashlib.sha256(b"\0".join([secret, student.encode(), sheet.encode(), test.encode()])).digest()
    return int.from_bytes(digest[:16], "big")


def draw(challenges_module, test: str, seed_value: int) -> dict:
    """The challenge of ``test``: named arrays from the sheet's drawing function."""
    drawn = getattr(challenges_module, test)(np.random.default_rng(seed_value))
    return {name: np.asarray(value) for name, value in drawn.items()}


def encode(challenge: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **challenge)
    return buffer.getvalue()


def load_secret(path: Path) -> bytes:
    """The course secret in ``path``, created (32 random bytes, mode 0600) on first use."""
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(secrets.token_bytes(SECRET_BYTES))
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(descriptor, "rb") as stream:
        secret = stream.read(4096)
    if len(secret) < 16:
        raise ValueError(f"the course secret in {path} is shorter than 16 bytes")
    return secret
