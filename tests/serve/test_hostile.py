"""Malformed and hostile requests: each gets its 4xx in OpenAI's error shape, the server
stays up, and nothing is written outside its data folder."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
import soundfile as sf

from .helpers import body_of, http_post, raw_request, status_of

OK = {"model": "tiny", "input": "hello there", "voice": "low"}


def speech(**changes) -> bytes:
    body = {**OK, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


SPEECH_CASES = [  # (name, body, status, error param or None)
    ("bad json", b"{bad", 400, None),
    ("empty body", b"", 400, None),
    ("array body", b"[1, 2]", 400, None),
    ("string body", b'"hello"', 400, None),
    ("not utf-8", b'{"input": "\xff\xfe"}', 400, None),
    ("nested too deep", b"[" * 50000, 400, None),
    ("form encoded", b"model=tiny&input=hi&voice=low", 400, None),
    ("no input", speech(input=...), 400, "input"),
    ("input not a string", speech(input=123), 400, "input"),
    ("input empty", speech(input=""), 400, "input"),
    ("input blank", speech(input="   \n "), 400, "input"),
    ("input too long", speech(input="a" * 4097), 400, "input"),
    ("no voice", speech(voice=...), 400, "voice"),
    ("unknown voice", speech(voice="nobody"), 400, "voice"),
    ("voice path traversal", speech(voice="../../../../etc/passwd"), 400, "voice"),
    ("voice id traversal", speech(voice="voice_../../etc/passwd"), 400, "voice"),
    ("voice absolute path", speech(voice="/etc/passwd"), 400, "voice"),
    ("voice as object", speech(voice={"id": "low"}), 400, "voice"),
    ("unknown model", speech(model="gpt-9"), 400, "model"),
    ("model as list", speech(model=["tiny"]), 400, "model"),
    ("no model", speech(model=...), 400, "model"),
    ("format not a format", speech(response_format="exe"), 400, "response_format"),
    ("format without encoder", speech(response_format="aac"), 400, "response_format"),
    ("speed zero", speech(speed=0), 400, "speed"),
    ("speed too fast", speech(speed=10), 400, "speed"),
    ("speed as text", speech(speed="fast"), 400, "speed"),
    ("speed NaN", b'{"model": "tiny", "input": "hi", "voice": "low", "speed": NaN}', 400, "speed"),
    (
        "speed infinite",
        b'{"model": "tiny", "input": "hi", "voice": "low", "speed": 1e999}',
        400,
        "speed",
    ),
    ("speed boolean", speech(speed=True), 400, "speed"),
    ("nfe zero", speech(nfe=0), 400, "nfe"),
    ("nfe huge", speech(nfe=100000), 400, "nfe"),
    ("nfe fraction", speech(nfe=2.5), 400, "nfe"),
    ("seed negative", speech(seed=-1), 400, "seed"),
    ("seed huge", speech(seed=2**70), 400, "seed"),
    ("cfg negative", speech(cfg=-1), 400, "cfg"),
    ("stream format unknown", speech(stream_format="video"), 400, "stream_format"),
    (
        "flac cannot stream",
        speech(response_format="flac", stream_format="audio"),
        400,
        "response_format",
    ),
    ("unknown field", speech(temperature=0.7), 400, "temperature"),
]


def snapshot(folder):
    return {p: p.stat().st_size for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory, tiny_synth):
    from flowvox.serve.app import create_app
    from flowvox.serve.config import ServeConfig

    from .helpers import ThreadServer

    root = tmp_path_factory.mktemp("hostile")
    config = ServeConfig(
        data_dir=root / "data", body_timeout=1.0, max_upload_bytes=200_000, max_voice_seconds=4.0
    )
    server = ThreadServer(create_app(tiny_synth, config, "tiny", default_voice="low"))
    server.root, server.data_dir = root, root / "data"
    before = snapshot(root)
    yield server
    server.stop()
    after = snapshot(root)
    outside = {p for p in set(after) - set(before) if server.data_dir not in p.parents}
    assert not outside, f"written outside the data folder: {outside}"


def assert_openai_error(answer: bytes, status: int, param: str | None = None) -> dict:
    assert status_of(answer) == status, answer[:300]
    error = json.loads(body_of(answer))["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert "Traceback" not in error["message"]
    if param is not None:
        assert error["param"] == param, error
    return error


def assert_still_up(server) -> None:
    answer = raw_request(
        server.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status_of(answer) == 200


@pytest.mark.parametrize("name,body,status,param", SPEECH_CASES, ids=[c[0] for c in SPEECH_CASES])
def test_bad_speech_requests_get_400(hostile_server, name, body, status, param):
    answer = http_post(hostile_server.port, "/v1/audio/speech", body)
    assert_openai_error(answer, status, param)
    assert_still_up(hostile_server)


def head(method: str, path: str, extra: str = "") -> bytes:
    return f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}\r\n".encode()


def form(fields: dict[str, tuple[str | None, bytes]], boundary: str = "b0undary") -> bytes:
    out = b""
    for name, (filename, data) in fields.items():
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + data + b"\r\n"
        )
    return out + f"--{boundary}--\r\n".encode()


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    sf.write(
        buffer,
        0.3 * np.sin(2 * np.pi * 150 * t) * (np.sin(2 * np.pi * 2 * t) > 0),
        rate,
        format="WAV",
    )
    return buffer.getvalue()


def upload(port: int, body: bytes, content_type: str = "multipart/form-data; boundary=b0undary"):
    return http_post(port, "/v1/audio/voices", body, {"Content-Type": content_type})


UPLOAD_CASES = [  # (name, body, content type or None, status, param)
    (
        "text file as audio",
        form({"file": ("a.wav", b"just some text, not audio")}),
        None,
        400,
        "file",
    ),
    (
        "elf binary as audio",
        form({"file": ("a.wav", b"\x7fELF\x02\x01\x01" + bytes(2000))}),
        None,
        400,
        "file",
    ),
    (
        "pickle as audio",
        form({"file": ("a.pkl", b"\x80\x04\x95cos\nsystem\n(S'touch /tmp/x'\ntR.")}),
        None,
        400,
        "file",
    ),
    ("json instead of a form", b'{"file": "x"}', "application/json", 400, None),
    ("no file field", form({"text": (None, b"hello")}), None, 400, "file"),
    (
        "unknown field",
        form({"file": ("a.wav", wav_bytes(1.0)), "evil": (None, b"x")}),
        None,
        400,
        None,
    ),
    ("malformed multipart", b"--b0undary\r\nbroken", None, 400, None),
    ("clip too long", form({"file": ("a.wav", wav_bytes(6.0, 8000))}), None, 400, "file"),
    ("clip too short", form({"file": ("a.wav", wav_bytes(0.2))}), None, 400, "file"),
    (
        "silent clip",
        form({"file": ("a.wav", bytes(wav_bytes(1.0)[:44]) + bytes(32000))}),
        None,
        400,
        "file",
    ),
    (
        "text not utf-8",
        form({"file": ("a.wav", wav_bytes(1.0)), "text": (None, b"\xff\xfe")}),
        None,
        400,
        "text",
    ),
]


@pytest.mark.parametrize(
    "name,body,kind,status,param", UPLOAD_CASES, ids=[c[0] for c in UPLOAD_CASES]
)
def test_bad_uploads_get_400(hostile_server, name, body, kind, status, param):
    answer = upload(hostile_server.port, body, *(kind,) if kind else ())
    assert_openai_error(answer, status, param)
    assert_still_up(hostile_server)
    assert not list(hostile_server.data_dir.rglob("voice_*")), "a refused upload was kept"


def test_declared_huge_body_gets_413_before_it_is_sent(hostile_server):
    answer = raw_request(
        hostile_server.port, head("POST", "/v1/audio/speech", "Content-Length: 100000000\r\n")
    )
    assert_openai_error(answer, 413)
    assert_still_up(hostile_server)


def test_chunked_body_past_the_limit_gets_413(hostile_server):
    chunk = b"a" * 32768
    data = head("POST", "/v1/audio/speech", "Transfer-Encoding: chunked\r\n")
    data += (f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n") * 3 + b"0\r\n\r\n"
    assert_openai_error(raw_request(hostile_server.port, data), 413)
    assert_still_up(hostile_server)


def test_upload_past_the_limit_gets_413(hostile_server):
    answer = upload(hostile_server.port, form({"file": ("a.wav", bytes(400_000))}))
    assert_openai_error(answer, 413)
    assert_still_up(hostile_server)


def test_slow_partial_body_gets_408(hostile_server):
    start = time.monotonic()
    data = head("POST", "/v1/audio/speech", "Content-Length: 200\r\n") + b'{"model": '
    answer = raw_request(hostile_server.port, data, timeout=10)
    assert_openai_error(answer, 408)
    assert time.monotonic() - start < 5  # body_timeout is 1 s
    assert_still_up(hostile_server)


def test_content_length_not_a_number_gets_400(hostile_server):
    answer = raw_request(
        hostile_server.port, head("POST", "/v1/audio/speech", "Content-Length: lots\r\n")
    )
    assert status_of(answer) == 400  # h11 refuses it before the app (plain text)
    assert_still_up(hostile_server)


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("GET", "/v1/audio/speech", 405),
        ("GET", "/v1/nothing/here", 404),
        ("GET", "/static/../../../../etc/passwd", 404),
        ("GET", "/static/%2e%2e/%2e%2e/etc/passwd", 404),
        ("DELETE", "/v1/audio/voices/..%2F..%2Fetc%2Fpasswd", 404),
        ("DELETE", "/v1/audio/voices/voice_0123456789abcdef", 404),
        ("DELETE", "/v1/audio/voices/low", 400),
        ("GET", "/v1/models/gpt-9", 404),
    ],
)
def test_wrong_routes_and_voice_ids(hostile_server, method, path, status):
    assert_openai_error(raw_request(hostile_server.port, head(method, path)), status)
    assert_still_up(hostile_server)


def test_uploaded_file_name_never_names_a_path(hostile_server):
    body = form({"file": ("../../../evil.wav", wav_bytes(1.0)), "text": (None, b"hello there")})
    answer = upload(hostile_server.port, body)
    assert status_of(answer) == 201, answer[:300]
    voice = json.loads(body_of(answer))
    assert voice["id"].startswith("voice_") and "evil" not in voice["id"]
    assert not list(hostile_server.root.rglob("evil*"))
    stored = sorted(p.name for p in hostile_server.data_dir.rglob("*") if p.is_file())
    assert stored == [f"{voice['id']}.json", f"{voice['id']}.wav"]
    answer = raw_request(hostile_server.port, head("DELETE", f"/v1/audio/voices/{voice['id']}"))
    assert status_of(answer) == 200
    assert not list(hostile_server.data_dir.rglob("voice_*"))
