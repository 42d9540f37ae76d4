"""``POST /v1/audio/voices``: a multipart form read in memory and its clip decoded as audio.

Fields: ``file`` (the clip: wav, flac, ogg or mp3; required), ``text`` (what it says;
without it the clip is transcribed), ``name`` (a label). The whole body is already bounded
by the server's upload limit; the parts are collected in memory (no temporary files) and
the clip is only ever decoded by libsndfile: never executed, unpickled or kept as sent.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from flowvox.audio.io import is_silent
from flowvox.serve.errors import bad_request

FIELDS = ("file", "text", "name")
MAX_TEXT = 1000
MIN_SECONDS = 0.5


@dataclass(frozen=True)
class VoiceUpload:
    """A decoded upload: mono clip (s,) float32 at ``sample_rate``, its text and name."""

    wav: np.ndarray
    sample_rate: int
    text: str | None
    name: str | None


def parse_form(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body; a 400 for anything else."""
    kind, params = parse_options_header(content_type or "")
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise bad_request(
            "send the voice as multipart/form-data with a 'file' field (curl -F file=@clip.wav)",
            code="invalid_content_type",
        )
    parts: dict[str, bytes] = {}
    current: dict[str, object] = {}

    def header_field(data: bytes, start: int, end: int) -> None:
        current["field"] = current.get("field", b"") + data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        current["value"] = current.get("value", b"") + data[start:end]

    def header_end() -> None:
        if bytes(current.pop("field", b"")).lower() == b"content-disposition":
            _, disposition = parse_options_header(bytes(current.get("value", b"")))
            current["name"] = disposition.get(b"name", b"").decode("utf-8", "replace")
        current.pop("value", None)

    def part_begin() -> None:
        current.clear()
        current["data"] = bytearray()

    def part_data(data: bytes, start: int, end: int) -> None:
        current["data"].extend(data[start:end])

    def part_end() -> None:
        name = current.get("name")
        if name not in FIELDS:
            raise bad_request(f"unknown form field {str(name)[:40]!r}; send {', '.join(FIELDS)}")
        if name in parts:
            raise bad_request(f"form field {name!r} is given twice", name)
        parts[name] = bytes(current["data"])

    callbacks = {
        "on_header_field": header_field,
        "on_header_value": header_value,
        "on_header_end": header_end,
        "on_part_begin": part_begin,
        "on_part_data": part_data,
        "on_part_end": part_end,
    }
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except MultipartParseError as err:
        raise bad_request(f"the multipart body is malformed ({err})", code="invalid_form") from None
    return parts


def read_upload(parts: dict[str, bytes], max_seconds: float) -> VoiceUpload:
    """Decode the ``file`` part as audio and check the text fields; a 400 naming the field."""
    data = parts.get("file")
    if not data:
        raise bad_request("no audio: send the clip in a 'file' field", "file", "missing_field")
    text = _text(parts, "text", MAX_TEXT)
    name = _text(parts, "name", 200)
    try:
        with sf.SoundFile(io.BytesIO(data)) as clip:
            rate = clip.samplerate
            if clip.frames > max_seconds * rate * 1.01:
                raise bad_request(
                    f"the clip lasts {clip.frames / rate:.1f} s; the limit is {max_seconds:g} s "
                    "(3-12 s of clear speech is best)",
                    "file",
                    "audio_too_long",
                )
            audio = clip.read(dtype="float32", always_2d=True)  # (s, channels)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        raise bad_request(
            "the file is not audio this server can read; send wav, flac, ogg or mp3",
            "file",
            "invalid_audio",
        ) from None
    wav = audio.mean(axis=1) if audio.size else np.zeros(0, np.float32)
    if len(wav) < MIN_SECONDS * rate:
        raise bad_request(f"the clip is under {MIN_SECONDS} s; send 3-12 s of speech", "file")
    if not np.all(np.isfinite(wav)) or is_silent(wav):
        raise bad_request("the clip is silent or holds invalid samples", "file", "invalid_audio")
    return VoiceUpload(np.ascontiguousarray(wav, dtype=np.float32), int(rate), text, name)


def _text(parts: dict[str, bytes], field: str, limit: int) -> str | None:
    raw = parts.get(field)
    if raw is None:
        return None
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise bad_request(f"{field} is not UTF-8 text", field) from None
    if len(text) > limit:
        raise bad_request(f"{field} has {len(text)} characters; the limit is {limit}", field)
    return text or None
