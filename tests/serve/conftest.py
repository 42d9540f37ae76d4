"""Fixtures: a tiny-model Synthesizer with voices, and a server on a free loopback port."""

from __future__ import annotations

import importlib.util

import pytest

from flowvox.infer import Synthesizer
from tests.infer.helpers import CountingTranscriber, cheap_vocoder

from .helpers import ThreadServer, tiny_voice_model

# without the [serve] extra (FastAPI, uvicorn, python-multipart) these tests are not collected
if not all(importlib.util.find_spec(m) for m in ("fastapi", "uvicorn", "python_multipart")):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session")
def voice_model_dir(tmp_path_factory):
    return tiny_voice_model(tmp_path_factory.mktemp("serve") / "model")


@pytest.fixture(scope="session")
def tiny_synth(voice_model_dir):
    return Synthesizer.from_pretrained(
        voice_model_dir, vocoder=cheap_vocoder(), transcriber=CountingTranscriber("hello there")
    )


@pytest.fixture
def start_server(tiny_synth, tmp_path):
    """start_server(**config) -> a running ThreadServer with ``.app`` and ``.data_dir``;
    every one started is stopped after the test."""
    started = []

    def start(**config):
        from flowvox.serve.app import create_app
        from flowvox.serve.config import ServeConfig

        options = {"data_dir": tmp_path / "data", "batch_wait_ms": 20.0, **config}
        app = create_app(tiny_synth, ServeConfig(**options), "tiny", default_voice="low")
        server = ThreadServer(app)
        server.app, server.data_dir = app, options["data_dir"]
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server(start_server):
    return start_server()
