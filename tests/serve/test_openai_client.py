"""The official `openai` client against a server on a free loopback port: whole files,
chunked audio streams, server-sent events, models, voices, errors and the API key."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
import soundfile as sf

openai = pytest.importorskip("openai")


def client_for(server, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=60)


def test_speech_create_returns_each_format(server):
    client = client_for(server)
    wav = client.audio.speech.create(
        model="tiny", voice="low", input="hello there", extra_body={"seed": 3}
    )
    audio, rate = sf.read(io.BytesIO(wav.content))
    assert rate == 24000 and 0.3 < len(audio) / rate < 5
    pcm = client.audio.speech.create(
        model="tts-1", voice="alloy", input="hello there", response_format="pcm"
    )
    assert len(pcm.content) % 2 == 0 and len(pcm.content) > 0.3 * 24000 * 2
    for fmt in ("flac", "mp3", "opus"):
        data = client.audio.speech.create(
            model="tiny", voice="high", input="hello there", response_format=fmt
        )
        decoded, _ = sf.read(io.BytesIO(data.content))
        assert len(decoded) > 0, fmt


def test_same_seed_same_audio_and_speed_changes_length(server):
    client = client_for(server)

    def say(**extra):
        response = client.audio.speech.with_raw_response.create(
            model="tiny",
            voice="low",
            input="hello there my friend",
            response_format="pcm",
            **extra,
        )
        return np.frombuffer(response.content, "<i2"), response.headers

    first, headers = say(extra_body={"seed": 11})
    again, _ = say(extra_body={"seed": 11})
    assert headers["x-flowvox-seed"] == "11"
    assert np.abs(first.astype(int) - again.astype(int)).max() <= 1
    faster, _ = say(extra_body={"seed": 11}, speed=2.0)
    assert len(faster) < 0.7 * len(first)


def test_streamed_audio_equals_the_whole_file(server):
    client = client_for(server)
    text = "hello there. " * 80  # three text chunks for the tiny model's short reference
    fast = {"seed": 5, "nfe": 2, "cfg": 0}
    whole = client.audio.speech.create(
        model="tiny", voice="low", input=text, response_format="pcm", extra_body=fast
    )
    pieces = []
    with client.audio.speech.with_streaming_response.create(
        model="tiny",
        voice="low",
        input=text,
        response_format="pcm",
        stream_format="audio",
        extra_body=fast,
    ) as response:
        assert response.headers["content-type"].startswith("audio/pcm")
        assert "content-length" not in response.headers  # chunked transfer
        for chunk in response.iter_bytes(chunk_size=None):
            pieces.append(chunk)
    assert len(pieces) >= 3  # one piece per text chunk at least
    streamed = np.frombuffer(b"".join(pieces), "<i2").astype(int)
    expected = np.frombuffer(whole.content, "<i2").astype(int)
    assert len(streamed) == len(expected)
    assert np.abs(streamed - expected).max() <= 2  # float tolerance, then int16 rounding


def test_streamed_wav_reads_back(server):
    client = client_for(server)
    with client.audio.speech.with_streaming_response.create(
        model="tiny", voice="low", input="hello there", response_format="wav", stream_format="audio"
    ) as response:
        data = response.read()
    audio, rate = sf.read(io.BytesIO(data))
    assert rate == 24000 and len(audio) > 0.3 * rate


def test_sse_events_carry_the_audio(server):
    client = client_for(server)
    events = []
    with client.audio.speech.with_streaming_response.create(
        model="tiny",
        voice="low",
        input="hello there",
        response_format="pcm",
        stream_format="sse",
        extra_body={"seed": 2},
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["input_tokens"] == 11
    audio = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    whole = client.audio.speech.create(
        model="tiny",
        voice="low",
        input="hello there",
        response_format="pcm",
        extra_body={"seed": 2},
    )
    assert len(audio) == len(whole.content)


def test_models_and_voices(server):
    client = client_for(server)
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "tiny" and "tts-1" in ids
    voices = client.get("/audio/voices", cast_to=object)["data"]
    names = {v["id"]: v for v in voices}
    assert set(names) == {"low", "high"} and names["low"]["default"]


def test_errors_become_client_exceptions(server):
    client = client_for(server)
    with pytest.raises(openai.BadRequestError) as caught:
        client.audio.speech.create(model="tiny", voice="nobody", input="hello")
    assert caught.value.body["param"] == "voice" and caught.value.code == "voice_not_found"
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tiny", voice="low", input="x" * 5000)
    with pytest.raises(openai.BadRequestError):
        client.audio.speech.create(model="tiny", voice="low", input="hi", response_format="aac")


def test_api_key_is_required_when_set(start_server):
    server = start_server(api_key="s3cret")
    with pytest.raises(openai.AuthenticationError):
        client_for(server, "wrong").audio.speech.create(model="tiny", voice="low", input="hi")
    with pytest.raises(openai.AuthenticationError):
        client_for(server, "s3cret-and-more").models.list()
    response = client_for(server, "s3cret").audio.speech.create(
        model="tiny", voice="low", input="hi"
    )
    assert response.content[:4] == b"RIFF"
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/health") as answer:  # health and page stay open
        assert answer.status == 200
