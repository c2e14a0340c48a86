"""`python -m bench train` runs each recipe end to end (a few steps) and writes loadable weights
with a JSON report naming their sha256."""

import json

import pytest
from safetensors.torch import load_file

from tests.conftest import run_cli


@pytest.mark.parametrize(
    "card, extra",
    [("toy-vqgan", ("optim.steps=3", "train_images=64", "optim.batch_size=8")),
     ("toy-maskgit", ("optim.steps=3", "train_images=64", "optim.batch_size=8", "ema_decay=0.5")),
     ("toy-mage", ("optim.steps=3", "train_images=64", "optim.batch_size=8", "optim.compile=false"))],
)
def test_card_recipes_write_weights_and_a_report(tmp_path, card, extra):
    out = tmp_path / f"{card}.safetensors"
    done = run_cli("train", f"model={card}", *extra, "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    report = json.loads(out.with_suffix(".json").read_text())
    assert report["sha256"] in done.stdout and report["recipe"]["optim"]["steps"] == 3
    if card == "toy-maskgit":  # a recipe-level override reaches the recipe (and its record)
        assert report["recipe"]["ema_decay"] == 0.5
    assert len(load_file(str(out))) > 10


def test_unknown_training_target_and_card_fail_cleanly():
    done = run_cli("train", "feature-nett")
    assert done.returncode == 2 and "unknown training target" in done.stderr
    done = run_cli("train", "model=toy-vqgna")
    assert done.returncode == 2 and "did you mean 'toy-vqgan'" in done.stderr
