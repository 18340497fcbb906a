"""A small NumPy framework for convolutional networks (sheet 2).

Layers work on batches in NHWC layout (images × height × width × channels) and in
float32.  Every layer has

* ``forward(X)``: the output for the input batch ``X``; the layer remembers ``X`` (as
  ``self.X``) for the backward pass;
* ``gradprop(DY)``: given ∂E/∂Y of the last forward pass, return ∂E/∂X (the chain rule
  through the layer); layers with parameters also remember ``DY`` for ``update``;
* ``update(lr)``: one gradient-descent step on the parameters (no-op without them).

A :class:`Network` chains layers and adds ``dump(folder)``, which stores the parameters
of its convolutions, one ``<name>.npz`` file per layer holding ``W`` and ``B``.

Convolutions are stride-1 cross-correlations without padding (as ``torch.nn.Conv2d``):
``Y[n, i, j, o] = Σ_{a, b, c} X[n, i + a, j + b, c] · W[a, b, c, o] + B[o]``.  They are
computed by gathering every receptive field into a matrix column ("im2col", a strided view
copied once) and one matrix product (BLAS); the input gradient scatters the columns back
with one vectorised addition per kernel offset.  There are no Python loops over images
or pixels.

Memory layout
-------------
Arrays have NHWC *shape* everywhere, but the arrays the layers return are views of
(C, H, W, N) memory, the image index fastest (the layout of cuda-convnet).  Indexing,
arithmetic and ``numpy.asarray`` see an ordinary NHWC array; only the speed differs: in
this layout every receptive field is a run of contiguous numbers across the images, so
im2col and its adjoint copy long runs, and one layer's output is the next convolution's
input without a copy.  ``numpy.ascontiguousarray`` gives an NHWC copy where one is needed.

Threads
-------
The matrix products run in NumPy's BLAS, which uses several cores.  The passes around
them (im2col and its adjoint, the ReLU, the pooling) are split by channel over a small
pool of threads when the arrays are large (:data:`PARALLEL_MIN_SIZE`: batches of
hundreds of images), since NumPy releases the interpreter lock while it copies and
computes; sheet 2's minibatches are too small for a thread to pay its way.  Each
thread works on its own channels, so the results are the same, bit for bit, for every
thread count.  im2col and its adjoint split by rows of the image instead when that
shares the work more evenly (the first layer's three channels would keep all but three
threads idle, and split unevenly over two); each element still sees the same additions
in the same order.  The count follows ``OPENBLAS_NUM_THREADS`` (or ``OMP_NUM_THREADS``)
and defaults to the cores this process may use; :func:`set_threads` changes it.

Where parameters come from
--------------------------
``Convolution("cnn/c1-5x5x3x10")`` loads ``cnn/c1-5x5x3x10.npz``, relative to the
current folder (the notebook's folder).  When that file does not exist, it loads the file
of the same name from the parameters that ship with the course,
``utils/params/sheet2_cnn/`` (trained for 10,000 iterations on CIFAR-10), and says so.
The name ends with the weight shape (height × width × in × out), which is checked against
the file.  :func:`trained_params` picks a whole folder at once: the students' own when it
holds all four layers of sheet 2, the shipped one otherwise.
"""
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

#: The folder of the parameters that ship with the course.
SHIPPED = Path(__file__).parent / "params" / "sheet2_cnn"

#: File names (without ``.npz``) of the four convolutions of sheet 2's network.
SHEET2_LAYERS = ("c1-5x5x3x10", "c2-5x5x10x50", "c3-4x4x50x250", "c4-1x1x250x10")

_NAME = re.compile(r"(\d+)x(\d+)x(\d+)x(\d+)$")


def shape_from_name(name) -> tuple[int, int, int, int]:
    """The weight shape encoded at the end of a parameter name, e.g. ``c2-5x5x10x50``."""
    match = _NAME.search(Path(name).name)
    if match is None:
        raise ValueError(
            f"cannot read a weight shape from the parameter name {str(name)!r}: "
            "expected a name ending in HxWxINxOUT, such as 'cnn/c1-5x5x3x10'"
        )
    return tuple(int(k) for k in match.groups())


