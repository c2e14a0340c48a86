import numpy as np
import pytest

from bench.data.toy import ToyShapes
from bench.metrics.reconstruction import psnr, ssim


def _pair(seed=0, noise=12.0):
    originals = ToyShapes("test", 8).batch(0, 8)[0].numpy()
    noisy = originals + np.random.default_rng(seed).normal(0, noise, originals.shape)
    return originals, np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def test_psnr_known_value_and_identity():
    a = np.zeros((2, 3, 8, 8), np.uint8)
    b = np.full((2, 3, 8, 8), 51, np.uint8)  # error 0.2 everywhere -> MSE 0.04 -> 13.979 dB
    assert psnr(a, b) == pytest.approx(10 * np.log10(1 / 0.04))
    assert psnr(a, a) == 100.0


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    originals, noisy = _pair()
    expected = np.mean([
        structural_similarity(
            o.transpose(1, 2, 0) / 255.0, n.transpose(1, 2, 0) / 255.0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, data_range=1.0, channel_axis=2,
        )
        for o, n in zip(originals, noisy)
    ])
    assert ssim(originals, noisy) == pytest.approx(expected, rel=1e-9)
    assert ssim(originals, originals) == pytest.approx(1.0)
    assert ssim(originals, noisy) < ssim(*_pair(noise=4.0))
