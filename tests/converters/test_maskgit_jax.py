"""Synthetic checkpoints in the official JAX MaskGIT layout (names and shapes from the
parameter listings in ../shared/spec/maskgit.md §1.2, §2), written as Flax msgpack, converted,
loaded strictly, and checked value by value and against a NumPy forward of the JAX layout."""

import numpy as np
import pytest
import torch

from reimpl.convert.common import UnconsumedKeysError
from reimpl.convert.flax_msgpack import read_flax_msgpack, write_flax_msgpack
from reimpl.convert.maskgit_jax import convert_maskgit_jax_tokenizer, convert_maskgit_jax_transformer
from reimpl.networks.maskgit import MaskGitNetwork
from reimpl.tokenizers.vqgan import VQGAN_CONFIGS, VQGANConfig, VQGANTokenizer

RNG = np.random.default_rng(0)


def arr(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def jax_tokenizer_tree(config: VQGANConfig) -> dict:
    widths, n = config.widths(), config.num_res_blocks

    def resblock(c_in, c_out):
        block = {"GroupNorm_0": {"scale": arr(c_in), "bias": arr(c_in)}, "Conv_0": {"kernel": arr(3, 3, c_in, c_out)},
                 "GroupNorm_1": {"scale": arr(c_out), "bias": arr(c_out)}, "Conv_1": {"kernel": arr(3, 3, c_out, c_out)}}
        if c_in != c_out:
            block["Conv_2"] = {"kernel": arr(1, 1, c_out, c_out)}  # the official out->out shortcut
        return block

    encoder = {"Conv_0": {"kernel": arr(3, 3, 3, widths[0])}}
    c_in, k = widths[0], 0
    for width in widths:
        for _ in range(n):
            encoder[f"ResBlock_{k}"] = resblock(c_in, width)
            c_in, k = width, k + 1
    for _ in range(n):
        encoder[f"ResBlock_{k}"] = resblock(c_in, c_in)
        k += 1
    encoder["GroupNorm_0"] = {"scale": arr(c_in), "bias": arr(c_in)}
    encoder["Conv_1"] = {"kernel": arr(1, 1, c_in, config.embedding_dim), "bias": arr(config.embedding_dim)}
    decoder = {"Conv_0": {"kernel": arr(3, 3, config.embedding_dim, widths[-1]), "bias": arr(widths[-1])}}
    k = 0
    for _ in range(n):
        decoder[f"ResBlock_{k}"] = resblock(widths[-1], widths[-1])
        k += 1
    c_in = widths[-1]
    for level in reversed(range(len(widths))):
        for _ in range(n):
            decoder[f"ResBlock_{k}"] = resblock(c_in, widths[level])
            c_in, k = widths[level], k + 1
    for i, level in enumerate(reversed(range(1, len(widths))), start=1):
        decoder[f"Conv_{i}"] = {"kernel": arr(3, 3, widths[level], widths[level]), "bias": arr(widths[level])}
    decoder[f"Conv_{len(widths)}"] = {"kernel": arr(3, 3, widths[0], 3), "bias": arr(3)}
    decoder["GroupNorm_0"] = {"scale": arr(widths[0]), "bias": arr(widths[0])}
    return {"params": {"encoder": encoder, "decoder": decoder,
                       "quantizer": {"codebook": arr(config.codebook_size, config.embedding_dim)}}}


def jax_transformer_tree(vocab, positions, width, heads, mlp, depth) -> dict:
    hd = width // heads
    ln = lambda: {"scale": arr(width), "bias": arr(width)}  # noqa: E731
    params = {"Embed_0": {"word_embeddings": {"embedding": arr(vocab, width)},
                          "position_embeddings": {"embedding": arr(positions, width)}, "embeddings_ln": ln()}}
    for i in range(depth):
        attention = {name: {"kernel": arr(width, heads, hd), "bias": arr(heads, hd)} for name in ("query", "key", "value")}
        attention["out"] = {"kernel": arr(heads, hd, width), "bias": arr(width)}
        params[f"TransformerLayer_{i}"] = {
            "Attention_0": {"self_attention": attention, "attention_output_ln": ln()},
            "Mlp_0": {"intermediate_output": {"kernel": arr(width, mlp), "bias": arr(mlp)},
                      "layer_output": {"kernel": arr(mlp, width), "bias": arr(width)}, "layer_output_ln": ln()},
        }
    params["MlmLayer_0"] = {"mlm_dense": {"kernel": arr(width, width), "bias": arr(width)}, "mlm_ln": ln(),
                            "mlm_bias": {"bias": arr(vocab)}}
    return {"params": params}


def test_tokenizer_official_layout_loads_strictly_with_values_in_place(tmp_path):
    config = VQGAN_CONFIGS["maskgit-f16-1024"]
    tree = jax_tokenizer_tree(config)
    path = tmp_path / "tokenizer_imagenet256_checkpoint"
    write_flax_msgpack(tree, path)
    state = convert_maskgit_jax_tokenizer(path, config)
    assert len(state) == 168
    tokenizer = VQGANTokenizer(config)
    tokenizer.load_state_dict(state, strict=True)  # no missing, no unexpected keys
    p = tree["params"]
    # HWIO -> OIHW, the shortcut in its quirky place, decoder level order, upsampling convs.
    kernel = p["encoder"]["ResBlock_4"]["Conv_2"]["kernel"]
    assert torch.equal(state["encoder.down.2.block.0.nin_shortcut.weight"][5, 7, 0, 0], torch.tensor(kernel[0, 0, 7, 5]))
    kernel = p["decoder"]["ResBlock_2"]["Conv_0"]["kernel"]  # first block of the coarsest level
    assert torch.equal(state["decoder.up.4.block.0.conv1.weight"][3, 2, 1, 0], torch.tensor(kernel[1, 0, 2, 3]))
    assert torch.equal(state["decoder.up.4.upsample_conv.bias"], torch.tensor(p["decoder"]["Conv_1"]["bias"]))
    assert torch.equal(state["decoder.up.1.upsample_conv.bias"], torch.tensor(p["decoder"]["Conv_4"]["bias"]))
    assert torch.equal(state["encoder.norm_out.weight"], torch.tensor(p["encoder"]["GroupNorm_0"]["scale"]))


def test_unexpected_keys_fail_loudly(tmp_path):
    config = VQGANConfig(base_filters=8, channel_multipliers=(1, 2), num_res_blocks=1, embedding_dim=4,
                         codebook_size=16, norm_groups=4)
    tree = jax_tokenizer_tree(config)
    tree["params"]["encoder"]["Mystery_0"] = {"kernel": arr(2)}
    with pytest.raises(UnconsumedKeysError, match="Mystery_0"):
        convert_maskgit_jax_tokenizer(tree, config)


def numpy_reference_forward(params: dict, sequence: np.ndarray, heads: int) -> np.ndarray:
    """The Flax MaskGIT transformer written directly against the JAX parameter layout."""
    def ln(x, p):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * p["scale"] + p["bias"]

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))

    embed = params["Embed_0"]
    x = embed["word_embeddings"]["embedding"][sequence] + embed["position_embeddings"]["embedding"][: sequence.shape[1]]
    x = ln(x, embed["embeddings_ln"])
    depth = len([k for k in params if k.startswith("TransformerLayer_")])
    for i in range(depth):
        layer = params[f"TransformerLayer_{i}"]
        att = layer["Attention_0"]["self_attention"]
        q, k, v = (np.einsum("bld,dhe->bhle", x, att[n]["kernel"]) + att[n]["bias"][None, :, None, :]
                   for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1])
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        mixed = np.einsum("bhle,hed->bld", weights @ v, att["out"]["kernel"]) + att["out"]["bias"]
        x = ln(x + mixed, layer["Attention_0"]["attention_output_ln"])
        mlp = layer["Mlp_0"]
        hidden = gelu(x @ mlp["intermediate_output"]["kernel"] + mlp["intermediate_output"]["bias"])
        x = ln(x + hidden @ mlp["layer_output"]["kernel"] + mlp["layer_output"]["bias"], mlp["layer_output_ln"])
    head = params["MlmLayer_0"]
    x = ln(gelu(x @ head["mlm_dense"]["kernel"] + head["mlm_dense"]["bias"]), head["mlm_ln"])
    return x @ embed["word_embeddings"]["embedding"].T + head["mlm_bias"]["bias"]