def params_file(name) -> Path:
    """The file a parameter name refers to: ``<name>.npz`` if it exists, else the shipped one."""
    local = Path(f"{name}.npz")
    if local.is_file():
        return local
    shipped = SHIPPED / f"{Path(name).name}.npz"
    if shipped.is_file():
        print(f"{local} not found: using the course's trained parameters {shipped.name}")
        return shipped
    raise FileNotFoundError(
        f"no parameters for {str(name)!r}: neither {local.resolve()} nor {shipped} exists. "
        "Train the network and call dump(), or check the name."
    )


def trained_params(folder="cnn") -> Path:
    """``folder`` when it holds all four layers of sheet 2's network, else the shipped folder."""
    folder = Path(folder)
    if all((folder / f"{name}.npz").is_file() for name in SHEET2_LAYERS):
        print(f"Using your own parameters from {folder}/")
        return folder
    print(f"{folder}/ does not hold all four layers: using the course's trained parameters")
    return SHIPPED


def _default_threads() -> int:
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_threads = _default_threads()
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
#: Arrays smaller than this (in elements, 8 MB of float32) are handled by one thread.
#: Handing work to another thread and waiting for it took about 70 µs on a two-core
#: machine, and the BLAS threads, which keep spinning for a while after a product, compete
#: with the pool: in sheet 2's training step (minibatches of 25, every pass below 1.5
#: million elements) splitting the passes made a step 12 % slower on two cores, with one
#: or two BLAS threads.  Passes over thousands of images still gain.  Larger arrays get
#: one thread per half of this, up to the thread count, so that many cores do not each
#: receive a sliver.
PARALLEL_MIN_SIZE = 1 << 21


def set_threads(count: int | None = None) -> int:
    """Use ``count`` threads for the passes around the matrix products (``None``: the
    default, see the module docstring); returns the count now in use.  It does not change
    NumPy's BLAS, whose threads are set by ``OPENBLAS_NUM_THREADS`` before NumPy starts."""
    global _threads, _pool
    count = _default_threads() if count is None else int(count)
    if count < 1:
        raise ValueError(f"the thread count must be at least 1, got {count}")
    with _pool_lock:
        if _pool is not None and count != _threads:
            _pool.shutdown(wait=True)
            _pool = None
        _threads = count
    return _threads


def get_threads() -> int:
    """The number of threads of the passes around the matrix products."""
    return _threads


def _in_parallel(work, parts: int, size: int):
    """Run ``work(k, parts)`` for k = 0 … parts − 1, at most :func:`get_threads` at a time;
    one thread when ``size`` (the elements touched) is small, and no more threads than
    ``size`` has halves of :data:`PARALLEL_MIN_SIZE`.  ``work`` must touch
    disjoint memory for different ``k``."""
    global _pool
    threads = min(_threads, parts, 2 * size // max(PARALLEL_MIN_SIZE, 1))
    if threads <= 1 or size < PARALLEL_MIN_SIZE:
        work(0, 1)
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_threads, thread_name_prefix="modules")
        pool = _pool
    futures = [pool.submit(work, k, threads) for k in range(1, threads)]
    work(0, threads)  # the calling thread takes the first share
    for future in futures:
        future.result()


