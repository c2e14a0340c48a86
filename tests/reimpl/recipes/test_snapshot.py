"""Resumable training: a run stopped by a signal and started again ends with exactly the weights,
EMA and logged values of a run that was never stopped; a snapshot of other settings is refused."""

import os
import signal

import pytest
import torch

from reimpl.recipes.loop import OptimConfig, TrainingInterrupted, WeightAverage, train
from reimpl.recipes.snapshot import Snapshot, SnapshotMismatchError

CONFIG = OptimConfig(steps=12, batch_size=8, learning_rate=0.05, warmup_steps=3, min_lr_ratio=0.1)


def _batches(seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    while True:
        yield torch.randn(8, 4, generator=generator)


def _run(snapshot=None, stop_at=None):
    """A model with dropout (global RNG), a recipe generator and an EMA: every kind of state."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
    noise = torch.Generator().manual_seed(5)
    ema = WeightAverage(model, decay=0.8)

    def loss_fn(forward, batch, step):
        if step == stop_at:
            os.kill(os.getpid(), signal.SIGINT)  # arrives mid-step: the step still finishes
        target = batch.sum(-1, keepdim=True) + 0.1 * torch.randn(len(batch), 1, generator=noise)
        loss = torch.nn.functional.mse_loss(forward(batch), target)
        return loss, {"loss": loss.item()}

    logged = train(model, loss_fn, _batches(), CONFIG, progress=False, after_step=lambda step: ema.update(),
                   snapshot=snapshot, state={"noise": noise, "ema": ema})
    averaged = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Dropout(0.3), torch.nn.Linear(16, 1))
    ema.copy_to(averaged)
    return model, averaged, logged


def test_a_stopped_run_resumes_to_the_same_weights(tmp_path):
    plain, plain_ema, plain_log = _run()
    snapshot = Snapshot(tmp_path / "run.resume.pt", fingerprint="toy", every_seconds=1e9)
    with pytest.raises(TrainingInterrupted, match="stopped after step 6 of 12"):
        _run(snapshot, stop_at=5)
    assert torch.load(snapshot.path, weights_only=True)["step"] == 6
    resumed, resumed_ema, resumed_log = _run(snapshot)
    for a, b in zip(plain.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
    for a, b in zip(plain_ema.parameters(), resumed_ema.parameters()):
        assert torch.equal(a, b)
    assert resumed_log["loss"] == plain_log["loss"]
    assert torch.load(snapshot.path, weights_only=True)["step"] == 12  # a finished run's last snapshot


def test_losing_the_snapshot_state_would_change_the_result(tmp_path):
    """The check above can fail: resuming without the recipe's generator state gives other weights."""
    plain, _, _ = _run()
    snapshot = Snapshot(tmp_path / "run.resume.pt", fingerprint="toy", every_seconds=1e9)
    with pytest.raises(TrainingInterrupted):
        _run(snapshot, stop_at=5)
    payload = torch.load(snapshot.path, weights_only=True)
    payload["state"]["noise"] = torch.Generator().manual_seed(5).get_state()  # as if never saved
    torch.save(payload, snapshot.path)
    resumed, _, _ = _run(snapshot)
    assert not torch.equal(plain[0].weight, resumed[0].weight)


def test_a_snapshot_of_other_settings_is_refused(tmp_path):
    snapshot = Snapshot(tmp_path / "run.resume.pt", fingerprint="lr=0.05", every_seconds=1e9)
    with pytest.raises(TrainingInterrupted):
        _run(snapshot, stop_at=2)
    with pytest.raises(SnapshotMismatchError, match="other settings") as error:
        _run(Snapshot(snapshot.path, fingerprint="lr=0.1"))
    assert str(snapshot.path) in str(error.value)  # the fix names the file to delete


def test_a_second_signal_stops_at_once():
    from reimpl.recipes.snapshot import StopRequests

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when the suite runs as a background job
    with StopRequests() as stops:
        os.kill(os.getpid(), signal.SIGINT)
        assert stops.requested == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before  # handlers restored
