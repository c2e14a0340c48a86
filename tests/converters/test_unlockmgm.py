"""Released UnlockMGM weights: open-muse `MaskGitTransformerTOAST` keys written out from that
module's structure (embed / transformer_layers / mlm_layer / cls_anchor_gen / decoders)."""

import json
import zipfile

import pytest
import torch

from reimpl.convert import CONVERTERS
from reimpl.convert.unlockmgm import convert_unlockmgm, read_state_dict
from reimpl.networks.maskgit import MASKGIT_CONFIGS, MaskGitConfig, MaskGitNetwork
from reimpl.networks.toast import Toast
from tests.converters.synthetic import StateDictBuilder

TINY = MaskGitConfig(codebook_size=16, num_classes=5, num_tokens=9, width=8, depth=2, heads=2, mlp_width=12)


def open_muse_layout(b, config: MaskGitConfig, factors: int = 16) -> None:
    d, vocab = config.width, config.vocab_size
    b.put("embed.word_embeddings.weight", vocab, d)
    b.put("embed.position_embeddings.weight", config.num_tokens + 1, d)
    b.norm("embed.embeddings_ln", d)
    for i in range(config.depth):
        prefix = f"transformer_layers.{i}"
        b.norm(f"{prefix}.attn_layer_norm", d)
        for name in ("query", "key", "value", "out"):
            b.put(f"{prefix}.attention.{name}.weight", d, d)
            b.put(f"{prefix}.attention.{name}.bias", d)
        b.put(f"{prefix}.ffn.intermediate_output.weight", config.mlp_width, d)
        b.put(f"{prefix}.ffn.intermediate_output.bias", config.mlp_width)
        b.put(f"{prefix}.ffn.layer_output.weight", d, config.mlp_width)
        b.put(f"{prefix}.ffn.layer_output.bias", d)
        b.norm(f"{prefix}.ffn.layer_norm", d)
    b.put("mlm_layer.mlm_dense.weight", d, d)
    b.put("mlm_layer.mlm_dense.bias", d)
    b.norm("mlm_layer.mlm_ln", d)
    b.state["mlm_layer.to_logits.weight"] = b.state["embed.word_embeddings.weight"].clone()
    b.put("mlm_layer.to_logits.bias", vocab)
    b.put("cls_anchor_gen.mlp_p.weight", 1, d * factors)
    b.put("cls_anchor_gen.mlp_c.weight", config.num_classes, d * factors)
    b.put("cls_anchor_gen.mlp_f.weight", 1, factors)
    b.put("cls_anchor_gen.mlp_t.weight", d, d)
    b.put("cls_anchor_gen.mlp_t.bias", d)
    b.norm("cls_anchor_gen.layer_norm", d)
    b.put("top_down_transform", d, d)
    for i in range(config.depth):
        b.put(f"decoders.{i}.linear.weight", d, d)
        b.put(f"decoders.{i}.linear2.weight", d, d)


def test_every_key_lands_in_place():
    b = StateDictBuilder(seed=5)
    open_muse_layout(b, TINY)
    network_state, toast_state = convert_unlockmgm(b.state, TINY)
    network, toast = MaskGitNetwork(TINY), Toast(TINY.num_classes, TINY.width, TINY.depth)
    network.load_state_dict(network_state, strict=True)
    toast.load_state_dict(toast_state, strict=True)
    assert torch.equal(network.layers[1].attention_norm.weight, b.state["transformer_layers.1.attn_layer_norm.weight"])
    assert torch.equal(network.layers[0].intermediate.bias, b.state["transformer_layers.0.ffn.intermediate_output.bias"])
    assert torch.equal(network.layers[1].mlp_norm.bias, b.state["transformer_layers.1.ffn.layer_norm.bias"])
    assert torch.equal(network.head_bias, b.state["mlm_layer.to_logits.bias"])
    assert torch.equal(network.embedding_norm.weight, b.state["embed.embeddings_ln.weight"])
    assert torch.equal(toast.decoders[1].linear2.weight, b.state["decoders.1.linear2.weight"])
    assert torch.equal(toast.cls_anchor_gen.mlp_c.weight, b.state["cls_anchor_gen.mlp_c.weight"])


def test_untied_head_and_stray_keys_are_refused():
    b = StateDictBuilder(seed=6)
    open_muse_layout(b, TINY)
    untied = {**b.state, "mlm_layer.to_logits.weight": torch.randn_like(b.state["mlm_layer.to_logits.weight"])}
    with pytest.raises(ValueError, match="differs"):
        convert_unlockmgm(untied, TINY)
    with pytest.raises(ValueError, match="not converted"):
        convert_unlockmgm({**b.state, "encoder_layer_norm.weight": torch.ones(8)}, TINY)