def _share(length: int, k: int, parts: int) -> slice:
    """The k-th of ``parts`` nearly equal contiguous pieces of ``range(length)``."""
    return slice(k * length // parts, (k + 1) * length // parts)


def _split_channels(channels: int, rows: int) -> bool:
    """Whether im2col and its adjoint should split their work by channel rather than by
    row: the axis whose largest share is the smaller fraction of the whole (the first
    layer has three channels, which two or more threads would share unevenly or not at all)."""
    threads = max(_threads, 1)
    return -(-channels // threads) * rows <= -(-rows // threads) * channels


def _as_batch(X, name="X") -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim != 4:
        raise ValueError(f"{name} should be a batch of shape (N, H, W, C), got shape {X.shape}")
    return X


def _planes(X: np.ndarray) -> np.ndarray:
    """``X`` (N, H, W, C) as a C-contiguous (C, H, W, N) array; no copy when it already is one in memory."""
    planes = np.transpose(X, (3, 1, 2, 0))
    if planes.flags.c_contiguous:
        return planes
    # a copy (the network's input, in NHWC memory), split by channel or by row like im2col
    copy = np.empty(planes.shape, dtype=planes.dtype)
    C, H = planes.shape[:2]
    if _split_channels(C, H):
        def transpose(k, parts):
            copy[_share(C, k, parts)] = planes[_share(C, k, parts)]

        _in_parallel(transpose, C, copy.size)
    else:
        def transpose(k, parts):
            copy[:, _share(H, k, parts)] = planes[:, _share(H, k, parts)]

        _in_parallel(transpose, H, copy.size)
    return copy


def _from_planes(planes: np.ndarray) -> np.ndarray:
    """The (N, H, W, C) view of a (C, H, W, N) array."""
    return np.transpose(planes, (3, 1, 2, 0))


def receptive_fields(X: np.ndarray, h: int, w: int) -> np.ndarray:
    """im2col, transposed: every h×w window of ``X`` (N, H, W, C) as a column.

    Returns a matrix of shape (h·w·C, H'·W'·N) whose rows are ordered like
    ``W.reshape(h * w * C, -1)`` for a weight (h, w, C, out) and whose columns are the
    output positions, image index fastest.  It is copied once from a strided view of the
    (C, H, W, N) layout, in which every run of W'·N numbers is contiguous.
    """
    planes = _planes(X)
    C, H, W_, N = planes.shape
    Ho, Wo = H - h + 1, W_ - w + 1
    sC, sH, sW, sN = planes.strides
    view = np.lib.stride_tricks.as_strided(
        planes, shape=(h, w, C, Ho, Wo, N), strides=(sH, sW, sC, sH, sW, sN), writeable=False
    )
    fields = np.empty((h, w, C, Ho, Wo, N), dtype=planes.dtype)

    if _split_channels(C, Ho):
        def copy(k, parts):  # the threads split the channels
            channels = _share(C, k, parts)
            fields[:, :, channels] = view[:, :, channels]

        _in_parallel(copy, C, fields.size)
    else:
        def copy(k, parts):  # the threads split the output rows
            rows = _share(Ho, k, parts)
            fields[:, :, :, rows] = view[:, :, :, rows]

        _in_parallel(copy, Ho, fields.size)
    return fields.reshape(h * w * C, Ho * Wo * N)


def scatter_fields(columns: np.ndarray) -> np.ndarray:
    """The adjoint of :func:`receptive_fields` (col2im): add every column back onto its window.

    ``columns`` has shape (h, w, C, H', W', N); the result has shape (N, H, W, C), with
    H = H' + h − 1 and W = W' + w − 1, and the (C, H, W, N) memory layout.
    One vectorised addition per kernel offset (a, b), over contiguous runs of W'·N numbers.
    """
    h, w, C, Ho, Wo, N = columns.shape
    planes = np.zeros((C, Ho + h - 1, Wo + w - 1, N), dtype=columns.dtype)

    if _split_channels(C, Ho + h - 1):
        def add(k, parts):  # the threads split the channels; each adds in the same order
            channels = _share(C, k, parts)
            for a in range(h):
                for b in range(w):
                    planes[channels, a:a + Ho, b:b + Wo] += columns[a, b, channels]

        _in_parallel(add, C, columns.size)
    else:
        def add(k, parts):  # the threads split the rows of the result; the same order of additions
            rows = _share(Ho + h - 1, k, parts)
            for a in range(h):
                # the rows i of the columns that land in the share: rows.start <= i + a < rows.stop
                first, last = max(rows.start - a, 0), min(rows.stop - a, Ho)
                if first >= last:
                    continue
                for b in range(w):
                    planes[:, first + a:last + a, b:b + Wo] += columns[a, b, :, first:last]

        _in_parallel(add, Ho + h - 1, columns.size)
    return _from_planes(planes)


_zero_buffer = np.zeros(0, dtype=np.float32)


def _zeros(size: int) -> np.ndarray:
    """A read-only run of at least ``size`` float32 zeros, shared and grown as needed."""
    global _zero_buffer
    buffer = _zero_buffer
    if buffer.size < size:
        buffer = np.zeros(size, dtype=np.float32)
        buffer.flags.writeable = False
        _zero_buffer = buffer
    return buffer


class Layer:
    """Base class: the identity, without parameters."""

    def forward(self, X):
        self.X = X
        return X

    def gradprop(self, DY):
        return DY

    def update(self, lr):
        pass


class Network:
    """A sequence of layers; the output of each is the input of the next."""

    def __init__(self, layers):
        self.layers = list(layers)

    def forward(self, X):
        X = _as_batch(X)
        for layer in self.layers:
            X = layer.forward(X)
        return X

    def gradprop(self, DY):
        DY = _as_batch(DY, "DY")
        for layer in self.layers[::-1]:
            DY = layer.gradprop(DY)
        return DY

    def update(self, lr):
        for layer in self.layers:
            layer.update(lr)

    def dump(self, folder="cnn"):
        """Store the convolutions' parameters as ``folder/<name>.npz`` (see the module docstring).

        Convolutions built from a shape are named ``c<k>-HxWxINxOUT``, ``k`` counting the
        convolutions from 1, which gives the names sheet 2 loads.
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        convolutions = [layer for layer in self.layers if isinstance(layer, Convolution)]
        for k, layer in enumerate(convolutions, start=1):
            layer.save(folder / f"{layer.filename(k)}.npz")


class ReLU(Layer):
    """max(0, x) element-wise."""

    def forward(self, X):
        self.X = X
        Y = np.empty_like(X, dtype=np.float32)  # the memory layout of X
        # max(x, 0) against an array of zeros laid out like Y: NumPy's maximum runs several
        # times faster on two arrays than on an array and a scalar (same numbers)
        zeros = np.lib.stride_tricks.as_strided(_zeros(Y.size), shape=Y.shape, strides=Y.strides, writeable=False)

        def relu(k, parts):  # the threads split the channels
            channels = _share(X.shape[-1], k, parts)
            np.maximum(X[..., channels], zeros[..., channels], out=Y[..., channels], dtype=np.float32)

        _in_parallel(relu, X.shape[-1], X.size)
        return Y

    def gradprop(self, DY):
        X, DY = self.X, np.asarray(DY)
        DX = np.empty_like(X, dtype=np.result_type(DY, np.float32))

        def mask(k, parts):
            channels = _share(X.shape[-1], k, parts)
            np.multiply(DY[..., channels], X[..., channels] > 0, out=DX[..., channels])

        _in_parallel(mask, X.shape[-1], X.size)
        return DX


class Pooling(Layer):
    """Sum over non-overlapping 2×2 windows; height and width must be even."""

    def forward(self, X):
        self.X = X
        N, H, W, C = X.shape
        if H % 2 or W % 2:
            raise ValueError(f"2×2 sum-pooling needs an even height and width, got an input of shape {X.shape}")
        # splitting an axis is a view whatever the memory layout, and two additions of
        # strided halves are far faster than a reduction over two inner axes
        windows = X.reshape(N, H // 2, 2, W // 2, 2, C)
        Y = np.empty_like(windows[:, :, 0, :, 0], dtype=np.result_type(X, np.float32))

        def pool(k, parts):  # the threads split the channels
            channels = _share(C, k, parts)
            pairs = windows[:, :, 0, ..., channels] + windows[:, :, 1, ..., channels]
            np.add(pairs[:, :, :, 0], pairs[:, :, :, 1], out=Y[..., channels])

        _in_parallel(pool, C, X.size)
        return Y

    def gradprop(self, DY):
        # every input of a window receives the gradient of the window's sum
        N, H, W, C = self.X.shape
        DY = np.asarray(DY)
        DX = np.empty_like(self.X, dtype=np.result_type(DY, np.float32))
        windows = DX.reshape(N, H // 2, 2, W // 2, 2, C)

        def spread(k, parts):  # the threads split the channels
            channels = _share(C, k, parts)
            # plain strided copies: broadcasting over the axes of length 2 is several times slower
            windows[:, :, 0, :, 0, channels] = DY[..., channels]
            windows[:, :, 0, :, 1, channels] = DY[..., channels]
            windows[:, :, 1, ..., channels] = windows[:, :, 0, ..., channels]

        _in_parallel(spread, C, DX.size)
        return DX


class Convolution(Layer):
    """A stride-1 convolution without padding (a cross-correlation, as in PyTorch).

    ``Convolution("cnn/c1-5x5x3x10")`` loads stored parameters (see the module
    docstring); ``Convolution((5, 5, 3, 10))`` starts from random weights drawn from
    N(0, 1/fan_in) with fan_in = 5·5·3 and zero biases; ``init="zeros"`` starts from
    all-zero weights.  ``W`` has shape (height, width, in, out) and ``B`` shape (out,).
    """

    def __init__(self, spec, init="normal", rng=None):
        if isinstance(spec, (str, Path)):
            self.name = Path(spec).name
            shape = shape_from_name(spec)
            with np.load(params_file(spec)) as stored:
                self.W = np.array(stored["W"], dtype=np.float32)
                self.B = np.array(stored["B"], dtype=np.float32)
            if self.W.shape != shape or self.B.shape != (shape[-1],):
                raise ValueError(
                    f"the parameters of {str(spec)!r} have shapes W{self.W.shape} and B{self.B.shape}; "
                    f"the name promises W{shape} and B({shape[-1]},)"
                )
            return
        shape = tuple(int(k) for k in spec)
        if len(shape) != 4 or min(shape) < 1:
            raise ValueError(f"a convolution needs a weight shape (height, width, in, out), got {spec!r}")
        self.name = None
        if init == "zeros":
            self.W = np.zeros(shape, dtype=np.float32)
        elif init == "normal":
            rng = np.random.default_rng() if rng is None else rng
            fan_in = shape[0] * shape[1] * shape[2]
            self.W = (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)
        else:
            raise ValueError(f"init should be 'normal' or 'zeros', got {init!r}")
        self.B = np.zeros(shape[-1], dtype=np.float32)

    def filename(self, k: int) -> str:
        """The name of this layer's parameter file, ``k`` its rank among the convolutions."""
        return self.name or "c%d-%dx%dx%dx%d" % ((k,) + self.W.shape)

    def save(self, path):
        np.savez(path, W=np.asarray(self.W, dtype=np.float32), B=np.asarray(self.B, dtype=np.float32))

    def forward(self, X):
        self.X = X = _as_batch(X)
        h, w, cin, cout = self.W.shape
        N, H, W_, C = X.shape
        if C != cin or H < h or W_ < w:
            raise ValueError(f"a {h}×{w}×{cin}×{cout} convolution cannot take an input of shape {X.shape}")
        self._fields = receptive_fields(X, h, w)
        # (C, H, W, N) memory (see the module docstring): no copy here, and none in the
        # next convolution's receptive_fields
        Y = self.W.reshape(h * w * cin, cout).T @ self._fields
        Y += self.B[:, None]  # one pass of tens of microseconds: handing it to threads costs more
        return _from_planes(Y.reshape(cout, H - h + 1, W_ - w + 1, N))

    def gradprop(self, DY):
        DY = _as_batch(DY, "DY")
        h, w, cin, cout = self.W.shape
        N, Ho, Wo, _ = DY.shape
        self._DY = _planes(DY).reshape(cout, Ho * Wo * N)
        # ∂E/∂(every receptive field), then each field's entries go back to their pixels
        dfields = self.W.reshape(h * w * cin, cout) @ self._DY
        return scatter_fields(dfields.reshape(h, w, cin, Ho, Wo, N))

    def update(self, lr):
        h, w, cin, cout = self.W.shape
        fields = self._fields
        if fields.shape[1] != self._DY.shape[1]:  # DY does not belong to the last forward pass
            fields = receptive_fields(self.X, h, w)
        self.W -= np.float32(lr) * (fields @ self._DY.T).reshape(self.W.shape)
        self.B -= np.float32(lr) * (self._DY @ np.ones(self._DY.shape[1], dtype=np.float32))  # Σ over positions, by BLAS
