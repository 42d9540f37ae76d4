"""Helpers for the Synthesizer tests: a tiny random model directory, clips, stand-ins."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.text import CharTokenizer, build_vocab, phonemize
from flowvox.vocoders import Vocos, VocosConfig

SR = 24000
REF_TEXT = "a short reference clip."
VOCAB_TEXTS = ["abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?'-0123456789"]
PHONEME_TEXTS = [
    "Hello there, a short reference clip.",
    "The quick brown fox jumps over the lazy dog; she sells sea shells by the shore!",
]


def speech_like(seconds: float, sample_rate: int = SR, seed: int = 0) -> np.ndarray:
    """Syllable-like bursts of harmonics (4 per second) with quiet gaps, peak about 0.3."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * sample_rate)) / sample_rate
    f0 = 120 + 20 * np.sin(2 * np.pi * 0.5 * t)
    voice = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / sample_rate) / k for k in range(1, 6))
    envelope = np.clip(np.sin(2 * np.pi * 2 * t), 0, None) ** 2  # 4 bursts/s, gaps between
    noise = 0.003 * rng.standard_normal(len(t))
    wav = 0.3 * voice * envelope / 2.3 + noise
    return wav.astype(np.float32)


def tiny_model_dir(folder: Path, seed: int = 0, phonemes: str | None = None) -> Path:
    """model.safetensors + config.json (run-config layout) + vocab.txt of a random tiny DiT;
    with ``phonemes`` (a language, e.g. "en-us") a phoneme model (tokenizer
    "phoneme:<language>", vocab over the IPA of PHONEME_TEXTS; needs espeak-ng)."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = VOCAB_TEXTS if phonemes is None else phonemize(PHONEME_TEXTS, phonemes)
    tokenizer = CharTokenizer(build_vocab(texts))
    tokenizer.save(folder / "vocab.txt")
    config = InfillTTSConfig.preset("tiny", [f"text_vocab_size={tokenizer.vocab_size}"])
    if phonemes is not None:
        config = dataclasses.replace(config, tokenizer=f"phoneme:{phonemes}")
    torch.manual_seed(seed)
    model = InfillTTS(config).eval()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # replace the zero-initialised output layers: outputs depend on input
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.05)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / "model.safetensors")
    run = {"task": "infill_tts", "out_dir": str(folder), "model": config.to_dict()}
    (folder / "config.json").write_text(json.dumps(run), encoding="utf-8")
    return folder


def cheap_vocoder() -> Vocos:
    """A random one-layer Vocos for vocos24k: fast and smooth in its input (so batched and
    single results agree to float tolerance, unlike Griffin-Lim's phase iterations)."""
    torch.manual_seed(0)
    return Vocos(VocosConfig(dim=32, hidden_dim=64, num_layers=1)).eval()


class CountingTranscriber:
    """Stands in for pocketsphinx: records calls, returns a fixed transcript."""

    def __init__(self, text: str = "hello from the transcriber") -> None:
        self.text = text
        self.calls = 0

    def __call__(self, wav: np.ndarray, sample_rate: int) -> str:
        self.calls += 1
        return self.text
