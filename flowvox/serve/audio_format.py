"""Audio in the response formats of OpenAI's speech API, whole or as a stream.

# s: samples
wav (16-bit), flac (16-bit), pcm (raw 24 kHz int16 little-endian, no header), mp3 and
opus (Ogg Opus) through libsndfile (bundled with the soundfile wheel); aac has no encoder
here and is refused. ``encode_whole`` makes one complete file. ``StreamEncoder`` turns
pieces of audio into bytes as they come: pcm as is; wav behind a header whose sizes say
"unknown" (0xFFFFFFFF, as streaming servers do); opus as Ogg pages; mp3 as MPEG frames
at a constant bitrate (the encoder's leading Xing/LAME tag frame is dropped: its
counts are only known at the end). flac is not streamed: its header holds the length.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

from flowvox.audio.io import resample

PCM_RATE = 24000
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
FORMATS = {  # name -> (content type, libsndfile format, subtype)
    "wav": ("audio/wav", "WAV", "PCM_16"),
    "flac": ("audio/flac", "FLAC", "PCM_16"),
    "pcm": ("audio/pcm", "RAW", "PCM_16"),
    "mp3": ("audio/mpeg", "MP3", "MPEG_LAYER_III"),
    "opus": ("audio/opus", "OGG", "OPUS"),
}
UNAVAILABLE = ("aac",)
STREAMABLE = ("wav", "pcm", "mp3", "opus")
# a streamed mp3 has no length in its header: at a constant bitrate readers work it out from
# the byte count (level 0.5: 80 kbit/s at 24 kHz)
MP3_STREAM_SETTINGS = {"compression_level": 0.5, "bitrate_mode": "CONSTANT"}


def output_rate(fmt: str, sample_rate: int) -> int:
    """The rate ``fmt`` is written at: pcm always 24 kHz, opus a rate Opus has, else as is."""
    if fmt == "pcm":
        return PCM_RATE
    if fmt == "opus" and sample_rate not in OPUS_RATES:
        return 48000
    return sample_rate


def _prepare(wav: np.ndarray, sample_rate: int, rate: int) -> np.ndarray:
    wav = np.clip(np.asarray(wav, dtype=np.float32), -1.0, 1.0)
    return resample(wav, sample_rate, rate) if rate != sample_rate else wav


def to_int16(wav: np.ndarray) -> bytes:
    """(s,) float in [-1, 1] -> little-endian int16 bytes."""
    return (np.clip(wav, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def encode_whole(wav: np.ndarray, sample_rate: int, fmt: str) -> bytes:
    """One complete file of ``fmt`` holding ``wav`` (s,) float32 at ``sample_rate``."""
    rate = output_rate(fmt, sample_rate)
    audio = _prepare(wav, sample_rate, rate)
    if fmt == "pcm":
        return to_int16(audio)
    _, major, subtype = FORMATS[fmt]
    buffer = io.BytesIO()
    sf.write(buffer, audio, rate, subtype=subtype, format=major)
    return buffer.getvalue()


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 16-bit mono RIFF/WAVE header whose RIFF and data sizes are 0xFFFFFFFF (unknown)."""
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", unknown)
    )


class _Sink:
    """A seekable in-memory file for libsndfile; ``take`` returns the bytes not yet taken
    (later rewrites of bytes already taken are kept here but cannot be sent again)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.pos = 0
        self.taken = 0

    def write(self, chunk) -> int:
        chunk = bytes(chunk)
        end = self.pos + len(chunk)
        if end > len(self.data):
            self.data.extend(bytes(end - len(self.data)))
        self.data[self.pos : end] = chunk
        self.pos = end
        return len(chunk)

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self.pos, len(self.data))[whence]
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.pos + size
        out = bytes(self.data[self.pos : end])
        self.pos += len(out)
        return out

    def take(self) -> bytes:
        out = bytes(self.data[self.taken :])
        self.taken = len(self.data)
        return out


class StreamEncoder:
    """Pieces of audio (s,) float32 at ``sample_rate`` -> bytes of ``fmt`` as they come.

    ``push(piece)`` returns the bytes ready so far (the wav header comes with the first
    call; an encoder may hold some samples back); ``finish()`` returns the rest.
    """

    def __init__(self, fmt: str, sample_rate: int) -> None:
        if fmt not in STREAMABLE:
            raise ValueError(f"{fmt} cannot be streamed")
        self.fmt = fmt
        self.sample_rate = sample_rate
        self.rate = output_rate(fmt, sample_rate)
        self._header = streaming_wav_header(self.rate) if fmt == "wav" else b""
        self._sink: _Sink | None = None
        self._file: sf.SoundFile | None = None
        self._skip_tag = fmt == "mp3"
        if fmt in ("mp3", "opus"):
            _, major, subtype = FORMATS[fmt]
            self._sink = _Sink()
            self._file = sf.SoundFile(
                self._sink,
                "w",
                samplerate=self.rate,
                channels=1,
                format=major,
                subtype=subtype,
                **(MP3_STREAM_SETTINGS if fmt == "mp3" else {}),
            )

    def push(self, piece: np.ndarray) -> bytes:
        audio = _prepare(piece, self.sample_rate, self.rate)
        head, self._header = self._header, b""
        if self._file is None:
            return head + to_int16(audio)
        self._file.write(audio)
        return self._take()

    def finish(self) -> bytes:
        if self._file is None:
            head, self._header = self._header, b""
            return head
        self._file.close()
        return self._take()

    def _take(self) -> bytes:
        assert self._sink is not None
        if self._skip_tag:
            if len(self._sink.data) < 4:
                return b""
            self._sink.taken = max(self._sink.taken, mp3_frame_length(bytes(self._sink.data[:4])))
            self._skip_tag = False
        return self._sink.take()


MP3_BITRATES = {  # kbit/s by bitrate index, Layer III: MPEG-1, and MPEG-2/2.5
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def mp3_frame_length(header: bytes) -> int:
    """Bytes of the MPEG audio Layer III frame whose 4-byte header is ``header``.

    length = 144 * bitrate / rate + padding for MPEG-1, 72 * bitrate / rate + padding for
    MPEG-2 and 2.5.
    """
    word = int.from_bytes(header[:4], "big")
    if word >> 21 != 0x7FF or (word >> 17) & 3 != 1:
        raise ValueError("not an MPEG Layer III frame header")
    version = (word >> 19) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    bitrate = MP3_BITRATES[1 if version == 3 else 2][(word >> 12) & 15] * 1000
    rate = MP3_RATES[version][(word >> 10) & 3]
    padding = (word >> 9) & 1
    return (144 if version == 3 else 72) * bitrate // rate + padding
