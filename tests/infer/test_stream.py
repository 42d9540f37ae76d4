"""Synthesizer.stream: chunk by chunk, same audio as speak, lazy and bounded on huge input."""

import io
import tracemalloc

import numpy as np
import torch

from flowvox.infer import SynthesisOptions, rule_frames
from flowvox.infer.backends import infill as infill_backend
from flowvox.infer.sampling import SampleResult

from .helpers import REF_TEXT

HOP = 256
SHORT_CHUNKS = SynthesisOptions(nfe=2, seed=3, max_ref_seconds=1.5, chunk_seconds=2.0)
TEXT = "The first sentence is here. Then a second one, with a clause. A third. And the end."


def test_stream_yields_several_chunks_that_join_to_speak(synth, ref_wav):
    ref = synth.reference(ref_wav, REF_TEXT, max_seconds=1.5)
    chunks = list(synth._chunks(TEXT, ref, SHORT_CHUNKS))
    assert len(chunks) >= 4
    pieces = list(synth.stream(TEXT, ref_wav, REF_TEXT, SHORT_CHUNKS))
    assert len(pieces) == len(chunks) + 1  # one per chunk, then the held-back fade tail
    assert all(p.dtype == np.float32 and p.ndim == 1 for p in pieces)
    gens = [rule_frames(ref.frames, ref.text, c, 1.0) - ref.frames for c in chunks]
    samples = [(g - 1) * HOP for g in gens]
    fade = round(0.15 * synth.sample_rate)
    joined = np.concatenate(pieces)
    assert len(joined) == sum(samples) - sum(min(fade, s) for s in samples[1:])
    whole = synth.speak(TEXT, ref_wav, REF_TEXT, SHORT_CHUNKS).wav
    np.testing.assert_allclose(joined, whole, atol=2e-5)


def test_stream_generates_one_chunk_per_step(synth, ref_wav):
    batches = []
    original = synth.model.encode_text

    def encode_text(ids, *args, **kwargs):
        batches.append(ids.shape[0])
        return original(ids, *args, **kwargs)

    synth.model.encode_text = encode_text
    stream = synth.stream(TEXT * 2000, ref_wav, REF_TEXT, SHORT_CHUNKS)  # ≈ 170k characters
    first = next(stream)
    assert len(first) > 0 and batches == [2]  # only the first chunk (doubled for CFG) so far
    next(stream)
    assert batches == [2, 2]
    stream.close()


def test_stream_reads_a_file_lazily(synth, ref_wav):
    lines = io.StringIO("The first line.\nThe second line is here.\n\nAnd the 3rd one.\n")
    pieces = list(synth.stream(lines, ref_wav, REF_TEXT, SHORT_CHUNKS))
    assert sum(len(p) for p in pieces) > synth.sample_rate  # over a second of audio


def test_stream_memory_stays_bounded_on_100k_characters(synth, ref_wav, monkeypatch):
    """The pipeline around the model on 100k characters: model and vocoder replaced by
    instant stand-ins, so this measures what the Synthesizer itself holds."""

    def fake_sample(model, jobs, options):  # (g, 1): only the frame count matters here
        return SampleResult([torch.zeros(job.gen_frames, 1) for job in jobs], nfe=0)

    class SilentVocoder(torch.nn.Module):
        def forward(self, mel):
            return torch.full((1, 1), 0.1).expand(mel.shape[0], (mel.shape[1] - 1) * HOP)

    monkeypatch.setattr(infill_backend, "sample_chunks", fake_sample)
    synth.vocoder = SilentVocoder()
    text = ("Some words of a long book, read aloud. " * 2600)[:100_000]
    ref = synth.reference(ref_wav, REF_TEXT)
    tracemalloc.start()
    total, count, largest = 0, 0, 0
    for piece in synth.stream(text, ref_wav, REF_TEXT, nfe=1, seed=0):
        total += len(piece)
        count += 1
        largest = max(largest, len(piece))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count > 100
    seconds = total / synth.sample_rate
    expected = len(text.encode()) / len(ref.text.encode()) * ref.seconds  # the F5 pace
    assert 0.9 * expected < seconds < 1.1 * expected  # ≈ 1.5 hours of audio
    assert largest < 25 * synth.sample_rate  # no piece longer than one chunk (≈ 22 s)
    assert peak < 30 * 2**20  # far below the ≈ 500 MB the whole audio would take


def test_stream_refuses_bad_input_before_the_first_chunk(synth, ref_wav, tmp_path):
    import pytest

    from flowvox.errors import FlowvoxError

    with pytest.raises(FlowvoxError, match="text is empty"):
        synth.stream("  ", ref_wav, REF_TEXT)  # raised by the call itself, not by next()
    with pytest.raises(FlowvoxError, match="nfe=0"):
        synth.stream(TEXT, ref_wav, REF_TEXT, nfe=0)
    with pytest.raises(FlowvoxError, match="no such audio file"):
        synth.stream(TEXT, tmp_path / "missing.wav", REF_TEXT)
