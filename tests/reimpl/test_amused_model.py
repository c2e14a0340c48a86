"""aMUSEd end to end on tiny random diffusers/transformers components: prompts -> CLIP
states -> `amused` sampler -> VQ decode, with a real CLIPTokenizer built from tiny files."""

import json

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
transformers = pytest.importorskip("transformers")

from reimpl.models.amused import AmusedModel  # noqa: E402
from reimpl.samplers.amused import AmusedSampler, AmusedSamplerConfig  # noqa: E402
from reimpl.tokenizers.amused_vq import build_amused_vq  # noqa: E402

WORDS = ["a", "red", "blue", "circle", "square"]


@pytest.fixture
def clip_tokenizer(tmp_path):
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, **{f"{w}</w>": i + 2 for i, w in enumerate(WORDS)}}
    vocab.update({c: len(vocab) + i for i, c in enumerate(sorted(set("".join(WORDS))))})
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = transformers.CLIPTokenizer(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    tokenizer.model_max_length = 8
    return tokenizer


def _model(tokenizer):
    torch.manual_seed(0)
    transformer = diffusers.UVit2DModel(
        hidden_size=16, use_bias=False, cond_embed_dim=16, micro_cond_encode_dim=2, micro_cond_embed_dim=10,
        encoder_hidden_size=16, vocab_size=65, codebook_size=64, in_channels=16, block_out_channels=16,
        num_res_blocks=1, block_num_heads=2, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
        sample_size=4,
    ).eval()
    text_encoder = transformers.CLIPTextModelWithProjection(transformers.CLIPTextConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=16, intermediate_size=32, projection_dim=16,
        num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=8)).eval()
    return AmusedModel(None, transformer, text_encoder, tokenizer, build_amused_vq({"preset": "toy-amused-vq"}), image_size=8)


def test_generate_from_prompts_is_per_sample(clip_tokenizer):
    model = _model(clip_tokenizer)
    sampler = AmusedSampler(AmusedSamplerConfig(steps=4, guidance_scale=4.0))
    prompts = ["a red circle", "a blue square", "a red square"]
    images = model.generate(torch.zeros(3), [5, 6, 7], sampler, prompts)
    assert images.dtype == torch.uint8 and images.shape == (3, 3, 8, 8)
    alone = model.generate(torch.zeros(1), [7], sampler, prompts[2:])
    assert torch.equal(alone[0], images[2])
    conditions = model.encode_prompts(prompts[:1])
    assert conditions["states"].shape == (1, 8, 16) and conditions["micro"].tolist() == [[8.0, 8.0, 0.0, 0.0, 6.0]]
    with pytest.raises(ValueError, match="prompts"):
        model.generate(torch.zeros(1), [1], sampler)


def test_builder_loads_diffusers_format_files(clip_tokenizer, tmp_path):
    """The files of a diffusers aMUSEd folder (transformer, text_encoder, tokenizer, vqvae),
    as save_pretrained writes them, load strictly through the registered builder."""
    import types

    from safetensors.torch import save_file

    from reimpl.models import MODELS
    from reimpl.models.amused import build_amused  # noqa: F401  (registers the family)
    from reimpl.models.base import ModelAssets

    reference = _model(clip_tokenizer)
    files = {
        "transformer": tmp_path / "transformer.safetensors", "text_encoder": tmp_path / "text_encoder.safetensors",
        "tokenizer": tmp_path / "vqvae.safetensors",
        "tokenizer_vocab": tmp_path / "vocab.json", "tokenizer_merges": tmp_path / "merges.txt",
    }
    save_file({k: v.contiguous() for k, v in reference.transformer.state_dict().items()}, files["transformer"])
    save_file({k: v.contiguous() for k, v in reference.text_encoder.state_dict().items()}, files["text_encoder"])
    save_file({k: v.contiguous() for k, v in reference.vq.vq.state_dict().items()}, files["tokenizer"])  # no `vq.` prefix
    config = reference.transformer.config
    architecture = {k: config[k] for k in ("hidden_size", "use_bias", "cond_embed_dim", "micro_cond_encode_dim",
                                           "micro_cond_embed_dim", "encoder_hidden_size", "vocab_size", "codebook_size",
                                           "in_channels", "block_out_channels", "num_res_blocks", "block_num_heads",
                                           "num_hidden_layers", "num_attention_heads", "intermediate_size", "sample_size")}
    architecture["text_encoder"] = dict(vocab_size=clip_tokenizer.vocab_size, hidden_size=16, intermediate_size=32,
                                        projection_dim=16, num_hidden_layers=2, num_attention_heads=2,
                                        max_position_embeddings=8)
    card = types.SimpleNamespace(architecture=architecture, benchmark=types.SimpleNamespace(resolution=8))
    model = MODELS.get("amused")(card, ModelAssets(files, "amused-vq", {"preset": "toy-amused-vq"}))
    assert model.text_tokenizer.model_max_length == 8  # from the encoder's positions: no tokenizer_config here
    sampler = AmusedSampler(AmusedSamplerConfig(steps=3))
    assert torch.equal(model.generate(torch.zeros(1), [3], sampler, ["a red circle"]),
                       reference.generate(torch.zeros(1), [3], sampler, ["a red circle"]))


