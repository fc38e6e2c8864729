"""Architectures of the paper: sizes, Glorot initialisation, determinism."""

import pytest
import torch

from logloss.models.nets import cnn, mlp


def test_mlp_parameter_counts():
    assert sum(p.numel() for p in mlp([784, 10, 1], seed=0).parameters()) == 7861
    assert sum(p.numel() for p in mlp([784, 100, 100, 1], seed=0).parameters()) == 88_701


def test_paper_cnn_shapes_and_count():
    net = cnn(seed=0)  # 3×[64,3,3,1], 3×[128,3,3,1], 3×[256,3,3,1] on 3×32×32
    convs = [m for m in net if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64] * 3 + [128] * 3 + [256] * 3
    assert all(c.kernel_size == (3, 3) and c.stride == (1, 1) for c in convs)
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in net) == 3
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    expected = sum(9 * i * o + o for i, o in zip([3, 64, 64, 64, 128, 128, 128, 256, 256],
                                                 [64] * 3 + [128] * 3 + [256] * 3))
    expected += 256 * 4 * 4 * 10 + 10
    assert sum(p.numel() for p in net.parameters()) == expected


def test_small_cnn_on_fashion_mnist_shape():
    net = cnn((4, 8, 8), seed=0, convs_per_stack=1, in_channels=1, image_size=28)
    assert net(torch.zeros(5, 1, 28, 28)).shape == (5, 10)


def test_glorot_and_seed():
    a, b = cnn((4, 8), seed=3, in_channels=1, image_size=8), cnn((4, 8), seed=3, in_channels=1, image_size=8)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    conv = a[0]
    bound = (6 / (conv.in_channels * 9 + conv.out_channels * 9)) ** 0.5
    assert conv.weight.abs().max() <= bound and torch.all(conv.bias == 0)


def test_bad_widths():
    with pytest.raises(ValueError):
        cnn((), seed=0)
    with pytest.raises(ValueError):
        cnn((4, 4, 4, 4, 4, 4), seed=0, image_size=28)
