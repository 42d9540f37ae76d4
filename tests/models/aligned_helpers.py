"""Shared by the aligned scoring / reflow tests: a tiny prepared corpus and model folders."""
# n: frames, f: mel bins

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from flowvox.audio.mel import MelConfig
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.model import AlignedTTS
from flowvox.text import load_vocab
from tests.models.task_helpers import ToneCorpus

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
    return ToneCorpus(texts, test_texts, seconds=0.3).prepare(root)


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
