"""Synthesizer.speak / speak_batch on a tiny random model: lengths, seeds, batching, guidance."""

import logging
import shutil
import warnings

import numpy as np
import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.infer import SynthesisOptions, Synthesizer, rule_frames
from flowvox.infer.backends.base import EpssFallbackWarning
from flowvox.models.infill import TextCache
from flowvox.text import UnknownCharacterWarning
from flowvox.vocoders import GriffinLim, HiFiGAN, HiFiGANConfig, Vocos, save_vocoder

from .helpers import REF_TEXT, cheap_vocoder

HOP = 256
FAST = SynthesisOptions(nfe=2, seed=7)


def record_forward(model):
    """Wrap ``model.forward``; returns the list that collects (batch size, text argument)."""
    calls = []
    original = model.forward

    def forward(x, cond, text, t, *args, **kwargs):
        calls.append((x.shape[0], text))
        return original(x, cond, text, t, *args, **kwargs)

    model.forward = forward
    return calls


def count_encodes(model):
    calls = []
    original = model.encode_text

    def encode_text(*args, **kwargs):
        calls.append(args[0].shape[0])
        return original(*args, **kwargs)

    model.encode_text = encode_text
    return calls


def test_speak_length_follows_the_f5_rule(synth, ref_wav):
    ref = synth.reference(ref_wav, REF_TEXT)
    for speed in (1.0, 2.0):
        wav, sr = synth.speak("Hello there, friend.", ref_wav, REF_TEXT, FAST, speed=speed)
        gen = rule_frames(ref.frames, ref.text, "Hello there, friend.", speed) - ref.frames
        assert sr == 24000 and wav.dtype == np.float32 and wav.ndim == 1
        assert len(wav) == (gen - 1) * HOP  # Vocos (centred): (frames - 1) · hop samples
        assert np.abs(wav).max() <= 1.0 and np.abs(wav).max() > 0


def test_duration_option_overrides_the_rule(synth, ref_wav):
    for seconds in (0.8, 2.5):
        wav, sr = synth.speak("Hello there.", ref_wav, REF_TEXT, FAST, duration=seconds, speed=3.0)
        assert abs(len(wav) / sr - seconds) <= 2 * HOP / sr


def test_same_seed_same_audio_other_seed_other_audio(synth, ref_wav):
    a = synth.speak("Seeds decide the noise.", ref_wav, REF_TEXT, FAST).wav
    b = synth.speak("Seeds decide the noise.", ref_wav, REF_TEXT, FAST).wav
    c = synth.speak("Seeds decide the noise.", ref_wav, REF_TEXT, FAST, seed=8).wav
    np.testing.assert_array_equal(a, b)
    assert len(a) == len(c) and np.abs(a - c).max() > 1e-3
    torch.manual_seed(0)  # unseeded calls draw their seed from torch's default generator
    d = synth.speak("Seeds decide the noise.", ref_wav, REF_TEXT, nfe=2).wav
    torch.manual_seed(0)
    np.testing.assert_array_equal(
        d, synth.speak("Seeds decide the noise.", ref_wav, REF_TEXT, nfe=2).wav
    )


def test_speak_batch_is_one_batch_and_equals_each_text_alone(synth, ref_wav):
    texts = ["One.", "A second, longer text here.", "Third text, in between."]
    calls = record_forward(synth.model)
    batch = synth.speak_batch(texts, ref_wav, REF_TEXT, FAST)
    assert [b for b, _ in calls] == [6, 6]  # 3 texts, doubled for guidance, 2 steps
    alone = [synth.speak(text, ref_wav, REF_TEXT, FAST) for text in texts]
    assert len({len(s.wav) for s in batch}) == 3  # different lengths: the batch was padded
    for got, want in zip(batch, alone, strict=True):
        assert got.sample_rate == want.sample_rate and len(got.wav) == len(want.wav)
        np.testing.assert_allclose(got.wav, want.wav, atol=2e-5)


