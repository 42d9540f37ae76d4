"""The Synthesizer with an aligned TTS model directory (task aligned_tts): speak, batch,
stream and the `flowvox speak` command."""
# n: frames, f: mel bins

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import save_file

from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer
from flowvox.infer.backends import AlignedBackend, load_backend
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.text import token_ids
from flowvox.infer.vocode import vocode_mels
from flowvox.models.aligned.model import AlignedTTS
from flowvox.text import CharTokenizer, build_vocab
from flowvox.vocoders import save_vocoder

from ..models.aligned_helpers import (
    one_thread,  # noqa: F401  (a module fixture)
    random_model,
    tiny_config,
)
from .helpers import REF_TEXT, VOCAB_TEXTS, cheap_vocoder

HOP = 256
FAST = dict(nfe=3, cfg=0.7, seed=7)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def aligned_dir(tmp_path_factory) -> Path:
    """A random tiny AlignedTTS (vocos24k mel) saved as the aligned_tts task exports it,
    with a cheap Vocos in vocoder/."""
    folder = tmp_path_factory.mktemp("aligned") / "model"
    folder.mkdir()
    tokenizer = CharTokenizer(build_vocab(VOCAB_TEXTS))
    tokenizer.save(folder / "vocab.txt")
    config = tiny_config(tokenizer.vocab_size, mel="vocos24k")
    model = random_model(config, seed=0, scale=0.1, dtype=torch.float32)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, folder / "model.safetensors")
    run = {"task": "aligned_tts", "out_dir": str(folder), "model": config.to_dict()}
    (folder / "config.json").write_text(json.dumps(run), encoding="utf-8")
    save_vocoder(folder / "vocoder", cheap_vocoder())
    return folder


@pytest.fixture(scope="module")
def tts(aligned_dir) -> Synthesizer:
    return Synthesizer.from_pretrained(aligned_dir)


def direct(tts: Synthesizer, ref, text: str, seed: int) -> np.ndarray:
    """What the model's own synthesize gives (its own prompt durations) with the seed's
    noise, prompt frames dropped, vocoded."""
    model: AlignedTTS = tts.model
    ids = torch.tensor([token_ids(ref.text, text, tts.tokenizer)])
    lengths = torch.tensor([ids.shape[1]])
    prompt = (ref.mel[None], torch.tensor([ref.frames]))
    k = torch.tensor([len(tts.tokenizer.encode(ref.text))])
    first = model.synthesize(ids, lengths, *prompt, k, nfe=1, cfg=0.0)
    total = int(first.mask[0].sum())
    x_0 = torch.randn(total, model.config.mel_dim, generator=torch.Generator().manual_seed(seed))
    out = model.synthesize(
        ids, lengths, *prompt, k, nfe=FAST["nfe"], cfg=FAST["cfg"], sway=-1.0, noise=x_0[None]
    )
    return vocode_mels(tts.vocoder, [out.mel[0, ref.frames : total]])[0]


def test_aligned_dir_is_recognised(aligned_dir, tts, tmp_path):
    assert isinstance(load_backend(aligned_dir), AlignedBackend)
    assert isinstance(tts.backend, AlignedBackend) and isinstance(tts.model, AlignedTTS)
    with pytest.raises(FlowvoxError, match="config.json not found"):
        load_backend(tmp_path)


def test_speak_is_the_models_synthesis_less_the_prompt(tts, ref_wav):
    ref = tts.reference(ref_wav, REF_TEXT)
    wav, sr = tts.speak("Hello there.", ref_wav, REF_TEXT, **FAST)
    want = direct(tts, ref, "Hello there.", FAST["seed"])
    assert sr == 24000 and len(wav) == len(want) and len(wav) % HOP == 0 and len(wav) > 0
    np.testing.assert_allclose(wav, np.clip(want, -1, 1), atol=1e-5)
    slower, _ = tts.speak("Hello there.", ref_wav, REF_TEXT, **{**FAST, "speed": 0.5})
    assert len(slower) > len(wav)  # speed scales the predicted (not the prompt) durations


def test_same_seed_same_audio_other_seed_other_audio(tts, ref_wav):
    a = tts.speak("We sing.", ref_wav, REF_TEXT, **FAST).wav
    b = tts.speak("We sing.", ref_wav, REF_TEXT, **FAST).wav
    c = tts.speak("We sing.", ref_wav, REF_TEXT, **{**FAST, "seed": 8}).wav
    assert np.array_equal(a, b) and len(a) == len(c) and not np.allclose(a, c, atol=1e-4)


def test_padded_batch_equals_each_text_alone(tts, ref_wav):
    texts = ["Hi.", "A much longer line of text here."]
    opts = SynthesisOptions(nfe=3, cfg=0.7)
    batch = tts.speak_batch(texts, ref_wav, REF_TEXT, opts, seeds=[3, 4])
    for text, seed, got in zip(texts, [3, 4], batch, strict=True):
        alone = tts.speak(text, ref_wav, REF_TEXT, opts, seed=seed).wav
        assert len(got.wav) == len(alone)
        np.testing.assert_allclose(got.wav, alone, atol=1e-4)
    assert len(batch[1].wav) > len(batch[0].wav)


def test_stream_concatenates_to_speak(tts, ref_wav):
    text = "Stream me."
    pieces = list(tts.stream(text, ref_wav, REF_TEXT, **FAST))
    whole = tts.speak(text, ref_wav, REF_TEXT, **FAST).wav
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-5)


def test_unsupported_options_are_refused_naming_them(tts, ref_wav):
    with pytest.raises(FlowvoxError, match="^duration: "):
        tts.speak("Hi.", ref_wav, REF_TEXT, duration=2.0)
    with pytest.raises(FlowvoxError, match="^duration: "):
        tts.stream("Hi.", ref_wav, REF_TEXT, duration=2.0)
    with pytest.raises(FlowvoxError, match="^epss: "):
        tts.speak("Hi.", ref_wav, REF_TEXT, epss=True, nfe=6)


def test_cli_speak_writes_a_file(aligned_dir, ref_wav, tmp_path):
    out = tmp_path / "out.wav"
    argv = ["speak", "Hello.", "-o", str(out), "--model", str(aligned_dir)]
    argv += ["--ref-audio", str(ref_wav), "--ref-text", REF_TEXT, "--nfe", "2", "--seed", "1"]
    assert main(argv) == 0
    wav, sr = sf.read(out)
    assert sr == 24000 and len(wav) > 0 and np.abs(wav).max() > 0
