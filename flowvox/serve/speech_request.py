"""The body of ``POST /v1/audio/speech``, read and checked field by field.

OpenAI's fields: ``model``, ``input``, ``voice``, ``response_format``, ``speed``,
``stream_format`` and ``instructions`` (accepted and unused: the voice prompt sets the
style); flowvox's extras: ``nfe``, ``cfg``, ``seed``. Any other field is refused, as
OpenAI does. Every mistake is a 400 naming the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from flowvox.serve.audio_format import FORMATS, STREAMABLE, UNAVAILABLE
from flowvox.serve.errors import bad_request

SPEED_RANGE = (0.25, 4.0)
MAX_CFG = 10.0
MAX_SEED = 2**31 - 1
STREAM_FORMATS = ("audio", "sse")
FIELDS = {
    "model",
    "input",
    "voice",
    "response_format",
    "speed",
    "stream_format",
    "instructions",
    "nfe",
    "cfg",
    "seed",
}


@dataclass(frozen=True)
class SpeechRequest:
    """A checked speech request. stream_format None: the whole file in one response."""

    model: str
    input: str
    voice: str
    response_format: str = "wav"
    speed: float = 1.0
    stream_format: str | None = None
    nfe: int | None = None
    cfg: float | None = None
    seed: int | None = None


def parse_json_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a 400 saying what is wrong with it."""
    if not body.strip():
        raise bad_request("the request body is empty; send a JSON object", code="invalid_json")
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise bad_request("the request body is not UTF-8 text", code="invalid_json") from None
    except ValueError as err:  # json.JSONDecodeError
        raise bad_request(
            f"the request body is not valid JSON ({err})", code="invalid_json"
        ) from None
    except RecursionError:  # [[[[... nested deeper than the parser goes
        raise bad_request("the request body nests too deeply", code="invalid_json") from None
    if not isinstance(data, dict):
        raise bad_request(
            f"the request body must be a JSON object, got {type(data).__name__}",
            code="invalid_json",
        )
    return data


def parse_speech_request(data: dict[str, Any], max_input_chars: int, max_nfe: int) -> SpeechRequest:
    """Check every field of ``data``; a 400 names the first bad one."""
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise bad_request(
            f"unrecognized request argument(s): {', '.join(unknown)}", unknown[0], "unknown_field"
        )
    model = string_field(data, "model", required=True)
    text = string_field(data, "input", required=True)
    if not text.strip():
        raise bad_request("input is empty; give the text to speak", "input", "empty_input")
    if len(text) > max_input_chars:
        raise bad_request(
            f"input has {len(text)} characters; the limit is {max_input_chars}",
            "input",
            "input_too_long",
        )
    voice = string_field(data, "voice", required=True)
    fmt = string_field(data, "response_format") or "wav"
    if fmt in UNAVAILABLE:
        raise bad_request(
            f"response_format {fmt!r} has no encoder on this server; use one of "
            f"{', '.join(FORMATS)}",
            "response_format",
            "unsupported_format",
        )
    if fmt not in FORMATS:
        raise bad_request(
            f"response_format {fmt!r} is not a format; use one of {', '.join(FORMATS)}",
            "response_format",
        )
    stream = string_field(data, "stream_format")
    if stream is not None and stream not in STREAM_FORMATS:
        raise bad_request(
            f"stream_format {stream!r}: use 'audio' or 'sse' (or leave it out for one file)",
            "stream_format",
        )
    if stream is not None and fmt not in STREAMABLE:
        raise bad_request(
            f"response_format {fmt!r} cannot be streamed (its header needs the length); "
            f"stream {', '.join(STREAMABLE)}, or leave stream_format out",
            "response_format",
            "unsupported_format",
        )
    string_field(data, "instructions")
    speed = number_field(data, "speed", *SPEED_RANGE)
    cfg = number_field(data, "cfg", 0.0, MAX_CFG)
    nfe = whole_field(data, "nfe", 1, max_nfe)
    seed = whole_field(data, "seed", 0, MAX_SEED)
    return SpeechRequest(
        model=model,
        input=text,
        voice=voice,
        response_format=fmt,
        speed=1.0 if speed is None else speed,
        stream_format=stream,
        nfe=nfe,
        cfg=cfg,
        seed=seed,
    )


def string_field(data: dict, name: str, required: bool = False) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise bad_request(f"{name} is required", name, "missing_field")
        return None
    if not isinstance(value, str):
        raise bad_request(f"{name} must be a string, got {type(value).__name__}", name)
    return value


def number_field(data: dict, name: str, low: float, high: float) -> float | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"{name} must be a number, got {json.dumps(value)[:40]}", name)
    if not low <= value <= high:
        raise bad_request(f"{name}={value}: use a number in [{low:g}, {high:g}]", name)
    return float(value)


def whole_field(data: dict, name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"{name} must be a whole number, got {json.dumps(value)[:40]}", name)
    if not low <= value <= high:
        raise bad_request(f"{name}={value}: use a whole number in [{low}, {high}]", name)
    return value
