"""The ASGI app: ``create_app(synth, config)`` wires the engine, voices, routes and guard.

    app = create_app(Synthesizer.from_pretrained(), ServeConfig())
    uvicorn.run(app, host="127.0.0.1", port=8000)

(``flowvox.serve.server.serve`` does this with graceful shutdown.) The engine's worker
thread starts with the app's lifespan and stops after the last request is answered.
"""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from flowvox.serve.config import ServeConfig
from flowvox.serve.context import ServeContext
from flowvox.serve.engine import Engine
from flowvox.serve.errors import APIError, error_response
from flowvox.serve.middleware import Guard, ServerState
from flowvox.serve.routes_misc import router as misc_router
from flowvox.serve.routes_sound import router as sound_router
from flowvox.serve.routes_speech import router as speech_router
from flowvox.serve.voices import VoiceStore


def create_app(
    synth: Any,
    config: ServeConfig | None = None,
    model_id: str = "flowvox",
    state: ServerState | None = None,
    default_voice: str | None = None,
    sound: Any = None,
    sound_id: str = "flowvox-sound",
) -> FastAPI:
    """An app serving ``synth`` (a ``Synthesizer``). ``model_id``: the name /v1/models
    lists; ``default_voice``: the name of the voice that speaks when none is given (for
    the voices list); ``state``: shared with the process that runs the app (draining);
    ``sound``: a ``SoundGenerator`` for /v1/audio/sound (listed as ``sound_id``), or None."""
    config = config or ServeConfig()
    state = state or ServerState()
    engine = Engine(
        synth, config.batching, config.batch_wait_ms / 1000.0, config.max_batch, config.max_queue
    )
    prompts = synth.backend.capabilities.voice_prompt if hasattr(synth, "backend") else True
    voices = VoiceStore(
        config.data_dir / "voices",
        getattr(synth, "voices", {}),
        default_voice,
        config.max_voices,
        prompts,
    )
    sound_engine = None if sound is None else Engine(sound, False, 0.0, 1, config.max_queue)
    ctx = ServeContext(
        engine, voices, config, model_id, int(synth.sample_rate), state, sound_engine, sound_id
    )
    engines = [e for e in (engine, sound_engine) if e is not None]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        for each in engines:
            each.start()
        try:
            yield
        finally:
            for each in engines:
                each.stop()

    app = FastAPI(
        title="flowvox", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.flowvox = ctx
    app.include_router(speech_router)
    app.include_router(misc_router)
    app.include_router(sound_router)
    app.add_exception_handler(APIError, _api_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(Guard, config=config, state=state)
    return app


async def _api_error(request: Request, err: APIError):
    request.state.log["error"] = err.code  # for the request's log line
    return error_response(err)


async def _http_error(request: Request, err: HTTPException):
    """Starlette's own 404/405 in OpenAI's shape."""
    message = {
        404: f"no route {request.url.path[:100]!r}",
        405: f"{request.method} is not allowed on {request.url.path[:100]!r}",
    }
    headers = dict(err.headers or {})
    return error_response(
        APIError(err.status_code, message.get(err.status_code, str(err.detail)), headers=headers)
    )


async def _validation_error(request: Request, err: RequestValidationError):
    return error_response(APIError(400, "the request does not match this route's parameters"))
