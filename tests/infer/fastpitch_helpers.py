"""A tiny random FastPitch model directory (as the fastpitch task exports it), for the
Synthesizer and CLI tests."""

from __future__ import annotations

from pathlib import Path

import torch

from flowvox.models.fastpitch.config import FastPitchConfig
from flowvox.models.fastpitch.model import FastPitch
from flowvox.text import CharTokenizer, build_vocab
from flowvox.vocoders import save_vocoder

from .helpers import VOCAB_TEXTS, cheap_vocoder

SIZES = dict(enc_dim=32, enc_ffn_dim=64, dec_ffn_dim=64, pred_hidden_dim=32, dropout=0.0)
LOG_FRAMES_PER_TOKEN = 1.5  # duration predictor bias: about 4.5 frames per character


def tiny_fastpitch(vocab_size: int, seed: int = 0) -> FastPitch:
    """Random tiny FastPitch (vocos24k mel), eval mode; about 4.5 frames per token."""
    config = FastPitchConfig.preset("tiny").replace(text_vocab_size=vocab_size, **SIZES)
    torch.manual_seed(seed)
    model = FastPitch(config).eval()
    with torch.no_grad():
        model.duration_predictor.proj.bias.fill_(LOG_FRAMES_PER_TOKEN)
    return model


def tiny_fastpitch_dir(folder: Path, seed: int = 0, vocoder: bool = True) -> Path:
    """model.safetensors + config.json (family fastpitch) + vocab.txt (+ a cheap Vocos in
    vocoder/) of ``tiny_fastpitch``, written by ``save_pretrained``."""
    tokenizer = CharTokenizer(build_vocab(VOCAB_TEXTS))
    model = tiny_fastpitch(tokenizer.vocab_size, seed)
    model.save_pretrained(folder)
    tokenizer.save(folder / "vocab.txt")
    if vocoder:
        save_vocoder(folder / "vocoder", cheap_vocoder())
    return folder
