"""The voices a request may name: the model's own, and voices uploaded to the server.

An uploaded voice lives in ``DATA_DIR/voices`` as ``<id>.wav`` (the decoded clip, written
again by the server as 16-bit PCM: the uploaded bytes themselves are never stored) and
``<id>.json`` (name, transcript, seconds, time). Ids are made by the server
(``voice_`` + 16 hex digits) and checked against that pattern before any file is touched,
so no id can name a path outside the folder. OpenAI's voice names (alloy, echo, ...) speak
with the model's default voice, so that programs written for OpenAI work unchanged.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from flowvox.audio.io import save_audio
from flowvox.serve.engine import Prompt
from flowvox.serve.errors import APIError, bad_request
from flowvox.utils.atomic import atomic_write_text

VOICE_ID = re.compile(r"voice_[0-9a-f]{16}")
OPENAI_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "cedar",
    "coral",
    "echo",
    "fable",
    "marin",
    "nova",
    "onyx",
    "sage",
    "shimmer",
    "verse",
)
DEFAULT_NAME = "default"
MAX_NAME = 64


@dataclass(frozen=True)
class VoiceInfo:
    """One voice as ``GET /v1/audio/voices`` lists it."""

    id: str
    name: str
    kind: str  # "model" (packed with the model) or "uploaded"
    text: str | None = None
    seconds: float | None = None
    created: int | None = None
    default: bool = False


class VoiceStore:
    """The model's voices (``builtin``: name -> (wav, text); ``default``: the name that
    speaks when none is asked for) and the uploaded ones under ``folder``."""

    def __init__(
        self,
        folder: Path,
        builtin: dict[str, tuple[Path, str | None]],
        default: str | None,
        max_voices: int,
        prompts: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.builtin = dict(builtin)
        self.default = default
        self.max_voices = max_voices
        self.prompts = prompts  # False: the model takes no voice prompt (uploads refused)
        self._lock = threading.Lock()

    # --- reading ------------------------------------------------------------------------

    def list(self) -> list[VoiceInfo]:
        own = [
            VoiceInfo(name, name, "model", text, default=name == self.default)
            for name, (_, text) in sorted(self.builtin.items())
        ]
        if not own:
            own = [VoiceInfo(DEFAULT_NAME, DEFAULT_NAME, "model", default=True)]
        return own + self._uploaded()

    def _uploaded(self) -> list[VoiceInfo]:
        if not self.folder.is_dir():
            return []
        found = []
        for meta in sorted(self.folder.glob("voice_*.json")):
            info = self._read(meta.stem)
            if info is not None:
                found.append(info)
        return sorted(found, key=lambda v: (v.created or 0, v.id))

    def _read(self, voice_id: str) -> VoiceInfo | None:
        meta, wav = self._paths(voice_id)
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            info = VoiceInfo(**{**data, "id": voice_id, "kind": "uploaded"})
        except (OSError, ValueError, TypeError):
            return None
        return info if wav.is_file() else None

    def _paths(self, voice_id: str) -> tuple[Path, Path]:
        """(meta json, wav) of a checked id: both directly inside the folder."""
        if not VOICE_ID.fullmatch(voice_id):
            raise APIError(404, f"no voice {voice_id[:80]!r}", "voice_id", "voice_not_found")
        meta, wav = self.folder / f"{voice_id}.json", self.folder / f"{voice_id}.wav"
        assert meta.parent == self.folder and wav.parent == self.folder
        return meta, wav

    def resolve(self, name: str) -> Prompt:
        """The prompt of a voice a request names; a 400 naming the known voices if none."""
        if name in self.builtin:
            audio, text = self.builtin[name]
            return Prompt(audio, text)
        if name == DEFAULT_NAME or name in OPENAI_VOICES:
            return Prompt()
        if VOICE_ID.fullmatch(name):
            info = self._read(name)
            if info is not None:
                return Prompt(self._paths(name)[1], info.text)
        known = ", ".join(sorted(self.builtin) or [DEFAULT_NAME])
        raise bad_request(
            f"voice {name[:80]!r} is not a voice of this server; use one of {known}, an "
            "uploaded voice id (GET /v1/audio/voices), or an OpenAI voice name for the "
            "default voice",
            "voice",
            "voice_not_found",
        )

    # --- writing ------------------------------------------------------------------------

    def add(self, wav: np.ndarray, sample_rate: int, text: str | None, name: str | None):
        """Store a decoded clip (s,) float32; the new ``VoiceInfo``. 400 when full."""
        if not self.prompts:
            raise bad_request("this model takes no voice prompt; it cannot use uploaded voices")
        name = (name or "").strip()[:MAX_NAME] or "uploaded voice"
        with self._lock:
            if len(self._uploaded()) >= self.max_voices:
                raise bad_request(
                    f"the server holds {self.max_voices} uploaded voices, its limit; delete "
                    "one first (DELETE /v1/audio/voices/{id})",
                    code="too_many_voices",
                )
            voice_id = f"voice_{secrets.token_hex(8)}"
            meta, path = self._paths(voice_id)
            self.folder.mkdir(parents=True, exist_ok=True)
            info = VoiceInfo(
                voice_id,
                name,
                "uploaded",
                text,
                round(len(wav) / sample_rate, 3),
                int(time.time()),
            )
            save_audio(path, wav, sample_rate)
            fields = {k: v for k, v in asdict(info).items() if k not in ("id", "kind")}
            atomic_write_text(meta, json.dumps(fields, ensure_ascii=False))
        return info

    def set_text(self, voice_id: str, text: str) -> VoiceInfo:
        """Record the transcript found for an uploaded voice."""
        meta, _ = self._paths(voice_id)
        with self._lock:
            data = json.loads(meta.read_text(encoding="utf-8"))
            data["text"] = text
            atomic_write_text(meta, json.dumps(data, ensure_ascii=False))
        info = self._read(voice_id)
        assert info is not None
        return info

    def remove(self, voice_id: str) -> None:
        """Delete an uploaded voice; 404 for an unknown or malformed id, 400 for a
        voice of the model."""
        if voice_id in self.builtin or voice_id == DEFAULT_NAME:
            raise bad_request(f"voice {voice_id!r} comes with the model; it cannot be deleted")
        meta, wav = self._paths(voice_id)
        with self._lock:
            if not meta.is_file():
                raise APIError(404, f"no voice {voice_id!r}", "voice_id", "voice_not_found")
            meta.unlink()
            wav.unlink(missing_ok=True)
