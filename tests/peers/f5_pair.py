"""One set of random weights in two implementations: the released f5-tts ``CFM`` (around its
``DiT`` or E2's ``UNetT``) and flowvox's ``InfillTTS``, for the side-by-side benchmark and
the equivalence tests.

# b: batch, n: mel frames, f: mel bins
The f5-tts model is built from its package at a given shape and seed; the layers F5 starts
at zero (AdaLN modulations, the final norm and projection) are then filled with N(0, 0.05²)
from a seeded generator, since a zero output layer would make every comparison trivially
equal. Its weights reach flowvox two ways:

- as f5-tts writes them (``trainer_checkpoint``): f5-tts's own ``Trainer`` (EMA from
  ``ema_pytorch``) takes a few optimiser steps and ``save_checkpoint`` writes
  ``model_<update>.pt``; ``prune_to_release`` turns it into a ``.safetensors`` release as
  f5-tts's fine-tuning app does. ``flowvox convert f5`` reads either; f5-tts reads them
  through ``load_like_f5``, a copy of its ``infer.utils_infer.load_checkpoint`` (that module
  imports transformers, pydub and vocos, which the peers venv does not install).
- written by hand (``save_release``, ``release_to_flowvox_dir``): a flat EMA dict
  (``ema_model.`` + the CFM keys, ``initted``, ``step``) and a model folder with a config
  chosen by the caller (e.g. ``hide_padding=False``), for the benchmark. The converter
  derives the config from the tensors instead and always writes ``hide_padding=True``.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from flowvox.models.infill.config import InfillTTSConfig
from flowvox.models.infill.load import LoadedInfillModel, load_infill_model

# F5 char vocab layout: line 0 is a single space; line index = token id.
VOCAB: tuple[str, ...] = tuple(" " + string.ascii_letters + ".,'?!-")
RELEASE_EXTRA_KEYS = ("initted", "step")


@dataclass(frozen=True)
class PairShape:
    """DiT shape shared by both implementations (F5 v1: mask fillers, RoPE on all heads)."""

    name: str
    dim: int
    depth: int
    heads: int
    text_dim: int
    conv_layers: int
    dim_head: int = 64
    ff_mult: int = 2
    long_skip: bool = False

    def describe(self) -> str:
        return (
            f"dim {self.dim}, depth {self.depth}, heads {self.heads}x{self.dim_head}, "
            f"ff_mult {self.ff_mult}, text_dim {self.text_dim}, conv_layers {self.conv_layers}"
        )


SHAPES = {
    "tiny": PairShape("tiny", dim=256, depth=4, heads=4, text_dim=128, conv_layers=2),
    # v1_Small's width (768, 12 heads, text 512, 4 ConvNeXt blocks) at 6 of its 18 layers
    "small6": PairShape("small6", dim=768, depth=6, heads=12, text_dim=512, conv_layers=4),
}


@dataclass(frozen=True)
class E2Shape:
    """UNetT shape. v0 is the official E2 (no filler masking, RoPE on head 0); text_dim None
    is the mel width, as in the E2 configs."""

    dim: int
    depth: int
    heads: int
    dim_head: int
    version: str = "v0"
    text_dim: int | None = None
    conv_layers: int = 0
    ff_mult: int = 4


def build_f5(f5_model, shape: PairShape, seed: int, dropout: float = 0.1) -> nn.Module:
    """f5-tts ``CFM(DiT)`` with the char vocab, seeded weights, zero-init layers filled."""
    torch.manual_seed(seed)
    dit = f5_model.DiT(
        dim=shape.dim,
        depth=shape.depth,
        heads=shape.heads,
        dim_head=shape.dim_head,
        ff_mult=shape.ff_mult,
        dropout=dropout,
        mel_dim=100,
        text_num_embeds=len(VOCAB),
        text_dim=shape.text_dim,
        text_mask_padding=True,  # v1
        conv_layers=shape.conv_layers,
        pe_attn_head=None,  # v1: RoPE on all heads
        long_skip_connection=shape.long_skip,
    )
    return wrap_cfm(f5_model, dit, seed)


def build_f5_e2(f5_model, shape: E2Shape, seed: int) -> nn.Module:
    """f5-tts ``CFM(UNetT)`` with the char vocab and seeded weights; the RMSNorm gains (which
    start at one) get N(0, 0.05²) added so a swapped norm would show."""
    torch.manual_seed(seed)
    unet = f5_model.UNetT(
        dim=shape.dim,
        depth=shape.depth,
        heads=shape.heads,
        dim_head=shape.dim_head,
        ff_mult=shape.ff_mult,
        mel_dim=100,
        text_num_embeds=len(VOCAB),
        text_dim=shape.text_dim,
        text_mask_padding=shape.version == "v1",
        conv_layers=shape.conv_layers,
        pe_attn_head=None if shape.version == "v1" else 1,
    )
    cfm = wrap_cfm(f5_model, unet, seed)
    generator = torch.Generator().manual_seed(seed + 2)
    with torch.no_grad():
        for name, param in sorted(cfm.named_parameters()):
            if name.endswith(".g"):
                param.add_(torch.randn(param.shape, generator=generator) * 0.05)
    return cfm


def wrap_cfm(f5_model, transformer: nn.Module, seed: int) -> nn.Module:
    """f5-tts ``CFM`` around ``transformer`` (vocos mel, char vocab of VOCAB); parameters that
    are all zero are filled with N(0, 0.05²) from ``seed + 1``."""
    mel_spec_kwargs = dict(
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        n_mel_channels=100,
        target_sample_rate=24000,
        mel_spec_type="vocos",
    )
    vocab_map = {c: i for i, c in enumerate(VOCAB)}
    cfm = f5_model.CFM(
        transformer=transformer, mel_spec_kwargs=mel_spec_kwargs, vocab_char_map=vocab_map
    )
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for _, param in sorted(cfm.named_parameters()):
            if not param.any():
                param.normal_(0.0, 0.05, generator=generator)
    return cfm


def save_release(cfm: nn.Module, path: Path) -> None:
    """Write ``cfm``'s weights as an F5 release file (flat EMA dict, safetensors, fp32)."""
    from safetensors.torch import save_file

    state = {f"ema_model.{k}": v.detach().float().contiguous() for k, v in cfm.state_dict().items()}
    state["initted"] = torch.tensor(True)
    state["step"] = torch.tensor(0)
    save_file(state, str(path))