@pytest.mark.parametrize(
    ("cfg", "solver", "nfe", "calls", "rows"),
    [(2.0, "euler", 3, 3, 2), (0.0, "euler", 3, 3, 1), (1.0, "midpoint", 2, 4, 2)],
)
def test_guidance_is_one_doubled_batch_per_model_call(
    synth, ref_wav, cfg, solver, nfe, calls, rows
):
    recorded = record_forward(synth.model)
    encodes = count_encodes(synth.model)
    synth.speak("Count the calls.", ref_wav, REF_TEXT, nfe=nfe, cfg=cfg, solver=solver, seed=0)
    assert len(recorded) == calls
    assert all(b == rows and isinstance(text, TextCache) for b, text in recorded)
    assert encodes == [rows]  # text encoded once for the whole generation (2 rows with CFG)


def test_long_text_chunks_go_in_one_batch_with_one_text_encoding(synth, ref_wav):
    text = "First part of it. Second part follows. Third part, then the end. Fin."
    opts = SynthesisOptions(nfe=2, seed=1, max_ref_seconds=2.5, chunk_seconds=3.0)
    ref = synth.reference(ref_wav, REF_TEXT, max_seconds=2.5)
    chunks = list(synth._chunks(text, ref, opts))
    assert len(chunks) >= 3
    recorded, encodes = record_forward(synth.model), count_encodes(synth.model)
    wav, sr = synth.speak(text, ref_wav, REF_TEXT, opts)
    assert [b for b, _ in recorded] == [2 * len(chunks)] * 2 and encodes == [2 * len(chunks)]
    gens = [rule_frames(ref.frames, ref.text, c, 1.0) - ref.frames for c in chunks]
    fade = round(0.15 * sr)
    pieces = [(g - 1) * HOP for g in gens]
    overlaps = sum(min(fade, p) for p in pieces[1:])
    assert len(wav) == sum(pieces) - overlaps


def test_empty_and_unknown_text_are_refused(synth, ref_wav):
    for empty in ("", "   \n "):
        with pytest.raises(FlowvoxError, match="text is empty"):
            synth.speak(empty, ref_wav, REF_TEXT, FAST)
    with pytest.raises(FlowvoxError, match="'你', '好'") as err:
        synth.speak("你好", ref_wav, REF_TEXT, FAST)
    assert "\n" not in str(err.value)
    with pytest.warns(UnknownCharacterWarning, match="'你'"):
        synth.speak("Hello 你.", ref_wav, REF_TEXT, FAST)
    with pytest.raises(FlowvoxError, match="list of texts"):
        synth.speak_batch("not a list", ref_wav, REF_TEXT, FAST)


def test_bad_options_in_calls_raise(synth, ref_wav):
    for bad, match in (
        ({"nfe": 0}, "nfe=0"),
        ({"cfg": -1.0}, "cfg=-1.0"),
        ({"speed": 0}, "speed=0"),
    ):
        with pytest.raises(FlowvoxError, match=match):
            synth.speak("Hello.", ref_wav, REF_TEXT, **bad)
    with pytest.raises(FlowvoxError, match="unknown synthesis option"):
        synth.speak("Hello.", ref_wav, REF_TEXT, steps=3)


def test_epss_and_solver_options_run(synth, ref_wav):
    calls = record_forward(synth.model)
    synth.speak("Hello.", ref_wav, REF_TEXT, nfe=5, epss=True, seed=0)
    assert len(calls) == 5


