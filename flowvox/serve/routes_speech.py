"""``POST /v1/audio/speech``: one file, a chunked audio stream, or server-sent events.

No ``stream_format``: the whole file in one response (with Content-Length), made in a
dynamic batch with other requests. ``stream_format: "audio"``: chunked transfer, each text
chunk's audio sent as soon as it is final. ``stream_format: "sse"``: ``speech.audio.delta``
events with base64 audio, then ``speech.audio.done``. Headers: ``x-flowvox-seed`` (the
seed used: send it back to get the same audio), ``x-flowvox-batch`` (texts in the batch).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from flowvox.serve.audio_format import FORMATS, StreamEncoder, encode_whole, output_rate
from flowvox.serve.context import ClientGone, ServeContext, engine_error, wait_unless_gone
from flowvox.serve.engine import QueueFull, Stream
from flowvox.serve.speech_request import SpeechRequest, parse_json_object, parse_speech_request

router = APIRouter()


@router.post("/v1/audio/speech")
async def speech(request: Request) -> Response:
    ctx: ServeContext = request.app.state.flowvox
    config = ctx.config
    body = await request.body()
    spec = parse_speech_request(parse_json_object(body), config.max_input_chars, config.max_nfe)
    ctx.check_model(spec.model)
    prompt = ctx.voices.resolve(spec.voice)
    options = ctx.options(spec)
    log = request.state.log
    log.update(chars=len(spec.input), voice=spec.voice)
    if spec.stream_format is None:
        try:
            spoken = await wait_unless_gone(
                request, ctx.engine.speak(spec.input, prompt, options, config.timeout)
            )
        except ClientGone:
            return Response(status_code=499)
        except (QueueFull, TimeoutError, ValueError) as err:
            raise engine_error(err) or err from None
        speech_ = spoken.speech
        log.update(audio_seconds=speech_.duration, batch=spoken.batch_size)
        data = await run_in_threadpool(
            encode_whole, speech_.wav, speech_.sample_rate, spec.response_format
        )
        return Response(
            data,
            media_type=FORMATS[spec.response_format][0],
            headers=_headers(spec, speech_.sample_rate, spoken.seed, spoken.batch_size),
        )
    try:
        stream = ctx.engine.open_stream(spec.input, prompt, options)
    except QueueFull as err:
        raise engine_error(err) from None
    try:  # the first piece before the answer starts, so that an error still gets its status
        first = await wait_unless_gone(request, stream.next_piece(config.timeout))
    except ClientGone:
        stream.close()
        return Response(status_code=499)
    except (TimeoutError, ValueError) as err:
        stream.close()
        raise engine_error(err) or err from None
    headers = _headers(spec, ctx.sample_rate, stream.seed, 1)
    if spec.stream_format == "sse":
        body_iter = _sse(spec, stream, first, ctx, log)
        return StreamingResponse(body_iter, media_type="text/event-stream", headers=headers)
    body_iter = _audio(spec, stream, first, ctx, log)
    return StreamingResponse(
        body_iter, media_type=FORMATS[spec.response_format][0], headers=headers
    )


def _headers(spec: SpeechRequest, sample_rate: int, seed: int, batch: int) -> dict[str, str]:
    return {
        "x-flowvox-seed": str(seed),
        "x-flowvox-batch": str(batch),
        "x-sample-rate": str(output_rate(spec.response_format, sample_rate)),
        "cache-control": "no-store",
    }


async def _pieces(stream: Stream, first, ctx: ServeContext, log: dict) -> AsyncIterator:
    """The stream's pieces, counting their seconds into the request's log line."""
    log["audio_seconds"] = 0.0
    piece = first
    try:
        while piece is not None:
            log["audio_seconds"] += len(piece) / ctx.sample_rate
            yield piece
            piece = await stream.next_piece(ctx.config.timeout)
    finally:
        stream.close()


async def _audio(spec, stream, first, ctx, log) -> AsyncIterator[bytes]:
    encoder = StreamEncoder(spec.response_format, ctx.sample_rate)
    async for piece in _pieces(stream, first, ctx, log):
        data = encoder.push(piece)
        if data:
            yield data
    rest = encoder.finish()
    if rest:
        yield rest


async def _sse(spec, stream, first, ctx, log) -> AsyncIterator[bytes]:
    encoder = StreamEncoder(spec.response_format, ctx.sample_rate)

    def event(payload: dict) -> bytes:
        return f"data: {json.dumps(payload)}\n\n".encode()

    try:
        async for piece in _pieces(stream, first, ctx, log):
            data = encoder.push(piece)
            if data:
                yield event(
                    {"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()}
                )
        rest = encoder.finish()
        if rest:
            yield event({"type": "speech.audio.delta", "audio": base64.b64encode(rest).decode()})
    except (TimeoutError, ValueError) as err:
        error = engine_error(err)
        if error is None:
            raise
        log["error"] = error.message
        yield event({"type": "error", "error": error.body()["error"]})
        return
    chars = len(spec.input)
    usage = {"input_tokens": chars, "output_tokens": 0, "total_tokens": chars}
    yield event({"type": "speech.audio.done", "usage": usage})
