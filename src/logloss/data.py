"""Datasets: vendored genuine subsets, and loaders for full copies the user provides.

Vendored (in ``logloss/_datasets``, with licence notices beside them):

* the first 10⁴ MNIST training images in the official order (CC BY-SA 3.0);
* the first 10⁴ Fashion-MNIST training images (MIT, © 2017 Zalando SE).

Full datasets are read from a data directory given as an argument or by the
environment variable ``LOGLOSS_DATA``: MNIST and Fashion-MNIST in the standard IDX
format, CIFAR-10 in the ``cifar-10-batches-py`` format.  Nothing is ever downloaded, and
a missing dataset is an error, never a silent substitute.
"""

from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .core.errors import CorruptFile, DatasetMissingError

__all__ = [
    "Dataset",
    "DatasetMissingError",
    "mnist_even_odd",
    "fashion_mnist",
    "load_idx",
    "load_cifar10",
    "cifar10",
    "data_dir",
    "USER_DATASETS",
    "dataset_missing",
]

DATA_ENV = "LOGLOSS_DATA"
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
#: The datasets read from the user's data directory, and where each lives in it.
USER_DATASETS = {
    "CIFAR-10": f"cifar-10-batches-py/data_batch_1 … 5, the official Python batches from {CIFAR_URL}",
    "Fashion-MNIST": "fashion-mnist/train-images-idx3-ubyte and train-labels-idx1-ubyte, the "
                     "full 60,000 training images, IDX, .gz allowed",
}


@dataclass(frozen=True)
class Dataset:
    """Inputs and targets as float32 tensors.

    Attributes
    ----------
    x : Tensor, shape (N, ...)
        Inputs, pixels scaled to [0, 1].
    y : Tensor, shape (N,) or (N, K)
        Targets: ±1 for a scalar output, one-hot for K classes.
    name : str
        Human-readable provenance shown in captions.
    """

    x: torch.Tensor
    y: torch.Tensor
    name: str

    @property
    def N(self) -> int:
        """Number of samples N."""
        return int(self.x.shape[0])

    def flat(self) -> Dataset:
        """The same data with each input flattened to a vector."""
        return Dataset(self.x.reshape(self.N, -1), self.y, self.name)


def _vendored(name: str) -> dict[str, np.ndarray]:
    with resources.files("logloss._datasets").joinpath(name).open("rb") as fh:
        with np.load(fh) as npz:
            return {k: npz[k] for k in npz.files}


def _check_n(n: int, available: int, what: str) -> None:
    if int(n) != n or not 1 <= n <= available:
        raise ValueError(f"number of samples N must be in 1..{available} for {what}, got {n!r}")


def mnist_even_odd(n: int = 10_000) -> Dataset:
    """The first ``n`` MNIST training images with label +1 for even digits, −1 for odd.

    This is the paper's dataset for Figs. 1, 3(c) and 6 (official order, n ≤ 10⁴).
    """
    _check_n(n, 10_000, "the vendored MNIST subset")
    raw = _vendored("mnist_train_first10k.npz")
    x = torch.from_numpy(raw["images"][:n].astype(np.float32) / 255.0).reshape(n, -1)
    y = torch.from_numpy(np.where(raw["digits"][:n] % 2 == 0, 1.0, -1.0).astype(np.float32))
    return Dataset(x, y, f"MNIST (first {n} training images, even/odd labels)")


def fashion_mnist(n: int = 10_000, *, root: str | Path | None = None) -> Dataset:
    """Fashion-MNIST training images with one-hot labels.

    Parameters
    ----------
    n : int
        Number of samples from the start of the official training set.  Up to 10⁴ come
        from the vendored subset; more need the full IDX files in the data directory.
    root : path, optional
        Directory with ``fashion-mnist/train-images-idx3-ubyte(.gz)`` and the labels.
    """
    if n <= 10_000 and root is None:
        _check_n(n, 10_000, "the vendored Fashion-MNIST subset")
        raw = _vendored("fashion_mnist_train_first10k.npz")
        images, labels = raw["images"][:n], raw["labels"][:n]
        name = f"Fashion-MNIST (first {n} training images)"
    else:
        folder = data_dir(root) / "fashion-mnist"
        images = load_idx(_find(folder, "train-images-idx3-ubyte", "Fashion-MNIST"))
        labels = load_idx(_find(folder, "train-labels-idx1-ubyte", "Fashion-MNIST"))
        _check_n(n, len(labels), f"Fashion-MNIST in {folder}")
        images, labels = images[:n], labels[:n]
        name = f"Fashion-MNIST (first {n} training images, {folder})"
    x = torch.from_numpy(images.astype(np.float32) / 255.0).reshape(n, -1)
    y = torch.nn.functional.one_hot(torch.from_numpy(labels.astype(np.int64)), 10).float()
    return Dataset(x, y, name)


