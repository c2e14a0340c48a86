"""Converters from official checkpoint layouts to this package's state dicts. Each one
consumes every source key or lists it as ignored with a reason; anything else is an error."""


from reimpl.registry import Registry

# converter name (as in checkpoints.yaml `converter:`) -> fn(source path, architecture) -> state dict
CONVERTERS: Registry = Registry("converter")


def _register_builtin() -> None:
    from pathlib import Path

    import torch

    def maskgit_jax_tokenizer(path: Path, architecture: dict) -> dict:
        from reimpl.convert.maskgit_jax import convert_maskgit_jax_tokenizer
        from reimpl.tokenizers.vqgan import build_vqgan

        return convert_maskgit_jax_tokenizer(path, build_vqgan(architecture).config)

    def maskgit_jax_transformer(path: Path, architecture: dict) -> dict:
        from reimpl.convert.maskgit_jax import convert_maskgit_jax_transformer
        from reimpl.models.maskgit import network_config

        config = network_config(architecture)
        state, _ = convert_maskgit_jax_transformer(
            path, codebook_size=config.codebook_size, num_classes=config.num_classes, null_class=config.null_class
        )
        return state

    def maskgit_torch_port(path: Path, architecture: dict) -> dict:
        from reimpl.convert.maskgit_torch_port import convert_maskgit_torch_port
        from reimpl.tokenizers.vqgan import build_vqgan

        state = torch.load(path, map_location="cpu", weights_only=True)
        return convert_maskgit_torch_port(state, build_vqgan(architecture).config)

    CONVERTERS.add("maskgit-jax-tokenizer", maskgit_jax_tokenizer)
    CONVERTERS.add("maskgit-jax-transformer", maskgit_jax_transformer)
    CONVERTERS.add("maskgit-torch-port", maskgit_torch_port)


_register_builtin()


def _register_taming() -> None:
    import torch

    def taming_lightning(path, architecture: dict) -> dict:
        from reimpl.convert.taming import convert_taming_lightning
        from reimpl.tokenizers.taming_vqgan import build_taming_vqgan

        checkpoint = torch.load(path, map_location="cpu", weights_only=False)  # Lightning pickles hyper-parameters
        return convert_taming_lightning(checkpoint, build_taming_vqgan(architecture).config)

    def llamagen(path, architecture: dict) -> dict:
        from reimpl.convert.llamagen import convert_llamagen_vq
        from reimpl.tokenizers.taming_vqgan import build_taming_vqgan

        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        return convert_llamagen_vq(checkpoint, build_taming_vqgan(architecture).config)

    CONVERTERS.add("taming-lightning", taming_lightning)
    CONVERTERS.add("llamagen-vq", llamagen)


_register_taming()


def _register_mage() -> None:
    import torch

    def load(path):
        # Official files are plain dicts of tensors (plus epoch / args in fine-tuned ones).
        return torch.load(path, map_location="cpu", weights_only=False)

    def mage_torch(path, architecture: dict) -> dict:
        from reimpl.convert.mage_torch import convert_mage_checkpoint
        from reimpl.models.mage import network_config

        return convert_mage_checkpoint(load(path), network_config(architecture)).network

    def mage_vqgan(path, architecture: dict) -> dict:
        from reimpl.convert.mage_torch import convert_mage_vqgan
        from reimpl.tokenizers.vqgan import build_vqgan

        return convert_mage_vqgan(load(path), build_vqgan(architecture).config)

    CONVERTERS.add("mage-torch", mage_torch)
    CONVERTERS.add("mage-vqgan", mage_vqgan)


_register_mage()


def _register_unlockmgm() -> None:
    def split(path, architecture: dict) -> tuple[dict, dict]:
        from reimpl.convert.unlockmgm import check_release_config, convert_unlockmgm, read_release
        from reimpl.models.maskgit import network_config
        from reimpl.models.unlockmgm import toast_config

        config = network_config({k: v for k, v in architecture.items() if k != "toast"})
        state, release_config = read_release(path)
        check_release_config(release_config, config)
        return convert_unlockmgm(state, config, toast_config(architecture))

    CONVERTERS.add("unlockmgm-transformer", lambda path, architecture: split(path, architecture)[0])
    CONVERTERS.add("unlockmgm-toast", lambda path, architecture: split(path, architecture)[1])


_register_unlockmgm()


def _register_mar() -> None:
    import torch

    def load(path):
        # training checkpoints pickle an argparse namespace under 'args'
        return torch.load(path, map_location="cpu", weights_only=False)

    def mar_torch(path, architecture: dict) -> dict:
        from reimpl.convert.mar_torch import convert_mar_checkpoint
        from reimpl.models.mar import network_config

        return convert_mar_checkpoint(load(path), network_config(architecture))

    def kl_vae(path, architecture: dict) -> dict:
        from reimpl.convert.mar_torch import convert_kl_vae
        from reimpl.tokenizers.kl_vae import build_kl_vae

        return convert_kl_vae(load(path), build_kl_vae(architecture).config)

    CONVERTERS.add("mar-torch", mar_torch)  # MAR and eMIGM files alike; the card's architecture decides
    CONVERTERS.add("kl-vae-ldm", kl_vae)


_register_mar()
