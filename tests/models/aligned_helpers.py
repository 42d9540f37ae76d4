"""Shared by the aligned scoring / reflow tests: a tiny prepared corpus and model folders."""
# n: frames, f: mel bins

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from flowvox.audio.mel import MelConfig
from flowvox.data import prepare_dataset
from flowvox.models.aligned_config import AlignedTTSConfig
from flowvox.models.aligned_tts import AlignedTTS
from flowvox.text import load_vocab

F = 4
MEL4 = MelConfig("tiny4", 24000, 1024, 256, 1024, F)
SIZES = dict(enc_dim=32, enc_ffn_dim=64, dur_hidden_dim=32, dim=32, heads=2, dim_head=16)
TRAIN_TEXTS = ["a cat", "dogs run", "we sing", "ok go", "hi"]


def tiny_config(vocab: int = 8, mel: MelConfig | str = MEL4, **changes) -> AlignedTTSConfig:
    config = AlignedTTSConfig.preset("tiny").replace(mel=mel, text_vocab_size=vocab, **SIZES)
    return config.replace(**changes)


def random_model(config: AlignedTTSConfig, seed: int = 0, scale: float = 0.2, dtype=torch.float64):
    """Random weights everywhere (the zero-initialised output layers too), eval mode."""
    torch.manual_seed(seed)
    model = AlignedTTS(config).to(dtype)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * scale)
    return model.eval()


def make_prepared(root: Path, texts=TRAIN_TEXTS, test_texts=("held out", "go")) -> Path:
    """Tones + noise of 0.3-0.5 s for each text (train, test), prepared with vocos24k."""
    rng = np.random.default_rng(0)
    manifest = root / "manifest.jsonl"
    with manifest.open("w") as fh:
        for split, split_texts in (("train", texts), ("test", test_texts)):
            folder = root / "corpus" / split
            folder.mkdir(parents=True)
            for i, text in enumerate(split_texts):
                s = int(24000 * (0.3 + 0.05 * i))
                tone = np.sin(2 * np.pi * (200 + 40 * i) * np.arange(s) / 24000)
                wav = folder / f"u{i}.wav"
                noisy = 0.3 * tone + 0.05 * rng.standard_normal(s)
                sf.write(wav, noisy.astype(np.float32), 24000)
                line = {"audio": str(wav), "text": text, "speaker": "spk", "split": split}
                fh.write(json.dumps(line) + "\n")
    out = root / "prepared"
    prepare_dataset(manifest, out, workers=1, progress=False)
    return out


def export_model(folder: Path, prepared: Path, seed: int = 0, scale: float = 0.2, **changes):
    """A model folder (random weights, float32) readable by ``load_aligned_model``."""
    vocab = len(load_vocab(prepared / "vocab.txt"))
    config = tiny_config(vocab, mel="vocos24k", **changes)
    model = random_model(config, seed, scale, torch.float32)
    folder.mkdir(parents=True)
    save_file(model.state_dict(), str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    shutil.copy(prepared / "vocab.txt", folder / "vocab.txt")
    return folder


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread; two threads on a loaded 2-core box crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