def cifar10(n: int = 50_000, *, root: str | Path | None = None) -> Dataset:
    """CIFAR-10 training images (N, 3, 32, 32) with one-hot labels, from the user's data dir."""
    images, labels = load_cifar10(data_dir(root) / "cifar-10-batches-py")
    _check_n(n, len(labels), "CIFAR-10")
    x = torch.from_numpy(images[:n].astype(np.float32) / 255.0)
    y = torch.nn.functional.one_hot(torch.from_numpy(labels[:n].astype(np.int64)), 10).float()
    return Dataset(x, y, f"CIFAR-10 (first {n} training images)")


def data_dir(root: str | Path | None = None) -> Path:
    """The user's data directory: ``root``, else ``$LOGLOSS_DATA``."""
    chosen = root if root is not None else os.environ.get(DATA_ENV)
    if not chosen:
        raise DatasetMissingError(
            f"no data directory: pass root=... or set ${DATA_ENV} to a folder holding the dataset"
        )
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DatasetMissingError(f"data directory {path} does not exist")
    return path


def _find(folder: Path, stem: str, what: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DatasetMissingError(
        f"{what} file {stem}(.gz) not found in {folder}; copy the official IDX files there"
    )


def _cifar_batches(folder: Path) -> list[Path]:
    """The five training batch files of ``cifar-10-batches-py``; a one-line error if any is absent."""
    files = [folder / f"data_batch_{i}" for i in range(1, 6)]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise DatasetMissingError(
            f"CIFAR-10 not found: {folder} lacks {', '.join(missing)}; download "
            f"cifar-10-python.tar.gz from {CIFAR_URL} and unpack it into the data directory"
        )
    return files


def dataset_missing(name: str, root: str | Path | None = None) -> str | None:
    """Why the user's dataset ``name`` (a key of :data:`USER_DATASETS`) cannot be read from
    the data directory (``root``, else ``$LOGLOSS_DATA``), in one line; None when its files
    are there (they are found, not yet read)."""
    if name not in USER_DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(USER_DATASETS)}")
    try:
        folder = data_dir(root)
        if name == "CIFAR-10":
            _cifar_batches(folder / "cifar-10-batches-py")
        else:
            for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
                _find(folder / "fashion-mnist", stem, "Fashion-MNIST")
    except DatasetMissingError as exc:
        return str(exc)
    return None


def load_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped), the format of MNIST and Fashion-MNIST."""
    path = Path(path)
    if not path.is_file():
        raise DatasetMissingError(f"IDX file {path} not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:  # a truncated or corrupt gzip stream
        raise CorruptFile(f"{path} cannot be read ({exc}); download the file again") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise CorruptFile(f"{path} is not an unsigned-byte IDX file; download the file again")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise CorruptFile(f"{path}: header says shape {shape} but holds {body.size} bytes "
                          "(truncated?); download the file again")
    return body.reshape(shape)


def load_cifar10(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read the five training batches of ``cifar-10-batches-py``.

    Returns
    -------
    images : ndarray of uint8, shape (N, 3, 32, 32)
    labels : ndarray of int64, shape (N,)
    """
    images, labels = [], []
    for f in _cifar_batches(Path(folder)):
        try:
            with open(f, "rb") as fh:
                batch = _BatchUnpickler(fh).load()
            images.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, OSError) as exc:
            raise CorruptFile(f"CIFAR-10 batch {f} cannot be read ({type(exc).__name__}: {exc}); "
                              f"unpack cifar-10-python.tar.gz from {CIFAR_URL} again") from None
    return np.concatenate(images), np.concatenate(labels)


class _BatchUnpickler(pickle.Unpickler):
    """Reads the CIFAR-10 batches, which are pickles by format, without running their code:
    only the numpy array reconstruction and plain containers are allowed (the "restricting
    globals" recipe of the :mod:`pickle` documentation)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("builtins", "bytes")}

    def __init__(self, fh):
        super().__init__(fh, encoding="bytes")

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"the batch asks for {module}.{name}, which a CIFAR-10 batch "
                                     "never contains")
