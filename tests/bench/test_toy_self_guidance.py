"""UnlockMGM's claim at toy scale (slow: about 4 minutes): with the same frozen toy-maskgit
weights and the same 8 steps, self-guidance through the committed TOAST module gives a better
FID than plain MaskGIT decoding without guidance (the setting of the paper's baseline), by more
than the seed-to-seed spread; three seeds each, 500 samples against 5,000 reference images."""

import pytest

from tests.bench.toy_runs import metric_entries

pytestmark = pytest.mark.slow

SETTINGS = ("num_samples=500", "eval.reference_images=5000", "seeds=3", "sampler.steps=8")


def _fid(results, *overrides):
    entry = metric_entries(results, *overrides, *SETTINGS)["fid"]
    return entry["value"], entry["std"]


def test_self_guidance_beats_unguided_maskgit_at_equal_steps(tmp_path):
    plain, plain_std = _fid(tmp_path, "model=toy-maskgit", "sampler.guidance_scale=0")
    guided, guided_std = _fid(tmp_path, "model=toy-unlockmgm", "sampler.guidance_scale=1")
    assert guided + max(plain_std, guided_std) < plain
