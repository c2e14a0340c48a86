"""The training loop: warm-up/cosine schedule, and a failed torch.compile falling back to eager."""

import pytest
import torch

from reimpl.recipes.loop import OptimConfig, train, warmup_cosine


def test_warmup_then_cosine_to_the_floor():
    config = OptimConfig(steps=110, batch_size=1, learning_rate=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert warmup_cosine(0, config) == pytest.approx(0.1) and warmup_cosine(9, config) == pytest.approx(1.0)
    assert warmup_cosine(60, config) == pytest.approx(0.55)  # half-way down the cosine
    assert warmup_cosine(110, config) == pytest.approx(0.1)


def _fit(config, monkeypatch=None):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    target = torch.nn.Linear(3, 1)
    inputs = torch.randn(64, 3)

    def loss_fn(forward, batch, step):
        loss = torch.nn.functional.mse_loss(forward(batch), target(batch).detach())
        return loss, {"loss": loss.item()}

    logged = train(model, loss_fn, iter([inputs] * config.steps), config, progress=False)
    return model, logged


def test_a_failing_compile_falls_back_to_the_same_eager_training(monkeypatch):
    config = OptimConfig(steps=50, batch_size=64, learning_rate=0.05)
    eager, eager_log = _fit(config)

    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("no C++ compiler")

    monkeypatch.setattr(torch, "compile", lambda model: Broken())
    with pytest.warns(UserWarning, match="torch.compile failed"):
        fallback, fallback_log = _fit(OptimConfig(steps=50, batch_size=64, learning_rate=0.05, compile=True))
    assert fallback_log["loss"] == pytest.approx(eager_log["loss"]) and eager_log["loss"] < 0.1
    assert torch.equal(fallback.weight, eager.weight)


def test_weight_average_follows_the_ema_recursion():
    from reimpl.recipes.loop import WeightAverage

    network = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        network.weight.fill_(0.0)
    ema = WeightAverage(network, decay=0.9)
    for value in (1.0, 1.0, 3.0):
        with torch.no_grad():
            network.weight.fill_(value)
        ema.update()
    # 0 -> 0.1 -> 0.19 -> 0.9 * 0.19 + 0.1 * 3 = 0.471
    assert network.weight.item() == 3.0  # the trained weights are left alone ...
    target = torch.nn.Linear(1, 1, bias=False)
    ema.copy_to(target)
    assert target.weight.item() == pytest.approx(0.471)  # ... until the average is copied out
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(network, decay=1.0)


def test_weight_average_after_a_warm_up_follows_open_muse_get_decay():
    """EMAModel(update_after_step=2): plain copies for the first three steps, then
    min((1 + k) / (10 + k), decay) with k = step - 2 - 1 (1-based step)."""
    from reimpl.recipes.loop import WeightAverage

    network = torch.nn.Linear(1, 1, bias=False)
    ema = WeightAverage(network, decay=0.9999, update_after_step=2)
    assert [ema.decay_at(step) for step in range(5)] == [0.0, 0.0, 0.0, pytest.approx(2 / 11), pytest.approx(3 / 12)]
    assert ema.decay_at(10**6) == 0.9999
    for value in (5.0, 7.0, 1.0, 2.0):
        with torch.no_grad():
            network.weight.fill_(value)
        ema.update(step=[5.0, 7.0, 1.0, 2.0].index(value))
    target = torch.nn.Linear(1, 1, bias=False)
    ema.copy_to(target)
    assert target.weight.item() == pytest.approx(2 / 11 * 1.0 + 9 / 11 * 2.0)  # the copy at step 2, then one average
