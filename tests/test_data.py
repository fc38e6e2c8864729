"""Datasets: vendored genuine subsets, IDX and CIFAR-10 loaders, missing-data errors."""

import gzip
import pickle

import numpy as np
import pytest
import torch

from logloss.data import (
    DatasetMissingError,
    cifar10,
    fashion_mnist,
    load_cifar10,
    load_idx,
    mnist_even_odd,
)


def test_mnist_even_odd_is_the_official_first_10k():
    data = mnist_even_odd()
    assert data.x.shape == (10_000, 784) and data.y.shape == (10_000,)
    # The official training set starts 5, 0, 4, 1, 9, 2, 1, 3, 1, 4.
    expected = torch.tensor([-1, 1, 1, -1, -1, 1, -1, -1, -1, 1], dtype=torch.float32)
    assert torch.equal(data.y[:10], expected)
    assert 0.0 <= data.x.min() and data.x.max() == 1.0
    assert mnist_even_odd(100).N == 100


def test_fashion_mnist_is_one_hot():
    data = fashion_mnist(50)
    assert data.y.shape == (50, 10)
    assert torch.all(data.y.sum(dim=1) == 1)
    assert data.y[0].argmax() == 9  # the official first label is 9 (ankle boot)


def test_too_many_vendored_samples_is_a_value_error():
    with pytest.raises(ValueError, match="number of samples N"):
        mnist_even_odd(10_001)


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_idx_roundtrip_and_full_fashion_from_data_dir(tmp_path, monkeypatch):
    images = np.random.default_rng(0).integers(0, 256, (12, 28, 28))
    labels = np.arange(12) % 10
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    _write_idx(folder / "train-images-idx3-ubyte.gz", images)
    _write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    np.testing.assert_array_equal(load_idx(folder / "train-images-idx3-ubyte.gz"), images)
    monkeypatch.setenv("LOGLOSS_DATA", str(tmp_path))
    data = fashion_mnist(12, root=tmp_path)
    assert data.y.argmax(dim=1).tolist() == labels.tolist()


def test_cifar10_loader_on_a_synthetic_fixture_in_the_real_format(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(1, 6):
        batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                 b"labels": [int(v) for v in rng.integers(0, 10, 4)],
                 b"batch_label": f"training batch {i} of 5".encode()}
        with open(folder / f"data_batch_{i}", "wb") as fh:
            pickle.dump(batch, fh)
    images, labels = load_cifar10(folder)
    assert images.shape == (20, 3, 32, 32) and labels.shape == (20,)
    data = cifar10(20, root=tmp_path)
    assert data.x.shape == (20, 3, 32, 32) and data.y.shape == (20, 10)


def test_missing_data_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("LOGLOSS_DATA", raising=False)
    with pytest.raises(DatasetMissingError, match="LOGLOSS_DATA"):
        cifar10()
    with pytest.raises(DatasetMissingError, match="CIFAR-10 not found"):
        cifar10(root=tmp_path)
    with pytest.raises(DatasetMissingError, match="Fashion-MNIST file"):
        fashion_mnist(20_000, root=tmp_path)


def test_corrupt_gzip_idx_and_cifar_batches_are_clear_errors(tmp_path):
    import gzip
    import pickle

    from logloss.core.errors import CorruptFile
    from logloss.data import load_cifar10, load_idx

    good = tmp_path / "x-idx1-ubyte.gz"
    with gzip.open(good, "wb") as fh:
        fh.write(bytes([0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3]))
    assert list(load_idx(good)) == [1, 2, 3]
    bad = tmp_path / "bad-idx1-ubyte.gz"
    bad.write_bytes(good.read_bytes()[:-6])  # truncated gzip stream
    with pytest.raises(CorruptFile, match="download the file again"):
        load_idx(bad)
    folder = tmp_path / "cifar"
    folder.mkdir()

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "marker"), "w"))

    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps({b"data": Payload(), b"labels": [0]}))
    with pytest.raises(CorruptFile, match="cannot be read"):
        load_cifar10(folder)
    assert not (tmp_path / "marker").exists()  # the batch's code never ran
    (folder / "data_batch_1").write_bytes(b"\x80\x04garbage")
    with pytest.raises(CorruptFile):
        load_cifar10(folder)
