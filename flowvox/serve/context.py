"""What the routes share: the engine, the voices, the limits, and the model's name."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from flowvox.errors import FlowvoxError
from flowvox.infer.options import SynthesisOptions
from flowvox.serve.config import ServeConfig
from flowvox.serve.engine import Engine, QueueFull
from flowvox.serve.errors import APIError, bad_request
from flowvox.serve.middleware import ServerState
from flowvox.serve.speech_request import SpeechRequest
from flowvox.serve.voices import VoiceStore

# OpenAI's speech model names, served by the loaded model so OpenAI programs work unchanged
OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")


class ClientGone(Exception):
    """The client closed the connection before its audio was ready."""


@dataclass
class ServeContext:
    """The state of one running app (``app.state.flowvox``)."""

    engine: Engine
    voices: VoiceStore
    config: ServeConfig
    model_id: str
    sample_rate: int
    state: ServerState
    sound: Engine | None = None  # the sound model's own engine, when the server has one
    sound_id: str = "flowvox-sound"

    @property
    def model_ids(self) -> tuple[str, ...]:
        return (self.model_id, *OPENAI_MODELS)

    @property
    def listed_models(self) -> tuple[str, ...]:
        """What /v1/models lists: the speech model's names, then the sound model's."""
        return self.model_ids + ((self.sound_id,) if self.sound is not None else ())

    def check_model(self, name: str) -> None:
        if name not in self.model_ids:
            raise bad_request(
                f"model {name[:80]!r} is not served here; use {', '.join(self.model_ids)}",
                "model",
                "model_not_found",
            )

    def options(self, request: SpeechRequest) -> SynthesisOptions:
        """The model's sampling defaults with the request's speed, nfe, cfg and seed."""
        given = {
            "speed": request.speed,
            "nfe": request.nfe,
            "cfg": request.cfg,
            "seed": request.seed,
        }
        try:
            return self.engine.synth.default_options(
                **{k: v for k, v in given.items() if v is not None}
            )
        except FlowvoxError as err:
            raise bad_request(str(err)) from None


def engine_error(err: BaseException, what: str = "the audio") -> APIError | None:
    """The client's answer for what the engine raised; None for a server fault (a 500)."""
    if isinstance(err, QueueFull):
        return APIError(
            429,
            f"the server is busy; retry in {err.retry_after} s",
            code="queue_full",
            headers={"retry-after": str(err.retry_after)},
        )
    if isinstance(err, TimeoutError):
        return APIError(504, f"{what} was not ready in time; try a shorter input", code="timeout")
    if isinstance(err, FlowvoxError):
        return bad_request(str(err), code="synthesis_refused")
    return None


async def wait_unless_gone(request: Any, awaitable: Any, tick: float = 0.25) -> Any:
    """``await awaitable``, cancelled (``ClientGone``) if the client disconnects first."""
    task = asyncio.ensure_future(awaitable)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=tick)
            if done:
                return task.result()
            if await request.is_disconnected():
                raise ClientGone()
    finally:
        if not task.done():
            task.cancel()