def test_epss_at_a_step_count_without_a_table_notes_the_uniform_fallback(synth, ref_wav):
    with pytest.warns(EpssFallbackWarning, match=r"no EPSS grid for nfe=3 .* uniform grid") as got:
        fallback = synth.speak("Hello.", ref_wav, REF_TEXT, nfe=3, epss=True, seed=0)
    assert len(got) == 1 and "\n" not in str(got[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EpssFallbackWarning)  # no notice without epss, or at 5
        uniform = synth.speak("Hello.", ref_wav, REF_TEXT, nfe=3, seed=0)
        pruned = synth.speak("Hello.", ref_wav, REF_TEXT, nfe=5, epss=True, seed=0)
        plain = synth.speak("Hello.", ref_wav, REF_TEXT, nfe=5, seed=0)
    np.testing.assert_array_equal(fallback.wav, uniform.wav)
    assert np.abs(pruned.wav - plain.wav).max() > 1e-4  # at nfe 5 the EPSS grid is used


def test_from_pretrained_without_model_says_what_to_pass(no_bundled_model):
    with pytest.raises(FlowvoxError, match="--model DIR"):
        Synthesizer.from_pretrained()


def test_vocoder_for_another_mel_is_refused_naming_both(model_dir, tmp_path):
    hifigan_dir = save_vocoder(tmp_path / "hifigan", HiFiGAN(HiFiGANConfig.preset("v3")))
    with pytest.raises(FlowvoxError, match="vocos24k.*hifigan22k") as err:
        Synthesizer.from_pretrained(model_dir, vocoder=hifigan_dir)
    assert str(model_dir) in str(err.value) and str(hifigan_dir) in str(err.value)


def test_vocoder_fallbacks(model_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="flowvox.infer"):
        synth = Synthesizer.from_pretrained(model_dir)
    assert isinstance(synth.vocoder, GriffinLim) and "Griffin-Lim" in caplog.text
    voice = tmp_path / "voice"
    shutil.copytree(model_dir, voice)
    save_vocoder(voice / "vocoder", cheap_vocoder())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(Synthesizer.from_pretrained(voice).vocoder, Vocos)


def test_estimate_frames_counts_reference_and_generated_frames(synth, ref_wav):
    ref = synth.reference(ref_wav, REF_TEXT)
    text = "Hello there, friend."
    assert synth.estimate_frames(text, ref_wav, REF_TEXT) == rule_frames(
        ref.frames, ref.text, text, 1.0
    )
    opts = SynthesisOptions(duration=2.0)
    assert synth.estimate_frames(text, ref_wav, REF_TEXT, opts) == ref.frames + round(
        2.0 * synth.frame_rate
    )


def test_too_short_duration_warns_that_text_is_cut(synth, ref_wav, caplog):
    with caplog.at_level(logging.WARNING, logger="flowvox.infer"):
        text = "A sentence far too long for the time it is given. " * 3  # 150 characters
        synth.speak(text, ref_wav, REF_TEXT, FAST, duration=0.1)
    assert "will be cut" in caplog.text


def test_direct_construction_checks_the_vocoder_mel(synth):
    from flowvox.vocoders import griffin_lim_vocoder

    with pytest.raises(FlowvoxError, match="mel mismatch"):
        Synthesizer(synth.model, synth.tokenizer, griffin_lim_vocoder("hifigan22k"))


def test_bf16_precision_runs_the_model_in_bfloat16_and_stays_close(synth, ref_wav):
    linear = next(m for m in synth.model.modules() if isinstance(m, torch.nn.Linear))
    dtypes = []
    handle = linear.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    try:
        full = synth.speak("Hello there.", ref_wav, REF_TEXT, nfe=4, seed=0)
        half = synth.speak("Hello there.", ref_wav, REF_TEXT, nfe=4, seed=0, precision="bf16")
    finally:
        handle.remove()
    assert set(dtypes[: len(dtypes) // 2]) == {torch.float32}
    assert set(dtypes[len(dtypes) // 2 :]) == {torch.bfloat16}
    assert half.wav.dtype == np.float32 and half.wav.shape == full.wav.shape
    diff = np.sqrt(np.mean((half.wav - full.wav) ** 2)) / np.sqrt(np.mean(full.wav**2))
    assert 0 < diff < 0.25
    with pytest.raises(FlowvoxError, match="precision='fp16'"):
        synth.speak("Hello.", ref_wav, REF_TEXT, precision="fp16")
