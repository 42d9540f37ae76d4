"""Response formats: whole files and streams decode back to the audio they were given."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from flowvox.serve.audio_format import (
    StreamEncoder,
    encode_whole,
    mp3_frame_length,
    streaming_wav_header,
)

SR = 24000


def tone(seconds: float, rate: int = SR) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "opus"])
def test_whole_files_decode_to_the_same_length(fmt):
    audio, rate = sf.read(io.BytesIO(encode_whole(tone(1.5), SR, fmt)))
    assert rate == SR and abs(len(audio) - 1.5 * SR) <= 0.01 * SR


def test_lossless_formats_keep_the_samples():
    wav = tone(0.5)
    for fmt in ("wav", "flac"):
        audio, _ = sf.read(io.BytesIO(encode_whole(wav, SR, fmt)), dtype="float32")
        assert np.abs(audio - wav).max() < 1 / 32767 + 1e-6
    pcm = np.frombuffer(encode_whole(wav, SR, "pcm"), "<i2") / 32767
    assert np.abs(pcm - wav).max() < 1 / 32767


def test_pcm_is_24khz_whatever_the_model_rate():
    pcm = encode_whole(tone(1.0, 16000), 16000, "pcm")
    assert len(pcm) == 2 * SR


@pytest.mark.parametrize("fmt", ["wav", "pcm", "mp3", "opus"])
def test_streams_send_bytes_as_pieces_come_and_decode_whole(fmt):
    encoder = StreamEncoder(fmt, SR)
    sent = [encoder.push(tone(1.0)) for _ in range(3)]
    sent.append(encoder.finish())
    assert all(len(b) > 0 for b in sent[:3])  # something goes out with every piece
    data = b"".join(sent)
    if fmt == "pcm":
        assert len(data) == 3 * SR * 2
        return
    audio, rate = sf.read(io.BytesIO(data))
    lead_in = 1152 if fmt == "mp3" else 0  # the encoder delay the dropped tag would state
    assert rate == SR and abs(len(audio) - lead_in - 3 * SR) <= 0.03 * SR


def test_streamed_wav_header_says_unknown_length():
    header = streaming_wav_header(SR)
    assert len(header) == 44 and header[4:8] == header[40:44] == b"\xff\xff\xff\xff"
    assert int.from_bytes(header[24:28], "little") == SR


def test_streamed_mp3_is_whole_constant_frames():
    encoder = StreamEncoder("mp3", SR)
    data = encoder.push(tone(2.0)) + encoder.finish()
    offset, frames = 0, 0
    while offset < len(data):
        offset += mp3_frame_length(data[offset : offset + 4])
        frames += 1
    assert offset == len(data) and frames * 576 >= 2 * SR  # MPEG-2 Layer III: 576 per frame
    with pytest.raises(ValueError):
        mp3_frame_length(b"RIFF")


def test_flac_cannot_stream():
    with pytest.raises(ValueError):
        StreamEncoder("flac", SR)
