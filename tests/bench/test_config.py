import pytest

from bench.config import RunConfig, apply_overrides, coerce, config_hash, parse_overrides, to_dict
from bench.errors import BadOverrideError


def test_overrides_are_typed_and_nested():
    config = apply_overrides(
        RunConfig(),
        parse_overrides(["num_samples=64", "seed=0", "metrics=[fid,is]", "eval.feature_net=null", "eval.is_splits=5"]),
    )
    assert config.num_samples == 64 and config.seed == 0
    assert config.metrics == ("fid", "is")
    assert config.eval.feature_net is None and config.eval.is_splits == 5


def test_cli_zero_and_false_win_over_defaults():
    assert apply_overrides(RunConfig(seed=7), {"seed": "0"}).seed == 0


@pytest.mark.parametrize(
    "token, message",
    [("seed", "malformed"), ("=3", "malformed"), ("num_sample=3", "did you mean 'num_samples'"),
     ("num_samples=3.5", "not an integer"), ("device=tpu", "not allowed"), ("eval.nope=1", "unknown key")],
)
def test_bad_overrides_fail_with_a_fix(token, message):
    with pytest.raises(BadOverrideError) as caught:
        apply_overrides(RunConfig(), parse_overrides([token]))
    assert message in str(caught.value)
    assert caught.value.hint


def test_unknown_key_lists_valid_keys():
    with pytest.raises(BadOverrideError) as caught:
        apply_overrides(RunConfig(), {"bogus": "1"})
    assert "num_samples" in caught.value.hint and "eval.reference_images" in caught.value.hint


def test_coerce_float_accepts_integers_but_not_booleans():
    assert coerce("3", float, "x") == 3.0
    with pytest.raises(BadOverrideError):
        coerce("true", float, "x")


def test_hash_ignores_speed_knobs_but_not_semantics():
    base = {"run": to_dict(RunConfig()), "card": "toy-real"}
    faster = {"run": to_dict(apply_overrides(RunConfig(), {"batch_size": "7", "shard_size": "9"})), "card": "toy-real"}
    other_seed = {"run": to_dict(apply_overrides(RunConfig(), {"seed": "1"})), "card": "toy-real"}
    assert config_hash(base) == config_hash(faster)
    assert config_hash(base) != config_hash(other_seed)
    assert len(config_hash(base)) == 16
