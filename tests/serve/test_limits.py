"""Queue bound (429 + Retry-After), request timeout (504), one log line per request, and
voice upload / use / delete, against a server whose synthesizer can be held."""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from flowvox.infer.options import Speech, SynthesisOptions
from flowvox.serve.app import create_app
from flowvox.serve.config import ServeConfig

from .helpers import ThreadServer, body_of, http_post, raw_request, status_of
from .test_hostile import form, upload, wav_bytes


class HeldSynth:
    """Stands in for a Synthesizer: each batch waits until ``release`` is set."""

    sample_rate = 24000
    voices: dict = {}  # noqa: RUF012

    def __init__(self) -> None:
        self.release = threading.Event()
        self.batches: list[int] = []

    def default_options(self, **overrides) -> SynthesisOptions:
        return SynthesisOptions(**overrides)

    def speak_batch(self, texts, ref_audio=None, ref_text=None, options=None, seeds=None):
        self.release.wait(30)
        self.batches.append(len(texts))
        return [Speech(np.zeros(2400, np.float32), 24000) for _ in texts]


def ask(port: int, text: str = "hello") -> bytes:
    body = {"model": "held", "input": text, "voice": "alloy"}
    return http_post(port, "/v1/audio/speech", json.dumps(body).encode())


def test_a_full_queue_answers_429_with_retry_after(tmp_path):
    synth = HeldSynth()
    config = ServeConfig(data_dir=tmp_path, max_queue=2, batching=False)
    server = ThreadServer(create_app(synth, config, "held"))
    try:
        with ThreadPoolExecutor(2) as pool:
            waiting = [pool.submit(ask, server.port) for _ in range(2)]
            time.sleep(0.5)
            answer = ask(server.port)
            assert status_of(answer) == 429
            headers = answer.split(b"\r\n\r\n")[0].lower()
            assert b"retry-after: " in headers
            assert json.loads(body_of(answer))["error"]["type"] == "rate_limit_error"
            synth.release.set()
            assert [status_of(f.result()) for f in waiting] == [200, 200]
        assert status_of(ask(server.port)) == 200  # room again
    finally:
        synth.release.set()
        server.stop()


def test_a_slow_answer_times_out_with_504_and_the_server_goes_on(tmp_path):
    synth = HeldSynth()
    server = ThreadServer(create_app(synth, ServeConfig(data_dir=tmp_path, timeout=0.5), "held"))
    try:
        answer = ask(server.port)
        assert status_of(answer) == 504
        assert json.loads(body_of(answer))["error"]["code"] == "timeout"
        synth.release.set()
        assert status_of(ask(server.port)) == 200
    finally:
        synth.release.set()
        server.stop()


def test_one_log_line_per_request(server, caplog):
    with caplog.at_level(logging.INFO, logger="flowvox.serve"):
        body = {"model": "tiny", "input": "hello there", "voice": "low"}
        ok = http_post(server.port, "/v1/audio/speech", json.dumps(body).encode())
        bad = http_post(server.port, "/v1/audio/speech", b"{")
        time.sleep(0.2)
    lines = [r.getMessage() for r in caplog.records if r.name == "flowvox.serve"]
    assert len(lines) == 2, lines
    ok_id = ok.split(b"x-request-id: ")[1].split(b"\r\n")[0].decode()
    assert lines[0].startswith(f"{ok_id} POST /v1/audio/speech 200 chars=11 audio_s=")
    assert "latency_ms=" in lines[0] and "batch=1" in lines[0]
    assert " 400 " in lines[1] and "error=" in lines[1] and status_of(bad) == 400


def test_upload_a_voice_use_it_and_delete_it(server, tiny_synth):
    body = form(
        {
            "file": ("me.wav", wav_bytes(1.5)),
            "text": (None, b"hello there"),
            "name": (None, b"Me"),
        }
    )
    answer = upload(server.port, body)
    assert status_of(answer) == 201, answer[-300:]
    voice = json.loads(body_of(answer))
    assert voice["name"] == "Me" and voice["kind"] == "uploaded" and voice["text"] == "hello there"
    listed = json.loads(
        body_of(
            raw_request(
                server.port,
                b"GET /v1/audio/voices HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            )
        )
    )
    assert voice["id"] in [v["id"] for v in listed["data"]]
    said = http_post(
        server.port,
        "/v1/audio/speech",
        json.dumps({"model": "tiny", "input": "hello", "voice": voice["id"], "seed": 1}).encode(),
    )
    default = http_post(
        server.port,
        "/v1/audio/speech",
        json.dumps({"model": "tiny", "input": "hello", "voice": "low", "seed": 1}).encode(),
    )
    assert status_of(said) == 200 and body_of(said) != body_of(default)
    delete = (
        f"DELETE /v1/audio/voices/{voice['id']} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status_of(raw_request(server.port, delete.encode())) == 200
    assert status_of(raw_request(server.port, delete.encode())) == 404
    gone = http_post(
        server.port,
        "/v1/audio/speech",
        json.dumps({"model": "tiny", "input": "hello", "voice": voice["id"]}).encode(),
    )
    assert status_of(gone) == 400


def test_upload_without_text_is_transcribed_once(server, tiny_synth):
    calls = tiny_synth._transcriber.calls
    answer = upload(server.port, form({"file": ("me.wav", wav_bytes(1.5))}))
    assert status_of(answer) == 201
    voice = json.loads(body_of(answer))
    assert voice["text"] == "hello there." and tiny_synth._transcriber.calls == calls + 1


def test_a_draining_server_refuses_new_requests_with_503(server):
    server.app.state.flowvox.state.draining = True
    answer = ask(server.port)
    assert status_of(answer) == 503
    assert json.loads(body_of(answer))["error"]["code"] == "shutting_down"
    server.app.state.flowvox.state.draining = False
    assert status_of(ask(server.port)) == 400  # "held" is not this server's model: it answers


def test_cli_refuses_a_busy_port_in_one_line(tmp_path, capsys):
    import socket

    from flowvox.cli.main import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", "--port", str(port), "--data-dir", str(tmp_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("flowvox: error: --host 127.0.0.1 --port")
    assert "\n" not in err
