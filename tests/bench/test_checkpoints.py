import hashlib
from pathlib import Path

import pytest
import yaml

from bench.checkpoints import FileSpec, get_card, load_all_cards, load_cards, resolve_file, verify_sha256
from bench.errors import BadCardError, ChecksumMismatchError, MissingWeightsError, UnknownNameError
from bench.registry import DATASETS, FEATURE_NETS, MODELS, SAMPLERS, TOKENIZERS, load_all
from reimpl.convert import CONVERTERS

REPO = Path(__file__).resolve().parents[2]


def test_every_card_names_registered_code_and_every_family_has_a_card():
    load_all()
    models, nets = load_cards()
    for card in models.values():
        assert card.family in MODELS, card.name
        assert card.benchmark.dataset in DATASETS, card.name
        assert card.benchmark.feature_net in FEATURE_NETS, card.name
        if card.sampler.get("name"):
            assert card.sampler["name"] in SAMPLERS, card.name
    assert set(MODELS.names()) <= {card.family for card in models.values()}
    assert set(FEATURE_NETS.names()) == set(nets)
    tokenizers = load_all_cards()["tokenizers"]
    for card in list(models.values()) + list(tokenizers.values()):
        if getattr(card, "tokenizer", None):
            assert card.tokenizer["checkpoint"] in tokenizers, card.name
        for spec in card.files:
            assert spec.converter is None or spec.converter in CONVERTERS, (card.name, spec.converter)
            assert spec.path or spec.url, card.name
    for card in tokenizers.values():
        assert card.family in TOKENIZERS, card.name


def test_committed_artefacts_match_their_sha256():
    sections = load_all_cards()
    for card in [c for section in sections.values() for c in section.values()]:
        for spec in getattr(card, "files", ()):  # unreleased cards have none
            if spec.path:
                path = REPO / spec.path
                assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256
                # small: the largest, toy-muse (text encoder, two stages, two critics), is 9.6 MiB
                assert path.stat().st_size == spec.bytes < 12 * 2**20
                assert card.remake


def test_training_reports_describe_the_committed_weights_and_the_cards_recipe():
    """`bench train` writes NAME.json beside NAME.safetensors; a copied-in weights file without its
    report leaves a record of some other run (this caught toy-emigm's 10k-step report beside 40k weights)."""
    import json

    checked = 0
    sections = load_all_cards()
    for card in [c for section in sections.values() for c in section.values()]:
        for spec in getattr(card, "files", ()):
            report_path = REPO / Path(spec.path).with_suffix(".json") if spec.path else None
            if report_path is None or not report_path.is_file():
                continue
            report = json.loads(report_path.read_text())
            assert (report["sha256"], report["bytes"]) == (spec.sha256, spec.bytes), report_path
            if report.get("card", card.name) != card.name:  # a shared file, e.g. toy-unlockmgm's frozen toy-maskgit
                continue
            card_optim = dict(getattr(card, "recipe", {}).get("optim", {}))
            for key in ("steps", "batch_size", "mixed_precision"):
                if key in card_optim:
                    assert report["recipe"]["optim"][key] == card_optim[key], (card.name, key)
            checked += 1
    assert checked >= 5

def test_unknown_card_field_is_rejected(tmp_path, monkeypatch):
    data = yaml.safe_load((REPO / "checkpoints.yaml").read_text())
    data["models"]["toy-real"]["tolerence"] = {"fid": 1.0}
    path = tmp_path / "checkpoints.yaml"
    path.write_text(yaml.safe_dump(data))
    monkeypatch.setenv("MGM_CHECKPOINTS_YAML", str(path))
    with pytest.raises(BadCardError, match="did you mean 'tolerance'"):
        load_cards()


def test_unknown_model_name():
    with pytest.raises(UnknownNameError, match="did you mean 'toy-real'"):
        get_card("toy-rea")


def test_checksum_mismatch_and_missing_file_name_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("MGM_CACHE_DIR", str(tmp_path / "cache"))
    local = tmp_path / "weights.bin"
    local.write_bytes(b"corrupt")
    with pytest.raises(ChecksumMismatchError) as caught:
        verify_sha256(local, "0" * 64, "demo")
    assert "download it again" in caught.value.hint
    spec = FileSpec(role="weights", format="torch", url="https://example.invalid/w.pth", env="MGM_DEMO_WEIGHTS")
    with pytest.raises(MissingWeightsError) as caught:
        resolve_file("demo", spec)
    message = str(caught.value)
    assert "w.pth" in message and "https://example.invalid/w.pth" in message and "MGM_DEMO_WEIGHTS" in message
    monkeypatch.setenv("MGM_DEMO_WEIGHTS", str(local))
    assert resolve_file("demo", spec) == local
