"""Dynamic batching: concurrent requests share one padded batch, and a request gets the
same audio alone or batched with the same seed; a text the model refuses fails alone."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .helpers import body_of, http_post, status_of

TEXTS = [
    "hello there",
    "a much longer sentence than the first one, said slowly",
    "short",
    "numbers like twelve and forty two",
]


def speak(port: int, text: str, seed: int, voice: str = "low", **extra):
    body = {
        "model": "tiny",
        "input": text,
        "voice": voice,
        "response_format": "pcm",
        "seed": seed,
        **extra,
    }
    answer = http_post(port, "/v1/audio/speech", json.dumps(body).encode())
    headers = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
    batch = (
        int(headers.split("x-flowvox-batch: ")[1].split("\r\n")[0]) if "batch: " in headers else 0
    )
    return status_of(answer), np.frombuffer(body_of(answer), "<i2").astype(int), batch


def together(port: int, jobs: list[tuple]) -> list:
    def one(job):
        text, seed, *rest = job
        voice = rest[0] if rest else "low"
        return speak(port, text, seed, voice, **(rest[1] if len(rest) > 1 else {}))

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(one, jobs))


def test_a_request_gets_the_same_audio_alone_or_batched(start_server):
    server = start_server(batch_wait_ms=300.0, max_batch=8)
    jobs = [(text, 100 + k) for k, text in enumerate(TEXTS)]
    batched = together(server.port, jobs)
    assert [status for status, _, _ in batched] == [200] * 4
    assert max(batch for _, _, batch in batched) >= 3  # gathered into one padded batch
    for (text, seed), (_, audio, _) in zip(jobs, batched, strict=True):
        status, alone, batch = speak(server.port, text, seed)
        assert status == 200 and batch == 1
        assert len(alone) == len(audio)
        assert np.abs(alone - audio).max() <= 1, text  # float tolerance, then int16 rounding


def test_batching_off_runs_requests_one_by_one(start_server):
    server = start_server(batching=False)
    results = together(server.port, [(text, 7) for text in TEXTS])
    assert [(status, batch) for status, _, batch in results] == [(200, 1)] * 4


def test_only_requests_with_the_same_voice_and_options_batch(start_server):
    server = start_server(batch_wait_ms=300.0)
    results = together(
        server.port,
        [
            ("hello there", 1, "low"),
            ("hello there", 1, "high"),
            ("hello there", 1, "low", {"nfe": 8}),
        ],
    )
    assert [batch for _, _, batch in results] == [1, 1, 1]
    low, high = results[0][1], results[1][1]
    assert len(low) != len(high) or np.abs(low - high).max() > 100  # another voice


def test_a_refused_text_fails_alone_and_its_batch_mates_speak(start_server):
    server = start_server(batch_wait_ms=300.0)
    results = together(server.port, [("hello there", 1), ("ßßß", 2), ("good morning", 3)])
    assert [status for status, _, _ in results] == [200, 400, 200]
    alone = speak(server.port, "good morning", 3)[1]
    assert np.abs(alone - results[2][1]).max() <= 1
