"""Helpers for the server tests: a tiny model folder with voices, a server in a thread on a
free loopback port, and raw HTTP requests."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import soundfile as sf

from tests.infer.helpers import REF_TEXT, speech_like, tiny_model_dir

SR = 24000


def tiny_voice_model(folder: Path) -> Path:
    """A tiny random model folder with a default reference and two named voices."""
    tiny_model_dir(folder)
    sf.write(folder / "reference.wav", speech_like(1.2, SR, seed=0), SR)
    (folder / "reference.txt").write_text(REF_TEXT, encoding="utf-8")
    (folder / "voices").mkdir(exist_ok=True)
    voices = {}
    for k, name in enumerate(("low", "high")):
        sf.write(folder / "voices" / f"{name}.wav", speech_like(1.5, SR, seed=k + 1), SR)
        voices[name] = {"audio": f"voices/{name}.wav", "text": REF_TEXT}
    (folder / "voices.json").write_text(json.dumps({"default": "low", "voices": voices}))
    return folder


class ThreadServer:
    """uvicorn serving ``app`` on 127.0.0.1 and a free port, in a daemon thread."""

    def __init__(self, app, **uvicorn_options) -> None:
        import uvicorn

        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            access_log=False,
            timeout_keep_alive=5,
            **uvicorn_options,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


def raw_request(port: int, data: bytes, timeout: float = 30.0, pause: float = 0.0) -> bytes:
    """Send ``data`` as is on a new connection; everything the server answers until it
    closes (or ``timeout``). ``pause``: seconds to wait after sending before reading."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        if pause:
            time.sleep(pause)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def status_of(answer: bytes) -> int:
    """The status code of a raw HTTP/1.1 answer (0 when there is none)."""
    line = answer.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[1].isdigit() else 0


def body_of(answer: bytes) -> bytes:
    return answer.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in answer else b""


def http_post(port: int, path: str, body: bytes, headers: dict | None = None) -> bytes:
    """A raw POST with ``Connection: close``."""
    head = {
        "Host": "127.0.0.1",
        "Content-Length": str(len(body)),
        "Connection": "close",
        "Content-Type": "application/json",
        **(headers or {}),
    }
    lines = [f"POST {path} HTTP/1.1"] + [f"{k}: {v}" for k, v in head.items()]
    return raw_request(port, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)
