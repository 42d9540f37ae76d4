"""What a benchmark runs: a Synthesizer from a model folder, or from a preset with random
weights (speed does not depend on the values), and the vocoder it names."""

from __future__ import annotations

import copy
import string
from dataclasses import dataclass

import torch
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer
from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.text import CharTokenizer, build_vocab
from flowvox.vocoders import Vocos, VocosConfig
from flowvox.vocoders.griffin_lim import griffin_lim_vocoder
from flowvox.vocoders.io import load_vocoder

VOCODER_NAMES = {
    "vocos-size": "Vocos of the released vocos-mel-24khz size (13.5 M, random weights)",
    "griffin-lim": "Griffin-Lim (32 iterations)",
}


@dataclass
class Built:
    synth: Synthesizer
    name: str  # what the report calls the model
    vocoder_name: str
    sample_rate: int

    def trainable(self) -> nn.Module:
        """A copy of the acoustic model for the training benchmark (the Synthesizer's stays
        untouched)."""
        return copy.deepcopy(self.synth.model)


def random_infill(preset: str, vocab_size: int) -> nn.Module:
    """The infill preset with random weights, all moved off their init (AdaLN-zero layers
    would otherwise output zeros and skip no work, but keep the figures honest)."""

    config = InfillTTSConfig.preset(preset, [f"text_vocab_size={vocab_size}"])
    torch.manual_seed(0)
    model = InfillTTS(config).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.02)
    return model


def _vocoder(name: str, mel) -> nn.Module | str:

    if name == "vocos-size":
        torch.manual_seed(0)
        return Vocos(VocosConfig(mel=mel)).eval()
    if name == "griffin-lim":
        return griffin_lim_vocoder(mel)
    return name  # a vocoder folder


def build_synthesizer(
    model_dir: str | None, preset: str, vocoder: str, device: str = "cpu"
) -> Built:
    """A Synthesizer for ``model_dir`` (any family), else for ``preset`` "infill:NAME"."""
    if model_dir is not None:
        synth = Synthesizer.from_pretrained(model_dir, "griffin-lim", device)
        voc = _vocoder(vocoder, synth.mel_config)
        if isinstance(voc, str):
            synth = Synthesizer.from_pretrained(model_dir, voc, device)
        else:
            synth.vocoder = voc.to(device)
        name = f"{model_dir} (trained weights)"
    else:
        family, _, size = preset.partition(":")
        if family != "infill" or not size:
            raise FlowvoxError(
                f"--preset {preset!r}: random-weight presets are infill:tiny|small|base "
                "(aligned models need trained durations: pass --model DIR)"
            )

        tokenizer = CharTokenizer(
            build_vocab([string.ascii_letters + string.digits + " .,;:!?'-\"()"])
        )
        model = random_infill(size, tokenizer.vocab_size).to(device)
        voc = _vocoder(vocoder, model.config.mel)
        if isinstance(voc, str):
            voc = load_vocoder(voc, device=device, expect_mel=model.config.mel)
        synth = Synthesizer(model, tokenizer, voc.to(device))
        params = sum(p.numel() for p in model.parameters())
        name = (
            f"flowvox/configs/infill/{size}.yaml, {params / 1e6:.2f} M parameters, random weights"
        )
    vocoder_name = VOCODER_NAMES.get(vocoder, f"{vocoder} (trained weights)")
    return Built(synth, name, vocoder_name, synth.mel_config.sample_rate)
