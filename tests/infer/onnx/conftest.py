"""Fixtures of the ONNX tests: a tiny aligned model folder (vocos24k mel, a cheap Vocos
inside, one named voice, sampling defaults) and a reference clip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from flowvox.text import CharTokenizer, build_vocab
from flowvox.vocoders import save_vocoder
from tests.infer.helpers import REF_TEXT, VOCAB_TEXTS, cheap_vocoder, speech_like
from tests.models.aligned_helpers import random_model, tiny_config

SR = 24000


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (torch and onnxruntime: sessions take torch's
    thread count); two threads on a loaded 2-core box crawl."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_aligned_dir(folder: Path, vocoder: bool = True, **changes) -> Path:
    """A random tiny AlignedTTS folder as the aligned_tts task exports it; with ``vocoder`` a
    cheap random Vocos in vocoder/; one named voice "v" (the default) and sampling.json;
    ``changes``: config fields over the tiny config."""
    folder.mkdir(parents=True)
    tokenizer = CharTokenizer(build_vocab(VOCAB_TEXTS))
    tokenizer.save(folder / "vocab.txt")
    config = tiny_config(tokenizer.vocab_size, mel="vocos24k", **changes)
    model = random_model(config, seed=0, scale=0.1, dtype=torch.float32)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()}, folder / "model.safetensors"
    )
    run = {"task": "aligned_tts", "out_dir": str(folder), "model": config.to_dict()}
    (folder / "config.json").write_text(json.dumps(run), encoding="utf-8")
    if vocoder:
        save_vocoder(folder / "vocoder", cheap_vocoder())
    (folder / "voices").mkdir()
    sf.write(folder / "voices" / "v.wav", speech_like(1.2, SR, seed=1), SR)
    voices = {"default": "v", "voices": {"v": {"audio": "voices/v.wav", "text": REF_TEXT}}}
    (folder / "voices.json").write_text(json.dumps(voices), encoding="utf-8")
    (folder / "sampling.json").write_text(json.dumps({"nfe": 3, "cfg": 0.7}), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def aligned_dir(tmp_path_factory) -> Path:
    return write_aligned_dir(tmp_path_factory.mktemp("onnx") / "model")


@pytest.fixture(scope="module")
def ref_wav(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("onnx-ref") / "ref.wav"
    sf.write(path, speech_like(1.2, SR), SR)
    return path
