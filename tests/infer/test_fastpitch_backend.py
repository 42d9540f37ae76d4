"""The Synthesizer with a FastPitch model directory (task fastpitch): speak, batch, chunks,
stream, pitch shift, and the options it refuses or ignores."""
# n: frames, f: mel bins

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer
from flowvox.infer.backends import FastPitchBackend, InfillBackend, load_backend
from flowvox.infer.backends.fastpitch import sample_fastpitch
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.sampling import ChunkJob
from flowvox.infer.vocode import vocode_mels
from flowvox.models.fastpitch.model import FastPitch

from .fastpitch_helpers import tiny_fastpitch_dir
from .helpers import REF_TEXT

HOP = 256
TEXTS = ["Hi.", "A much longer line of text here.", "Two words."]
SHORT_CHUNKS = SynthesisOptions(max_ref_seconds=1.0, chunk_seconds=1.5)  # 22-byte chunks


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fastpitch_dir(tmp_path_factory) -> Path:
    return tiny_fastpitch_dir(tmp_path_factory.mktemp("fastpitch") / "model")


@pytest.fixture(scope="module")
def tts(fastpitch_dir) -> Synthesizer:
    return Synthesizer.from_pretrained(fastpitch_dir)


def direct_mel(tts: Synthesizer, text: str, **kwargs) -> torch.Tensor:
    """The model's own synthesize on one text: (n, f)."""
    ids = torch.tensor([tts.tokenizer.encode(text)])
    out = tts.model.synthesize(ids, torch.tensor([ids.shape[1]]), **kwargs)
    return out.mel[0, : int(out.durations.sum())]


def jobs_of(tts: Synthesizer, texts: list[str]) -> list[ChunkJob]:
    empty = torch.zeros(0, tts.model.config.mel_dim)
    return [ChunkJob(empty, tts.tokenizer.encode(t), 1, 0) for t in texts]


def test_fastpitch_dir_is_recognised(fastpitch_dir, tts, model_dir, tmp_path):
    assert isinstance(load_backend(fastpitch_dir), FastPitchBackend)
    assert isinstance(tts.backend, FastPitchBackend) and isinstance(tts.model, FastPitch)
    assert isinstance(load_backend(model_dir), InfillBackend)
    with pytest.raises(FlowvoxError, match="config.json not found"):
        load_backend(tmp_path)  # empty
    run = json.loads((fastpitch_dir / "config.json").read_text())
    assert run["family"] == "fastpitch" and run["format_version"] == 1
    fields = tmp_path / "fields"  # format 0: config.json holding the FastPitchConfig fields
    shutil.copytree(fastpitch_dir, fields)
    (fields / "config.json").write_text(json.dumps(run["model"]))
    assert isinstance(load_backend(fields), FastPitchBackend)
    task = tmp_path / "task"  # format 0: a run config naming its task, no stamp
    shutil.copytree(fastpitch_dir, task)
    del run["family"], run["format_version"]
    run["task"] = "fastpitch"
    (task / "config.json").write_text(json.dumps(run))
    assert isinstance(load_backend(task), FastPitchBackend)


def test_speak_is_the_models_synthesis(tts):
    wav, sr = tts.speak("Hello there.")
    mel = direct_mel(tts, "Hello there.")
    want = vocode_mels(tts.vocoder, [mel])[0]
    assert sr == 24000 and len(wav) == len(want) == (mel.shape[0] - 1) * HOP
    np.testing.assert_allclose(wav, np.clip(want, -1, 1), atol=1e-5)
    assert mel.shape[0] > 2 * len("Hello there.")  # the bias gives several frames per token


def test_speed_scales_the_durations(tts):
    normal = direct_mel(tts, "Hello there.").shape[0]
    slow = tts.speak("Hello there.", speed=0.5).wav
    fast = tts.speak("Hello there.", speed=2.0).wav
    assert len(slow) // HOP + 1 == direct_mel(tts, "Hello there.", speed=0.5).shape[0]
    assert 1.8 * normal < len(slow) / HOP + 1 < 2.2 * normal
    assert 0.4 * normal < len(fast) / HOP + 1 < 0.6 * normal


def test_sampler_options_are_ignored_but_still_checked(tts):
    base = tts.speak("We sing.").wav
    other = tts.speak("We sing.", nfe=1, cfg=0.0, sway=0.0, solver="midpoint", seed=5).wav
    again = tts.speak("We sing.", epss=True, nfe=16).wav
    assert np.array_equal(base, other) and np.array_equal(base, again)
    with pytest.raises(FlowvoxError, match="^nfe=0: "):
        tts.speak("We sing.", nfe=0)


