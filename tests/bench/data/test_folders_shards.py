import numpy as np
import pytest
import torch
from PIL import Image

from bench.data.folders import ImageFolder
from bench.data.shards import WebDatasetShards, write_shards
from bench.data.toy import ToyShapes
from bench.errors import BadImagesError


def _save(path, array, mode=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode=mode).save(path)


def test_folder_with_class_subfolders(tmp_path):
    data = ToyShapes("test", 6)
    for i in range(6):
        _save(tmp_path / f"class{i % 2}" / f"{i}.png", data.image(i))
    folder = ImageFolder(tmp_path, resolution=32)
    image, label = folder[0]
    assert len(folder) == 6 and image.dtype == torch.uint8 and image.shape == (3, 32, 32)
    assert torch.equal(image, data[0][0]) and label == 0
    assert sorted({folder[i][1] for i in range(6)}) == [0, 1]


@pytest.mark.parametrize(
    "array, mode, message",
    [(np.zeros((32, 32), np.uint8), "L", "mode 'L'"),
     (np.zeros((32, 32, 4), np.uint8), "RGBA", "mode 'RGBA'"),
     (np.zeros((16, 16, 3), np.uint8), None, "16x16, expected 32x32")],
)
def test_folder_rejects_wrong_shape_or_dtype(tmp_path, array, mode, message):
    _save(tmp_path / "bad.png", array, mode)
    with pytest.raises(BadImagesError, match=message) as caught:
        ImageFolder(tmp_path, resolution=32)[0]
    assert "bad.png" in str(caught.value) and caught.value.hint


def test_sixteen_bit_images_are_rejected(tmp_path):
    Image.fromarray(np.zeros((32, 32), np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(BadImagesError, match="expected 8-bit 'RGB'"):
        ImageFolder(tmp_path)[0]


def test_webdataset_round_trip_in_open_muse_layout(tmp_path):
    data = ToyShapes("test", 25)
    images = np.stack([data.image(i) for i in range(25)])
    labels = np.array([data[i][1] for i in range(25)])
    shards = write_shards(str(tmp_path / "toy-%06d.tar"), images, labels, max_count=10)
    assert len(shards) == 3
    read = list(WebDatasetShards(shards, resolution=32))
    assert len(read) == 25
    assert all(torch.equal(img, data[i][0]) and lbl == labels[i] for i, (img, lbl) in enumerate(read))
    with pytest.raises(BadImagesError, match="expected 64px"):
        next(iter(WebDatasetShards(shards, resolution=64)))
