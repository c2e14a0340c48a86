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


def test_an_interrupted_training_run_resumes_to_the_same_weights(tmp_path, monkeypatch, capsys):
    """Ctrl-C after step 2 of 5 leaves a snapshot beside --out; the same command finishes the run
    with the weights of an uninterrupted one, then removes the snapshot."""
    import os
    import signal

    import torch

    from bench.cli import main
    from reimpl.recipes.loop import WeightAverage

    # compile off: two compiled runs already differ in the last bits, resumed or not (README);
    # fp32: accelerate keeps one precision per process, and other tests in this one train in fp32
    args = ["train", "model=toy-maskgit", "optim.steps=5", "train_images=64", "optim.batch_size=8", "ema_decay=0.5",
            "optim.compile=false", "optim.mixed_precision=no", "--quiet"]
    plain = tmp_path / "plain.safetensors"
    assert main([*args, "--out", str(plain)]) == 0
    assert not (tmp_path / "plain.safetensors.resume.pt").exists()

    update = WeightAverage.update

    def interrupt_after_step_2(self, step=0):
        update(self, step)
        if step == 1:
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(WeightAverage, "update", interrupt_after_step_2)
    resumed = tmp_path / "resumed.safetensors"
    assert main([*args, "--out", str(resumed)]) == 130
    snapshot = tmp_path / "resumed.safetensors.resume.pt"
    assert "stopped after step 2 of 5" in capsys.readouterr().err and snapshot.exists()
    assert not resumed.exists()
    monkeypatch.setattr(WeightAverage, "update", update)
    assert main([*args, "--out", str(resumed)]) == 0
    assert not snapshot.exists()
    expected, got = load_file(str(plain)), load_file(str(resumed))
    assert expected.keys() == got.keys() and all(torch.equal(expected[k], got[k]) for k in expected)
    # other settings refuse a snapshot they did not write
    monkeypatch.setattr(WeightAverage, "update", interrupt_after_step_2)
    assert main([*args, "--out", str(resumed)]) == 130
    monkeypatch.setattr(WeightAverage, "update", update)
    assert main([*args[:2], "optim.steps=6", *args[3:], "--out", str(resumed)]) == 2
    assert "other settings" in capsys.readouterr().err