def test_padded_batch_gives_the_mels_of_each_text_alone(tts):
    opts = SynthesisOptions(pitch_shift=2.0, speed=1.3)
    batch = sample_fastpitch(tts.model, jobs_of(tts, TEXTS), opts).mels
    lengths = []
    for text, got in zip(TEXTS, batch, strict=True):
        alone = sample_fastpitch(tts.model, jobs_of(tts, [text]), opts).mels[0]
        assert got.shape == alone.shape
        torch.testing.assert_close(got, alone, atol=1e-4, rtol=0)
        lengths.append(got.shape[0])
    assert lengths[1] > lengths[2] > lengths[0]
    speeches = tts.speak_batch(TEXTS, options=opts)
    for text, speech in zip(TEXTS, speeches, strict=True):
        alone = tts.speak(text, options=opts).wav
        assert len(speech.wav) == len(alone)
        np.testing.assert_allclose(speech.wav, alone, atol=1e-4)


def test_long_text_is_chunked_cross_faded_and_streamed(tts):
    text = "The first sentence is here. Then a second one, with a clause. A third. The end."
    ref = tts.reference()
    assert ref.text == "" and ref.frames == 0
    chunks = list(tts._chunks(text, ref, SHORT_CHUNKS))
    assert len(chunks) >= 3 and tts.backend.chunk_budget(ref, SHORT_CHUNKS) == 22
    frames = [direct_mel(tts, c).shape[0] for c in chunks]
    samples = [(n - 1) * HOP for n in frames]
    fade = round(0.15 * tts.sample_rate)
    whole = tts.speak(text, options=SHORT_CHUNKS).wav
    assert len(whole) == sum(samples) - fade * (len(chunks) - 1)
    pieces = list(tts.stream(text, options=SHORT_CHUNKS))
    assert len(pieces) == len(chunks) + 1  # one per chunk, then the held-back fade tail
    np.testing.assert_allclose(np.concatenate(pieces), whole, atol=1e-5)


def test_pitch_shift_moves_the_pitch_the_model_embeds(tts):
    plain = direct_mel(tts, "Hello there.")
    up_mel = direct_mel(tts, "Hello there.", pitch_shift=12.0)
    assert up_mel.shape == plain.shape and (up_mel - plain).abs().max() > 1e-3
    up = tts.speak("Hello there.", pitch_shift=12.0).wav
    np.testing.assert_allclose(up, vocode_mels(tts.vocoder, [up_mel])[0], atol=1e-5)
    ids = torch.tensor([tts.tokenizer.encode("Hello there.")])
    lengths = torch.tensor([ids.shape[1]])
    zero, octave = (tts.model.synthesize(ids, lengths, pitch_shift=s).prosody for s in (0, 12))
    ratio = tts.model.pitch_hz(octave.pitch) / tts.model.pitch_hz(zero.pitch)
    torch.testing.assert_close(ratio, torch.full_like(ratio, 2.0))  # 12 semitones = x2
    with pytest.raises(FlowvoxError, match=r"^pitch_shift=30.0: .*\[-24, 24\]"):
        SynthesisOptions(pitch_shift=30.0)


def test_pitch_shift_is_refused_for_the_other_families(synth, ref_wav):
    with pytest.raises(FlowvoxError, match="^pitch_shift=2.0: only FastPitch"):
        synth.speak("Hi.", ref_wav, REF_TEXT, pitch_shift=2.0, nfe=2)
    with pytest.raises(FlowvoxError, match="^pitch_shift=-1.0: only FastPitch"):
        synth.stream("Hi.", ref_wav, REF_TEXT, pitch_shift=-1.0, nfe=2)


def test_voice_prompt_and_duration_are_refused_in_one_line(tts, ref_wav):
    for kwargs, name in ((dict(ref_audio=ref_wav), "ref_audio"), (dict(ref_text="hi"), "ref_text")):
        for call in (tts.speak, tts.stream, tts.reference):
            with pytest.raises(FlowvoxError, match=f"^{name}: .*single-speaker") as err:
                call("Hi.", **kwargs) if call != tts.reference else call(**kwargs)
            assert "\n" not in str(err.value)
    with pytest.raises(FlowvoxError, match="^duration: "):
        tts.speak("Hi.", duration=2.0)
    with pytest.raises(FlowvoxError, match="^duration: "):
        tts.stream("Hi.", duration=2.0)


def test_estimate_frames_needs_no_reference(tts):
    text = "A line of about thirty bytes."
    want = tts.backend.estimate_frames(
        tts.reference(), text, None, SynthesisOptions(), tts.frame_rate
    )
    assert tts.estimate_frames(text) == want
    assert want == pytest.approx(len(text) / 15 * tts.frame_rate, abs=1)
    assert tts.estimate_frames(text, options=SynthesisOptions(speed=2.0)) < want
