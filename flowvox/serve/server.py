"""Run the app with uvicorn: ``serve(config, model=..., device=...)`` (``flowvox serve``).

SIGTERM or Ctrl-C starts a graceful shutdown: the app answers 503 to new requests at once,
uvicorn stops listening, the requests in flight finish (up to ``grace`` seconds), then the
engine stops.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from flowvox.errors import FlowvoxError
from flowvox.infer.model_dir import bundled_model_dir, named_voices
from flowvox.infer.sound import BUNDLED_SOUND_DIR, SoundGenerator
from flowvox.infer.synthesizer import Synthesizer
from flowvox.serve.app import create_app
from flowvox.serve.config import ServeConfig
from flowvox.serve.middleware import ServerState

LOG = logging.getLogger("flowvox.serve")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


class _DrainingServer(uvicorn.Server):
    """uvicorn's server that also tells the app (``ServerState.draining``) when asked to
    exit, so a request arriving on an open connection meanwhile gets 503."""

    def __init__(self, config: uvicorn.Config, state: ServerState, model_id: str, ready: Any):
        super().__init__(config)
        self.flowvox_state = state
        self.model_id = model_id
        self.ready = ready

    def handle_exit(self, sig: int, frame: Any) -> None:
        self.flowvox_state.draining = True
        super().handle_exit(sig, frame)

    async def startup(self, sockets: Any = None) -> None:
        """uvicorn's startup, then one line (and ``ready(host, port)``) with the address."""
        await super().startup(sockets)
        if not self.servers:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        LOG.info(
            "serving %s on http://%s:%d (web page at /, API at /v1/)", self.model_id, host, port
        )
        if self.ready is not None:
            self.ready(host, port)


def load_synthesizer(model: str | os.PathLike | None, vocoder: str | None, device: str):
    """(Synthesizer, model id, default voice name) for ``model`` (None: the bundled voice)."""
    synth = Synthesizer.from_pretrained(model, vocoder=vocoder, device=device)
    folder = Path(model) if model is not None else bundled_model_dir()
    bundled = model is None
    _, default = named_voices(folder) if folder is not None else ({}, None)
    model_id = "flowvox" if bundled else folder.name
    return synth, model_id, default


def serve(
    config: ServeConfig,
    model: str | os.PathLike | None = None,
    vocoder: str | None = None,
    device: str = "cpu",
    grace: float = 60.0,
    ready: Any = None,
    sound_model: str | os.PathLike | None = None,
) -> None:
    """Load the model, then serve until SIGTERM/SIGINT. ``ready``: called with the bound
    (host, port) once the server listens (tests and scripts use it with ``port=0``).
    ``sound_model``: a sound-model folder for /v1/audio/sound; None takes the bundled one
    when this install has it; "none" serves no sounds."""
    check_address(config.host, config.port)  # before the model loads: a clear one-liner
    configure_logging()
    synth, model_id, default = load_synthesizer(model, vocoder, device)
    sound, sound_id = load_sound_model(sound_model, device)
    state = ServerState()
    app = create_app(synth, config, model_id, state, default, sound, sound_id)
    if config.host not in LOCAL_HOSTS and config.api_key is None:
        LOG.warning(
            "listening on %s without an API key: anyone who can reach this port may "
            "use the server (--api-key KEY, or FLOWVOX_API_KEY)",
            config.host,
        )
    uv_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=grace,
        limit_concurrency=config.max_queue * 2 + 32,
        timeout_keep_alive=5,
        server_header=False,
    )
    _DrainingServer(uv_config, state, model_id, ready).run()


def load_sound_model(folder: str | os.PathLike | None, device: str):
    """(SoundGenerator or None, its model id) for ``--sound-model``."""
    if folder is not None and str(folder).lower() == "none":
        return None, "flowvox-sound"
    if folder is None:
        if not (BUNDLED_SOUND_DIR / "model.safetensors").is_file():
            return None, "flowvox-sound"
        return SoundGenerator.from_pretrained(None, device), "flowvox-sound"
    return SoundGenerator.from_pretrained(folder, device), Path(folder).name


def check_address(host: str, port: int) -> None:
    """``FlowvoxError`` when this process cannot listen on ``host``:``port``."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as err:
        reason = err.strerror or str(err)
        raise FlowvoxError(
            f"--host {host} --port {port}: cannot listen there ({reason}); choose another "
            "--port (0 picks a free one) or --host"
        ) from None


def configure_logging() -> None:
    """One line per request on stderr: time, then the request line of ``flowvox.serve``."""
    logger = logging.getLogger("flowvox.serve")
    if any(getattr(h, "flowvox_serve", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s flowvox.serve %(message)s"))
    handler.flowvox_serve = True
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # the CLI's own one-line handler would repeat warnings
