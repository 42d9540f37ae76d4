"""One set of random weights in two implementations: the released f5-tts ``CFM``+``DiT`` and
flowvox's ``InfillTTS``, built for the side-by-side benchmark.

# b: batch, n: mel frames, f: mel bins
The f5-tts model is built from its package at a given shape and seed; the layers F5 starts
at zero (AdaLN modulations, the final norm and projection) are then filled with N(0, 0.05²)
from a seeded generator, since a zero output layer would make every comparison trivially
equal. Its state dict is written in the F5 release format (flat EMA dict: ``ema_model.`` +
the CFM keys, plus ``initted`` and ``step``; safetensors, fp32) and read back by both sides:
f5-tts through the mapping its ``load_checkpoint`` applies, flowvox through a model
directory (config.json + vocab.txt + model.safetensors) loaded with ``load_infill_model``.

RELEASE-FORMAT MAPPING (``release_to_flowvox_dir``): flowvox has no reader of F5 release
files yet; the mapping below (drop ``initted``/``step``, strip ``ema_model.``, drop any
``mel_spec.`` buffers, keep ``transformer.*`` as is) lives here only until issue 8 adds it
as ``flowvox convert f5``.
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
    )
    mel_spec_kwargs = dict(
        n_fft=1024,
        hop_length=256,
        win_length=1024,
        n_mel_channels=100,
        target_sample_rate=24000,
        mel_spec_type="vocos",
    )
    vocab_map = {c: i for i, c in enumerate(VOCAB)}
    cfm = f5_model.CFM(transformer=dit, mel_spec_kwargs=mel_spec_kwargs, vocab_char_map=vocab_map)
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
    from safetensors.torch import load_file

    state = load_file(str(path))
    state = {
        k.replace("ema_model.", ""): v for k, v in state.items() if k not in RELEASE_EXTRA_KEYS
    }
    cfm.load_state_dict(state)


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
        text_vocab_size=len(VOCAB),
        dropout=dropout,
        hide_padding=hide_padding,
        mel="vocos24k",
        tokenizer="char",
        vocab_file="vocab.txt",
    )


def release_to_flowvox_dir(release: Path, config: InfillTTSConfig, out_dir: Path) -> Path:
    """RELEASE-FORMAT MAPPING (benchmark-only; issue 8 moves it to ``flowvox convert f5``):
    F5 release safetensors -> flowvox model directory."""
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
    (out_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    return out_dir


def load_flowvox(directory: Path) -> LoadedInfillModel:
    """flowvox's model (eval mode, CPU), config and tokenizer from its directory."""
    return load_infill_model(directory)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
