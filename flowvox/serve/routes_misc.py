"""Models, voices (list, upload, delete), health, and the web page with its two files."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from flowvox.errors import FlowvoxError
from flowvox.serve.context import ClientGone, ServeContext, engine_error, wait_unless_gone
from flowvox.serve.errors import APIError, bad_request
from flowvox.serve.uploads import parse_form, read_upload

router = APIRouter()
PAGE_DIR = Path(__file__).resolve().parent / "page"
PAGE_FILES = {  # URL path -> (file, content type)
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
# the page loads nothing from elsewhere and runs no inline script
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "media-src 'self' blob:; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)


def _ctx(request: Request) -> ServeContext:
    return request.app.state.flowvox


@router.get("/health")
async def health(request: Request) -> dict:
    ctx = _ctx(request)
    return {
        "status": "ok",
        "model": ctx.model_id,
        "sample_rate": ctx.sample_rate,
        "waiting": ctx.engine.waiting,
        "max_queue": ctx.config.max_queue,
    }


@router.get("/v1/models")
async def models(request: Request) -> dict:
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": "flowvox"}
        for name in _ctx(request).listed_models
    ]
    return {"object": "list", "data": data}


@router.get("/v1/models/{name}")
async def model(request: Request, name: str) -> dict:
    if name not in _ctx(request).listed_models:
        raise APIError(404, f"model {name[:80]!r} is not served here", "model", "model_not_found")
    return {"id": name, "object": "model", "created": 0, "owned_by": "flowvox"}


@router.get("/v1/audio/voices")
async def list_voices(request: Request) -> dict:
    voices = await run_in_threadpool(_ctx(request).voices.list)
    return {"object": "list", "data": [asdict(v) for v in voices]}


@router.post("/v1/audio/voices")
async def upload_voice(request: Request) -> JSONResponse:
    """multipart: file (the clip), text (optional transcript), name (optional label).
    The clip is checked as a voice prompt before the id is given (transcribed if no text)."""
    ctx = _ctx(request)
    body = await request.body()
    parts = parse_form(request.headers.get("content-type", ""), body)
    upload = await run_in_threadpool(read_upload, parts, ctx.config.max_voice_seconds)
    info = await run_in_threadpool(
        ctx.voices.add, upload.wav, upload.sample_rate, upload.text, upload.name
    )
    prompt = ctx.voices.resolve(info.id)

    def check(synth) -> str:
        return synth.reference(prompt.audio, prompt.text).text.strip()

    try:
        heard = await wait_unless_gone(request, ctx.engine.call(check, ctx.config.timeout))
    except BaseException as err:
        ctx.voices.remove(info.id)  # a voice that cannot speak is not kept
        if isinstance(err, ClientGone):
            return Response(status_code=499)
        if isinstance(err, FlowvoxError):
            raise bad_request(f"this clip cannot be a voice prompt: {err}", "file") from None
        raise engine_error(err) or err from None
    if upload.text is None:
        info = ctx.voices.set_text(info.id, heard)
    request.state.log.update(audio_seconds=info.seconds, voice=info.id)
    return JSONResponse(asdict(info), status_code=201)


@router.delete("/v1/audio/voices/{voice_id}")
async def delete_voice(request: Request, voice_id: str) -> dict:
    await run_in_threadpool(_ctx(request).voices.remove, voice_id)
    return {"id": voice_id, "object": "voice", "deleted": True}


def _page_file(path: str) -> Response:
    name, kind = PAGE_FILES[path]
    headers = {
        "content-security-policy": PAGE_POLICY,
        "cache-control": "no-cache",
        "referrer-policy": "no-referrer",
    }
    return Response((PAGE_DIR / name).read_bytes(), media_type=kind, headers=headers)


@router.get("/")
async def page() -> Response:
    return _page_file("/")


@router.get("/static/app.js")
async def page_script() -> Response:
    return _page_file("/static/app.js")


@router.get("/static/style.css")
async def page_style() -> Response:
    return _page_file("/static/style.css")