def _builder_files(tmp_path, clip_tokenizer, positions: int, tokenizer_config: dict | None):
    """A card's files for a tiny aMUSEd whose CLIP text tower has `positions` positions."""
    from safetensors.torch import save_file

    text_config = dict(vocab_size=clip_tokenizer.vocab_size, hidden_size=16, intermediate_size=32, projection_dim=16,
                       num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=positions)
    torch.manual_seed(1)
    reference = _model(clip_tokenizer)
    encoder = transformers.CLIPTextModelWithProjection(transformers.CLIPTextConfig(**text_config)).eval()
    files = {"transformer": tmp_path / "t.safetensors", "text_encoder": tmp_path / "e.safetensors",
             "tokenizer": tmp_path / "v.safetensors", "tokenizer_vocab": tmp_path / "vocab.json",
             "tokenizer_merges": tmp_path / "merges.txt"}
    save_file({k: v.contiguous() for k, v in reference.transformer.state_dict().items()}, files["transformer"])
    save_file({k: v.contiguous() for k, v in encoder.state_dict().items()}, files["text_encoder"])
    save_file({k: v.contiguous() for k, v in reference.vq.vq.state_dict().items()}, files["tokenizer"])
    if tokenizer_config is not None:
        files["tokenizer_config"] = tmp_path / "tokenizer_config.json"
        files["tokenizer_config"].write_text(json.dumps(tokenizer_config))
    config = reference.transformer.config
    architecture = {k: config[k] for k in ("hidden_size", "use_bias", "cond_embed_dim", "micro_cond_encode_dim",
                                           "micro_cond_embed_dim", "encoder_hidden_size", "vocab_size", "codebook_size",
                                           "in_channels", "block_out_channels", "num_res_blocks", "block_num_heads",
                                           "num_hidden_layers", "num_attention_heads", "intermediate_size", "sample_size")}
    return files, {**architecture, "text_encoder": text_config}


@pytest.mark.parametrize("tokenizer_config", [None, {"model_max_length": 77, "pad_token": "<|endoftext|>",
                                                     "do_lower_case": True}])
def test_prompts_longer_than_77_tokens_are_truncated_as_the_pipeline_does(clip_tokenizer, tmp_path, tokenizer_config):
    """With aMUSEd's 77 positions the card-built tokenizer pads and truncates to 77 (the
    pipeline's `max_length=tokenizer.model_max_length` with tokenizer_config.json's 77), whether
    the limit comes from that file or from the text encoder; a 120-word prompt encodes."""
    import types

    from reimpl.models import MODELS
    from reimpl.models.amused import build_amused  # noqa: F401
    from reimpl.models.base import ModelAssets

    files, architecture = _builder_files(tmp_path, clip_tokenizer, 77, tokenizer_config)
    card = types.SimpleNamespace(architecture=architecture, benchmark=types.SimpleNamespace(resolution=8))
    model = MODELS.get("amused")(card, ModelAssets(files, "amused-vq", {"preset": "toy-amused-vq"}))
    assert model.text_tokenizer.model_max_length == 77 and model.prompt_tokens == 77
    long_prompt = " ".join(WORDS[i % 5] for i in range(120))
    conditions = model.encode_prompts([long_prompt, "a red circle"])
    assert conditions["states"].shape == (2, 77, 16) and torch.isfinite(conditions["states"]).all()
    # the pipeline's own tokenisation of the same prompt: 77 ids, start token, truncated, end token last
    expected = model.text_tokenizer(long_prompt, padding="max_length", truncation=True, max_length=77).input_ids
    assert len(expected) == 77 and expected[0] == 0 and expected[-1] == 1
    out = model.text_encoder(torch.tensor([expected]), output_hidden_states=True)
    assert torch.allclose(conditions["states"][:1], out.hidden_states[-2], atol=1e-6)
    sampler = AmusedSampler(AmusedSamplerConfig(steps=2))
    assert model.generate(torch.zeros(1), [4], sampler, [long_prompt]).shape == (1, 3, 8, 8)


def test_a_tokenizer_with_the_no_limit_sentinel_is_bounded_by_the_encoder(clip_tokenizer):
    """transformers' VERY_LARGE_INTEGER as model_max_length (a tokenizer built without its config)
    would pad to 1e30 tokens; the model pads to the encoder's positions instead."""
    clip_tokenizer.model_max_length = int(1e30)
    model = _model(clip_tokenizer)
    assert model.prompt_tokens == 8
    assert model.encode_prompts(["a red circle " * 10])["states"].shape == (1, 8, 16)