def test_transformer_round_trip_matches_a_numpy_forward_of_the_jax_layout(tmp_path):
    codebook, classes, tokens, width, heads = 16, 4, 9, 32, 4
    vocab = codebook + classes + 1
    tree = jax_transformer_tree(vocab, tokens + 1, width, heads, 48, depth=2)
    path = tmp_path / "maskgit_tiny_checkpoint"
    write_flax_msgpack(tree, path)
    state, config = convert_maskgit_jax_transformer(path, codebook_size=codebook, num_classes=classes, dropout=0.0)
    assert (config.heads, config.depth, config.num_tokens, config.mask_token_id) == (4, 2, 9, vocab - 1)
    network = MaskGitNetwork(config)
    network.load_state_dict(state, strict=True)
    network.eval()
    sequence = np.concatenate([[[codebook + 2]], RNG.integers(0, vocab, size=(1, tokens))], axis=1)
    expected = numpy_reference_forward(read_flax_msgpack(path)["params"], sequence, heads)
    with torch.no_grad():
        ours = network.forward_sequence(torch.from_numpy(sequence)).double().numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def test_official_transformer_shapes_give_the_official_config():
    shapes = jax_transformer_tree(2025, 257, 768, 16, 3072, depth=1)["params"]  # one layer of the real sizes
    from reimpl.convert.common import flatten
    from reimpl.convert.maskgit_jax import infer_transformer_config

    config = infer_transformer_config(flatten(shapes), depth=24)
    assert (config.heads, config.width, config.mlp_width, config.num_tokens, config.vocab_size) == (16, 768, 3072, 256, 2025)
