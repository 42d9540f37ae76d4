"""POST /v1/audio/sound with a tiny random sound model; a server without one answers 404."""

from __future__ import annotations

import io
import json

import pytest
import soundfile as sf

from flowvox.infer.sound import SoundGenerator
from flowvox.serve.app import create_app
from flowvox.serve.config import ServeConfig
from tests.infer.test_sound import tiny_sound_folder

from .helpers import ThreadServer, body_of, http_post, raw_request, status_of


@pytest.fixture(scope="module")
def sound_server(tmp_path_factory, tiny_synth):
    root = tmp_path_factory.mktemp("sound")
    generator = SoundGenerator.from_pretrained(tiny_sound_folder(root / "sound"))
    app = create_app(
        tiny_synth,
        ServeConfig(data_dir=root / "data"),
        "tiny",
        sound=generator,
        sound_id="tiny-sound",
    )
    server = ThreadServer(app)
    yield server
    server.stop()


def ask(port: int, **body) -> bytes:
    return http_post(port, "/v1/audio/sound", json.dumps(body).encode())


def test_a_caption_becomes_a_sound_and_the_seed_repeats_it(sound_server):
    answer = ask(sound_server.port, input="a dog barks twice", seed=3, steps=2)
    assert status_of(answer) == 200, answer[-300:]
    wav, rate = sf.read(io.BytesIO(body_of(answer)))
    assert rate == 16000 and len(wav) == round(0.64 * 16000)  # the model's default length
    again = ask(sound_server.port, input="a dog barks twice", seed=3, steps=2, model="tiny-sound")
    assert body_of(again) == body_of(answer)
    longer = ask(sound_server.port, input="rain", seconds=1.28, steps=2, response_format="pcm")
    assert len(body_of(longer)) == round(1.28 * 24000) * 2  # pcm is always 24 kHz


def test_the_sound_model_is_listed(sound_server):
    answer = raw_request(
        sound_server.port, b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    ids = [m["id"] for m in json.loads(body_of(answer))["data"]]
    assert ids[0] == "tiny" and ids[-1] == "tiny-sound"


@pytest.mark.parametrize(
    "body,param",
    [
        ({"input": ""}, "input"),
        ({"input": "rain", "seconds": 60}, "seconds"),
        ({"input": "rain", "steps": 0}, "steps"),
        ({"input": "rain", "model": "tiny"}, "model"),
        ({"input": "rain", "voice": "low"}, "voice"),
        ({"input": "rain", "response_format": "aac"}, "response_format"),
    ],
)
def test_bad_sound_requests_get_400(sound_server, body, param):
    answer = ask(sound_server.port, **body)
    assert status_of(answer) == 400
    assert json.loads(body_of(answer))["error"]["param"] == param


def test_a_caption_with_nothing_readable_is_refused(sound_server):
    answer = ask(sound_server.port, input="!!! ???", steps=1)
    assert status_of(answer) == 400
    assert "nothing readable" in json.loads(body_of(answer))["error"]["message"]


def test_without_a_sound_model_the_route_answers_404(server):
    answer = ask(server.port, input="rain")
    assert status_of(answer) == 404
    assert json.loads(body_of(answer))["error"]["code"] == "no_sound_model"
