"""task=linear-probe: the probe itself on synthetic features, and the run end to end."""

import json

import torch

from bench.config import ProbeConfig
from bench.probe import top1, train_probe
from tests.conftest import run_cli

FAST = ProbeConfig(epochs=30, warmup_epochs=3, batch_size=64)


def clustered(n: int, classes: int, dim: int, seed: int, spread: float = 0.5):
    generator = torch.Generator().manual_seed(seed)
    centres = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99)) * 3
    labels = torch.arange(n) % classes
    return centres[labels] + spread * torch.randn(n, dim, generator=generator), labels


def test_probe_separates_clustered_features_and_not_random_labels():
    x, y = clustered(600, 5, 16, seed=0)
    test_x, test_y = clustered(300, 5, 16, seed=1)
    assert top1(train_probe(x, y, FAST), test_x, test_y) > 0.95
    shuffled = y[torch.randperm(len(y), generator=torch.Generator().manual_seed(2))]
    assert top1(train_probe(x, shuffled, FAST), test_x, test_y) < 0.45  # chance is 0.2


def test_linear_probe_run_records_trained_and_random_init_accuracy(tmp_path):
    args = ("run", "model=toy-mage", "task=linear-probe", "probe.train_images=400", "probe.test_images=200",
            "probe.epochs=10", "probe.warmup_epochs=1", "--results-dir", str(tmp_path), "--quiet")
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    (path,) = (tmp_path / "records").glob("*.json")
    record = json.loads(path.read_text())
    assert record["task"] == "linear-probe" and record["reference"]["feature_net"] == "linear-probe"
    trained = record["metrics"]["linear_probe_top1"]["value"]
    chance = record["metrics"]["linear_probe_top1_random_init"]["value"]
    assert 0 <= chance <= 1 and 0 <= trained <= 1 and trained != chance
    assert record["metrics"]["linear_probe_top1"]["num_samples"] == 200
    assert "linear_probe_top1" in done.stdout


def test_models_without_an_encoder_representation_are_refused(tmp_path):
    done = run_cli("run", "model=toy-maskgit", "task=linear-probe", "--results-dir", str(tmp_path), "--quiet")
    assert done.returncode != 0
    assert "no encoder representation to probe" in done.stderr and "model=toy-mage" in done.stderr
    assert not (tmp_path / "records").exists()