def test_release_zip_and_folder_are_read(tmp_path):
    b = StateDictBuilder(seed=7)
    open_muse_layout(b, TINY)
    folder = tmp_path / "results_corr" / "ft_256_toast_cls_b256_corr" / "checkpoint-50000" / "ema_model"
    folder.mkdir(parents=True)
    torch.save(b.state, folder / "diffusion_pytorch_model.bin")
    archive = tmp_path / "UnlockMGM_imagenet_256.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(folder / "diffusion_pytorch_model.bin",
                     "results_corr/ft_256_toast_cls_b256_corr/checkpoint-50000/ema_model/diffusion_pytorch_model.bin")
    for source in (archive, folder, folder / "diffusion_pytorch_model.bin"):
        state = read_state_dict(source)
        assert state.keys() == b.state.keys()


def release_config(config: MaskGitConfig, **changes) -> dict:
    """config.json as `EMAModel.save_pretrained` writes it: the model's config, then the EMA's counters."""
    return {"_class_name": "MaskGitTransformerTOAST", "vocab_size": config.vocab_size, "hidden_size": config.width,
            "num_hidden_layers": config.depth, "num_attention_heads": config.heads,
            "intermediate_size": config.mlp_width, "max_position_embeddings": config.num_tokens + 1,
            "num_vq_tokens": config.num_tokens, "layer_norm_embeddings": True, "use_maskgit_mlp": True,
            "decay": 0.9999, "min_decay": 0.0, "optimization_step": 50000, "update_after_step": 5000,
            "use_ema_warmup": False, "inv_gamma": 1.0, "power": 2 / 3, **changes}


def test_the_ema_model_folder_that_save_pretrained_writes_is_what_is_converted(tmp_path):
    """checkpoint-50000/ holds accelerate's raw weights as pytorch_model.bin and, in ema_model/,
    the EMA weights under the same name plus config.json: the EMA copy is the one converted."""
    ema, raw = StateDictBuilder(seed=3), StateDictBuilder(seed=4)
    open_muse_layout(ema, TINY)
    open_muse_layout(raw, TINY)
    root = "results_corr/ft_256_toast_cls_b256_corr/checkpoint-50000"
    archive = tmp_path / "UnlockMGM_imagenet_256.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        for member, state in ((f"{root}/pytorch_model.bin", raw.state), (f"{root}/ema_model/pytorch_model.bin", ema.state)):
            torch.save(state, tmp_path / "blob.bin")
            handle.write(tmp_path / "blob.bin", member)
        handle.writestr(f"{root}/ema_model/config.json", json.dumps(release_config(TINY)))
        handle.writestr(f"{root}/optimizer.bin", b"not weights")
    architecture = {"codebook_size": 16, "num_classes": 5, "num_tokens": 9, "width": 8, "depth": 2, "heads": 2,
                    "mlp_width": 12, "toast": {"factors": 16}}
    network = CONVERTERS.get("unlockmgm-transformer")(archive, architecture)
    toast = CONVERTERS.get("unlockmgm-toast")(archive, architecture)
    assert torch.equal(network["word_embeddings.weight"], ema.state["embed.word_embeddings.weight"])
    assert not torch.equal(network["word_embeddings.weight"], raw.state["embed.word_embeddings.weight"])
    assert torch.equal(toast["top_down_transform"], ema.state["top_down_transform"])
    unpacked = tmp_path / "ema_model"
    unpacked.mkdir()
    torch.save(ema.state, unpacked / "pytorch_model.bin")
    (unpacked / "config.json").write_text(json.dumps(release_config(TINY, hidden_size=1024, num_hidden_layers=24)))
    with pytest.raises(ValueError, match="hidden_size=1024 .card: 8.*num_hidden_layers=24"):
        CONVERTERS.get("unlockmgm-transformer")(unpacked, architecture)


def test_imagenet_toast_has_the_published_parameter_count():
    config = MASKGIT_CONFIGS["maskgit-imagenet256"]
    with torch.device("meta"):
        toast = Toast(config.num_classes, config.width, config.depth)
    assert sum(p.numel() for p in toast.parameters()) == 41_793_808  # unlockmgm_eval.md §1.3
    assert sum(p.numel() for p in toast.cls_anchor_gen.parameters()) == 12_892_432
