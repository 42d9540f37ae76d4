"""The settings of one ``flowvox serve`` process (``ServeConfig``), checked when made."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from flowvox.errors import FlowvoxError

API_KEY_ENV = "FLOWVOX_API_KEY"
DATA_ENV = "FLOWVOX_SERVE_DATA"


def default_data_dir() -> Path:
    """``$FLOWVOX_SERVE_DATA``, else ``$XDG_DATA_HOME/flowvox/serve`` (~/.local/share/...)."""
    named = os.environ.get(DATA_ENV)
    if named:
        return Path(named)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "flowvox" / "serve"


@dataclass(frozen=True)
class ServeConfig:
    """How the server listens, batches and limits.

    host/port: where it listens (127.0.0.1 unless told otherwise). api_key: when set, every
    /v1/ route wants ``Authorization: Bearer <key>``. data_dir: uploaded voices live in
    ``data_dir/voices``. batching: gather concurrent whole-file requests for
    ``batch_wait_ms`` and run up to ``max_batch`` of them as one padded batch (False: one
    request at a time). max_queue: requests waiting or running before new ones get 429.
    timeout: seconds a request may wait for its audio (or its next streamed piece).
    body_timeout: seconds a client may take to send its body. max_input_chars: longest
    ``input``. max_body_bytes: largest JSON body; max_upload_bytes / max_voice_seconds:
    largest voice upload; max_voices: uploaded voices kept; max_nfe: highest ``nfe``.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    batching: bool = True
    batch_wait_ms: float = 10.0
    max_batch: int = 8
    max_queue: int = 64
    timeout: float = 120.0
    body_timeout: float = 10.0
    max_input_chars: int = 4096
    max_body_bytes: int = 64 * 1024
    max_upload_bytes: int = 10 * 2**20
    max_voice_seconds: float = 30.0
    max_voices: int = 100
    max_nfe: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.api_key is not None and not self.api_key.strip():
            raise FlowvoxError("--api-key is empty; give a key, or leave it out for no key")
        if not 0 <= self.port <= 65535:
            raise FlowvoxError(f"--port {self.port}: use 1-65535 (0 picks a free port)")
        positive = {
            "--max-batch": self.max_batch,
            "--max-queue": self.max_queue,
            "--timeout": self.timeout,
            "--body-timeout": self.body_timeout,
            "--max-input-chars": self.max_input_chars,
            "--max-body-bytes": self.max_body_bytes,
            "--max-upload-bytes": self.max_upload_bytes,
            "--max-voice-seconds": self.max_voice_seconds,
            "--max-voices": self.max_voices,
            "--max-nfe": self.max_nfe,
        }
        for flag, value in positive.items():
            if not value > 0:
                raise FlowvoxError(f"{flag} {value}: must be more than 0")
        if self.batch_wait_ms < 0:
            raise FlowvoxError(f"--batch-wait-ms {self.batch_wait_ms}: must be 0 or more")