def load_release_into_f5(cfm: nn.Module, path: Path) -> None:
    """What f5-tts ``load_checkpoint(use_ema=True)`` does with a .safetensors release file."""
    load_like_f5(cfm, path, use_ema=True)


def load_like_f5(cfm: nn.Module, path: Path, use_ema: bool = True) -> nn.Module:
    """f5-tts 1.1.22 ``infer.utils_infer.load_checkpoint`` on CPU in fp32, step by step."""
    from safetensors.torch import load_file

    ckpt_type = str(path).split(".")[-1]
    if ckpt_type == "safetensors":
        checkpoint = load_file(str(path), device="cpu")
    else:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    if use_ema:
        if ckpt_type == "safetensors":
            checkpoint = {"ema_model_state_dict": checkpoint}
        checkpoint["model_state_dict"] = {
            k.replace("ema_model.", ""): v
            for k, v in checkpoint["ema_model_state_dict"].items()
            if k not in ["initted", "step"]
        }
        for key in ["mel_spec.mel_stft.mel_scale.fb", "mel_spec.mel_stft.spectrogram.window"]:
            if key in checkpoint["model_state_dict"]:
                del checkpoint["model_state_dict"][key]
        cfm.load_state_dict(checkpoint["model_state_dict"])
    else:
        if ckpt_type == "safetensors":
            checkpoint = {"model_state_dict": checkpoint}
        cfm.load_state_dict(checkpoint["model_state_dict"])
    return cfm.eval()


