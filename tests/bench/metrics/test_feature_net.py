import pytest
import torch

from bench.errors import BadImagesError, MissingWeightsError
from bench.metrics.feature_net import ToyClassifier, evaluate_feature_net
from bench.metrics.features import ToyFeatureNet, extract
from bench.checkpoints import load_feature_net_weights


def test_committed_feature_net_is_accurate_on_held_out_images():
    net = ToyClassifier()
    net.load_state_dict(load_feature_net_weights("toy-featnet"))
    net.eval()
    metrics = evaluate_feature_net(net, test_images=600)
    assert metrics["test_accuracy"] >= 0.98
    assert metrics["test_accuracy_64px"] >= 0.98
    assert metrics["test_colour_accuracy"] >= 0.98


def test_extractor_is_registered_with_torch_fidelity():
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    ToyFeatureNet().build()
    assert "toy-featnet" in FEATURE_EXTRACTORS_REGISTRY


def test_wrong_image_dtype_or_shape_is_a_clear_error():
    net = ToyFeatureNet()
    extractor = net.build()
    with pytest.raises(BadImagesError, match="uint8"):
        extract(net, [torch.zeros(2, 3, 32, 32)], progress=False, extractor=extractor)
    with pytest.raises(BadImagesError, match=r"\(B, 3, H, W\)"):
        extract(net, [torch.zeros(2, 32, 32, 3, dtype=torch.uint8)], progress=False, extractor=extractor)


def test_nan_features_are_refused():
    net = ToyFeatureNet()
    extractor = net.build()
    with torch.no_grad():
        extractor.net.class_head.weight.fill_(float("nan"))
    with pytest.raises(BadImagesError, match="non-finite"):
        extract(net, [torch.zeros(2, 3, 32, 32, dtype=torch.uint8)], progress=False, extractor=extractor)


def test_real_inception_offline_names_file_url_and_env_var(tmp_path, monkeypatch):
    from bench.metrics.inception import InceptionV3

    monkeypatch.delenv("MGM_INCEPTION_WEIGHTS", raising=False)
    monkeypatch.setenv("MGM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(MissingWeightsError) as caught:
        InceptionV3().build()
    text = str(caught.value)
    assert "weights-inception-2015-12-05-6726825d.pth" in text
    assert "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/" in text
    assert "MGM_INCEPTION_WEIGHTS" in text
