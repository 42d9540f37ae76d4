"""`flowvox serve` as a user runs it: the bundled voice with no model flags, a real process,
SIGTERM while a request is in flight (it finishes; new connections are refused), and one
log line per request on stderr."""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
import soundfile as sf

from flowvox.infer.model_dir import BUNDLED_DIR

openai = pytest.importorskip("openai")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (BUNDLED_DIR / "model.safetensors").is_file(),
        reason="this checkout has no bundled voice",
    ),
]
LONG = (
    "The weather is lovely this morning, and the park is full of people who walk their "
    "dogs along the river before work. "
) * 3


class Lines:
    """The process's stderr lines, read in a thread."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines:
                if found := re.search(pattern, line):
                    return found
            time.sleep(0.1)
        raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines))


def test_serve_bundled_voice_and_shut_down_gracefully(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("FLOWVOX_MODEL", None)
    env.pop("FLOWVOX_API_KEY", None)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowvox",
            "serve",
            "--port",
            "0",
            "--threads",
            "1",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        lines = Lines(process.stderr)
        port = int(lines.wait_for(r"serving flowvox on http://127\.0\.0\.1:(\d+)", 120).group(1))
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
        response = client.audio.speech.create(
            model="tts-1", voice="flite-slt", input="Hello there, how are you today?"
        )
        audio, rate = sf.read(io.BytesIO(response.content))
        assert rate == 24000 and 1.0 < len(audio) / rate < 4.0

        result = {}

        def long_request() -> None:
            result["audio"] = client.audio.speech.create(
                model="flowvox", voice="flite-rms", input=LONG, response_format="pcm"
            ).content

        worker = threading.Thread(target=long_request)
        worker.start()
        lines.wait_for(r"POST /v1/audio/speech 200", 5)  # the first request's line
        time.sleep(1.0)  # the long one is being made now
        process.send_signal(signal.SIGTERM)
        refused = False
        for _ in range(50):  # the listening socket closes at once
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                refused = True
                break
            time.sleep(0.1)
        assert refused, "the server still accepts connections after SIGTERM"
        worker.join(120)
        assert len(result.get("audio", b"")) / 2 / 24000 > 10  # finished in full
        assert process.wait(60) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    requests = [line for line in lines.lines if " POST /v1/audio/speech " in line]
    assert len(requests) == 2, lines.lines
    assert all(
        re.search(r"req_\w+ POST \S+ 200 chars=\d+ audio_s=[\d.]+ batch=1 .*latency_ms=\d+", line)
        for line in requests
    )
    assert not [line for line in lines.lines if "Traceback" in line]
