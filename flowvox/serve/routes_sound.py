"""``POST /v1/audio/sound``: a sound from a caption, when the server holds a sound model.

Body (JSON): ``input`` (the caption, required), ``model`` (the sound model's id, optional),
``seconds`` (default: the model's, at most its ``max_seconds``), ``steps`` (flow steps,
default 10), ``cfg`` (LAFMA guidance, 1 = off, default 3), ``seed``, ``response_format``
(wav, flac, pcm, mp3, opus). The answer is one whole file; the sound model has its own
worker and queue, so sounds and speech do not wait for each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from flowvox.serve.audio_format import FORMATS, UNAVAILABLE, encode_whole, output_rate
from flowvox.serve.context import ClientGone, engine_error, wait_unless_gone
from flowvox.serve.engine import QueueFull
from flowvox.serve.errors import APIError, bad_request
from flowvox.serve.speech_request import (
    MAX_CFG,
    MAX_SEED,
    number_field,
    parse_json_object,
    string_field,
    whole_field,
)

router = APIRouter()
FIELDS = {"model", "input", "seconds", "steps", "cfg", "seed", "response_format"}
MAX_CAPTION = 1000


@dataclass(frozen=True)
class SoundRequest:
    """A checked sound request."""

    caption: str
    seconds: float | None
    steps: int
    cfg: float
    seed: int | None
    response_format: str


def parse_sound_request(data: dict, model_id: str, max_seconds: float, max_steps: int):
    """Check every field; a 400 names the first bad one."""
    unknown = sorted(set(data) - FIELDS)
    if unknown:
        raise bad_request(
            f"unrecognized request argument(s): {', '.join(unknown)}", unknown[0], "unknown_field"
        )
    model = string_field(data, "model")
    if model is not None and model != model_id:
        raise bad_request(
            f"model {model[:80]!r}: the sound model here is {model_id!r}",
            "model",
            "model_not_found",
        )
    caption = string_field(data, "input", required=True)
    if not caption.strip():
        raise bad_request("input is empty; describe the sound", "input", "empty_input")
    if len(caption) > MAX_CAPTION:
        raise bad_request(
            f"input has {len(caption)} characters; the limit is {MAX_CAPTION}", "input"
        )
    fmt = string_field(data, "response_format") or "wav"
    if fmt not in FORMATS or fmt in UNAVAILABLE:
        raise bad_request(
            f"response_format {fmt!r}: use one of {', '.join(FORMATS)}", "response_format"
        )
    steps = whole_field(data, "steps", 1, max_steps)
    cfg = number_field(data, "cfg", 0.0, MAX_CFG)
    return SoundRequest(
        caption=caption,
        seconds=number_field(data, "seconds", 0.1, max_seconds),
        steps=10 if steps is None else steps,
        cfg=3.0 if cfg is None else cfg,
        seed=whole_field(data, "seed", 0, MAX_SEED),
        response_format=fmt,
    )


@router.post("/v1/audio/sound")
async def sound(request: Request) -> Response:
    ctx = request.app.state.flowvox
    if ctx.sound is None:
        raise APIError(
            404,
            "this server holds no sound model (flowvox serve --sound-model DIR)",
            code="no_sound_model",
        )
    body = await request.body()
    spec = parse_sound_request(
        parse_json_object(body), ctx.sound_id, ctx.sound.synth.max_seconds, ctx.config.max_nfe
    )
    request.state.log.update(chars=len(spec.caption))

    def make(generator):
        return generator.generate(spec.caption, spec.seconds, spec.steps, spec.cfg, spec.seed)

    try:
        made = await wait_unless_gone(request, ctx.sound.call(make, ctx.config.timeout))
    except ClientGone:
        return Response(status_code=499)
    except (QueueFull, TimeoutError, ValueError) as err:
        raise engine_error(err, "the sound") or err from None
    request.state.log.update(audio_seconds=made.seconds, batch=1)
    data = await run_in_threadpool(encode_whole, made.wav, made.sample_rate, spec.response_format)
    headers = {
        "x-flowvox-seed": str(made.seed),
        "cache-control": "no-store",
        "x-sample-rate": str(output_rate(spec.response_format, made.sample_rate)),
    }
    return Response(data, media_type=FORMATS[spec.response_format][0], headers=headers)
