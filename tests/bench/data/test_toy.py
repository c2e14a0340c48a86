import numpy as np
import pytest
import torch

from bench.data.toy import SHAPES, ToyShapes


def test_images_are_deterministic_and_split_dependent():
    a, b = ToyShapes("train", 20), ToyShapes("train", 20)
    assert all(torch.equal(a[i][0], b[i][0]) for i in range(20))
    test = ToyShapes("test", 20)
    assert not torch.equal(a[3][0], test[3][0])
    assert not torch.equal(a[3][0], ToyShapes("train", 20, seed=1)[3][0])


def test_shapes_labels_and_captions():
    data = ToyShapes("train", 48)
    image, label = data[5]
    assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
    assert label == 5 % len(SHAPES) and len(SHAPES) >= 10
    caption = data.caption(5)
    assert SHAPES[label] in caption and caption.startswith("a ")
    labels = [data[i][1] for i in range(48)]
    assert np.bincount(labels).tolist() == [4] * len(SHAPES)


def test_64px_option_and_any_size():
    data = ToyShapes("reference", 10**9, resolution=64)
    image, _ = data[10**9 - 1]  # no storage: the last of a billion images is drawn on demand
    assert image.shape == (3, 64, 64)
    with pytest.raises(ValueError):
        ToyShapes("train", 10, resolution=48)
    with pytest.raises(IndexError):
        ToyShapes("train", 10)[10]


def test_classes_differ_more_than_samples_within_a_class():
    """Position/scale/colour vary within a class, yet the class-mean shape masks differ."""
    data = ToyShapes("train", len(SHAPES) * 30)
    images, labels = data.batch(0, len(data))
    brightness = images.float().amax(dim=1)  # (N, H, W): the bright foreground
    means = torch.stack([brightness[labels == k].mean(0) for k in range(len(SHAPES))])
    assert torch.cdist(means.flatten(1), means.flatten(1)).fill_diagonal_(1e9).min() > 1.0
    assert images.float().std(dim=0).mean() > 20  # real variation across samples
