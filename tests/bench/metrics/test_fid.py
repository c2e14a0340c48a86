"""FID exactness: the eigh route against scipy's sqrtm, and our whole path against
torch-fidelity's calculate_metrics and clean-fid's custom_feat_extractor on the same images."""

import numpy as np
import pytest
import scipy.linalg
import torch

from bench.data.toy import ToyShapes
from bench.metrics.features import ToyFeatureNet, extract
from bench.metrics.fid import fid_from_features, frechet_distance, statistics


def sqrtm_fid(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)


@pytest.mark.parametrize("num_samples", [2000, 40])  # 40 < 64 dims: rank-deficient covariances
def test_eigh_route_matches_sqrtm(num_samples):
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(64, 64))
    a = rng.normal(size=(num_samples, 64)) @ mixing
    b = rng.normal(size=(num_samples, 64)) @ (mixing + 0.3 * rng.normal(size=(64, 64))) + 0.5
    ours = fid_from_features(a, b)
    reference = sqrtm_fid(*statistics(a), *statistics(b))
    assert ours == pytest.approx(reference, rel=1e-6)


def test_fid_of_identical_statistics_is_zero_and_shapes_are_checked():
    mu, sigma = np.zeros(3), np.eye(3)
    assert frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-12)
    assert frechet_distance(mu, sigma, mu + 2, sigma) == pytest.approx(12.0)
    with pytest.raises(ValueError):
        frechet_distance(mu, sigma, np.zeros(4), np.eye(4))


class _Images(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i]


def test_fid_agrees_with_torch_fidelity_and_clean_fid(tmp_path):
    import torch_fidelity
    from cleanfid import fid as cleanfid
    from PIL import Image

    real = ToyShapes("reference", 600).batch(0, 600)[0]
    fake = ToyShapes("test", 600).batch(0, 600)[0]
    fake[:, 0] = (fake[:, 0].int() * 3 // 4).to(torch.uint8)  # a visible shift so FID is not ~0

    net = ToyFeatureNet()
    extractor = net.build()
    ours = fid_from_features(
        extract(net, [real], progress=False, extractor=extractor).features,
        extract(net, [fake], progress=False, extractor=extractor).features,
    )

    theirs = torch_fidelity.calculate_metrics(
        input1=_Images(fake), input2=_Images(real), fid=True, feature_extractor="toy-featnet",
        cuda=False, verbose=False, save_cpu_ram=True, batch_size=100,
    )["frechet_inception_distance"]

    folders = []
    for name, images in (("real", real), ("fake", fake)):
        folder = tmp_path / name
        folder.mkdir()
        for i, image in enumerate(images):
            Image.fromarray(image.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.png")
        folders.append(str(folder))

    def clean_fid_features(batch):  # clean-fid hands over float [0, 255]; the images are exact integers
        with torch.no_grad():
            return extractor(batch.round().to(torch.uint8))[0]

    clean = cleanfid.compute_fid(
        folders[1], folders[0], custom_feat_extractor=clean_fid_features, custom_fn_resize=lambda x: x,
        device=torch.device("cpu"), num_workers=0, batch_size=100, verbose=False,
    )
    assert ours > 1.0
    assert theirs == pytest.approx(ours, rel=1e-4)
    assert clean == pytest.approx(ours, rel=1e-4)


def test_features_do_not_depend_on_batch_size():
    images = ToyShapes("test", 64).batch(0, 64)[0]
    net = ToyFeatureNet()
    extractor = net.build()
    one_by_one = extract(net, [images[i : i + 1] for i in range(64)], progress=False, extractor=extractor)
    all_at_once = extract(net, [images], progress=False, extractor=extractor)
    np.testing.assert_allclose(one_by_one.features, all_at_once.features, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(one_by_one.logits, all_at_once.logits, rtol=1e-5, atol=1e-5)


def test_reference_statistics_are_cached_and_keyed_by_weights(tmp_path):
    from bench.metrics.features import Features, reference_statistics

    calls = []

    def compute():
        calls.append(1)
        rng = np.random.default_rng(0)
        return Features(rng.normal(size=(50, 4)).astype(np.float32), rng.normal(size=(50, 3)).astype(np.float32))

    class FakeNet:
        def __init__(self, weights):
            self.weights = weights

        def weights_identity(self):
            return self.weights

    first = reference_statistics(tmp_path, "toy/ref/32px", "toy-featnet", FakeNet("a"), compute, keep_features=5000)
    again = reference_statistics(tmp_path, "toy/ref/32px", "toy-featnet", FakeNet("a"), compute, keep_features=5000)
    assert len(calls) == 1 and np.array_equal(first.sigma, again.sigma) and again.num_images == 50
    reference_statistics(tmp_path, "toy/ref/32px", "toy-featnet", FakeNet("b"), compute, keep_features=5000)
    reference_statistics(tmp_path, "toy/ref/64px", "toy-featnet", FakeNet("a"), compute, keep_features=5000)
    assert len(calls) == 3
