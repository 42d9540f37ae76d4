"""A full disk (issue 17), made with ``RLIMIT_FSIZE``: every write past the limit fails with
EFBIG as on a full disk (Python ignores SIGXFSZ, so the process lives on). The limit is set
around one in-process ``flowvox`` call and lifted after it. Each verb stops in one clear line
with exit 2, and no file stands, even partly written, under a finished name.
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Iterator

import pytest

from flowvox.cli.main import main
from tests.reliability.conftest import files_under, write_toy_run


@contextlib.contextmanager
def files_limited_to(limit: int) -> Iterator[None]:
    """Files this process writes cannot grow past ``limit`` bytes (the soft limit only, so it
    can be lifted again)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.fixture
def flowvox_limited(capsys):
    """``run(argv, limit)`` -> stderr of ``flowvox ARGV`` with files limited, checked: exit 2,
    one line, the reason first."""

    def run(argv: list, limit: int) -> str:
        capsys.readouterr()
        with files_limited_to(limit):
            code = main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert code == 2, err
        assert err.count("\n") == 1 and err.startswith("flowvox: error: file too large"), err
        return err

    return run


def test_speak(assets, tmp_path, flowvox_limited):
    voice = ["--model", assets["model"], "--vocoder", assets["vocoder"], "--ref-audio"]
    argv = ["speak", "Hello there.", "-o", tmp_path / "o.wav", *voice, assets["ref"]]
    flowvox_limited([*argv, "--ref-text", "hi", "--nfe", "2"], 4000)
    assert files_under(tmp_path) == set()


def test_export(assets, tmp_path, flowvox_limited):
    flowvox_limited(["export", assets["checkpoint"], tmp_path / "model"], 300)
    assert files_under(tmp_path) == set()  # the temporary folder is gone too


def test_train_checkpoint(tmp_path, flowvox_limited):
    """The first checkpoint cannot be written: no ``step-*`` folder stands, no model."""
    run_file = write_toy_run(tmp_path, steps=2)
    flowvox_limited(["train", run_file], 1500)
    checkpoints = tmp_path / "run" / "checkpoints"
    assert not [p for p in checkpoints.iterdir() if not p.name.startswith(".")]
    assert not (tmp_path / "run" / "model").exists()


def test_generate(assets, tmp_path, flowvox_limited):
    """Lines already written stay; no wav stands half-written; the manifest lists only
    finished wavs."""
    voice = ["--model", assets["model"], "--vocoder", assets["vocoder"], "--ref-audio"]
    argv = ["generate", assets["lines"], tmp_path / "gen", *voice, assets["ref"]]
    argv += ["--ref-text", "hi", "--nfe", "2", "--no-progress", "--seed", "0"]
    flowvox_limited(argv, 4000)
    wavs = sorted((tmp_path / "gen" / "wavs").iterdir())
    assert all(not w.name.startswith(".") for w in wavs)
    assert not wavs  # each wav of these lines is over 4000 bytes