def trainer_checkpoint(f5_model, cfm: nn.Module, folder: Path, updates: int = 4) -> Path:
    """``model_<updates>.pt`` written by f5-tts's own ``Trainer.save_checkpoint`` after
    ``updates`` optimiser steps on random mels, each followed by the EMA update, as its
    training loop does (``accelerator.backward``, clip, ``optimizer.step``, ``scheduler.step``,
    ``ema_model.update``). The EMA starts averaging at once (``update_after_step=0``, the
    default waits 100 updates), so its weights differ from the raw ones."""
    from torch.optim.lr_scheduler import LinearLR, SequentialLR

    trainer = f5_model.Trainer(
        cfm, epochs=1, learning_rate=1e-3, logger=None, checkpoint_path=str(folder),
        ema_kwargs=dict(update_after_step=0, update_every=1),
    )  # fmt: skip
    warmup = LinearLR(trainer.optimizer, start_factor=0.1, end_factor=1.0, total_iters=1)
    decay = LinearLR(trainer.optimizer, start_factor=1.0, end_factor=1e-8, total_iters=10)
    schedule = SequentialLR(trainer.optimizer, [warmup, decay], milestones=[1])
    trainer.scheduler = trainer.accelerator.prepare(schedule)
    generator = torch.Generator().manual_seed(0)
    mel = torch.randn(2, 60, 100, generator=generator) - 4.0  # (b, n, f) log-mel-like
    text, lens = ["Hello there.", "General Kenobi!"], torch.tensor([60, 48])
    for _ in range(updates):
        with trainer.accelerator.accumulate(trainer.model):
            loss, _, _ = trainer.model(mel, text=text, lens=lens)
            trainer.accelerator.backward(loss)
            trainer.accelerator.clip_grad_norm_(trainer.model.parameters(), trainer.max_grad_norm)
            trainer.optimizer.step()
            trainer.scheduler.step()
            trainer.optimizer.zero_grad()
        trainer.ema_model.update()
    trainer.save_checkpoint(updates)
    return folder / f"model_{updates}.pt"


def prune_to_release(checkpoint: Path, release: Path) -> Path:
    """The EMA weights of a training checkpoint as a .safetensors release: f5-tts's
    ``train.finetune_gradio.prune_checkpoint(save_ema=True, safetensors=True)``."""
    from safetensors.torch import save_file

    state = torch.load(str(checkpoint), weights_only=True)["ema_model_state_dict"]
    save_file(state, str(release))
    return release


def write_vocab(path: Path) -> Path:
    """VOCAB as an F5 vocab.txt (line i is token i)."""
    path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return path


def flowvox_config(shape: PairShape, hide_padding: bool, dropout: float = 0.1) -> InfillTTSConfig:
    """The flowvox config of ``shape`` (v1 DiT, vocos24k mel, char vocab of VOCAB)."""
    return InfillTTSConfig(
        backbone="dit",
        version="v1",
        dim=shape.dim,
        depth=shape.depth,
        heads=shape.heads,
        dim_head=shape.dim_head,
        ff_mult=float(shape.ff_mult),
        text_dim=shape.text_dim,
        conv_layers=shape.conv_layers,
        long_skip=shape.long_skip,
        text_vocab_size=len(VOCAB),
        dropout=dropout,
        hide_padding=hide_padding,
        mel="vocos24k",
        tokenizer="char",
        vocab_file="vocab.txt",
    )


def release_to_flowvox_dir(release: Path, config: InfillTTSConfig, out_dir: Path) -> Path:
    """F5 release safetensors -> flowvox model directory with the caller's ``config`` (the
    benchmark's hand-built mapping; ``flowvox convert f5`` infers the config instead)."""
    from safetensors.torch import load_file, save_file

    state = load_file(str(release))
    mapped = {}
    for key, value in state.items():
        if key in RELEASE_EXTRA_KEYS:
            continue
        key = key.removeprefix("ema_model.")
        if key.startswith("mel_spec."):
            continue
        mapped[key] = value
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(mapped, str(out_dir / "model.safetensors"))
    (out_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=1), encoding="utf-8")
    write_vocab(out_dir / "vocab.txt")
    return out_dir


def load_flowvox(directory: Path) -> LoadedInfillModel:
    """flowvox's model (eval mode, CPU), config and tokenizer from its directory."""
    return load_infill_model(directory)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
