"""Recogniser choice from --asr, Whisper's one-line errors, and the transcription pool."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flowvox.audio.asr import PocketsphinxASR, make_transcriber
from flowvox.errors import FlowvoxError
from flowvox.eval.asr_pool import TranscriptionPool
from flowvox.eval.text_norm import wer_many

NO_WHISPER = not any(importlib.util.find_spec(m) for m in ("faster_whisper", "whisper"))


def test_default_spec_is_pocketsphinx():
    assert isinstance(make_transcriber("pocketsphinx"), PocketsphinxASR)


@pytest.mark.parametrize("spec", ["sphinx", "whisper", "whisper:", "kaldi:/x"])
def test_unknown_specs_are_refused(spec):
    with pytest.raises(FlowvoxError, match="use pocketsphinx, whisper:PATH"):
        make_transcriber(spec)


def test_whisper_model_path_must_exist(tmp_path):
    with pytest.raises(FlowvoxError, match="no such file or folder"):
        make_transcriber(f"whisper:{tmp_path / 'none'}")


@pytest.mark.skipif(not NO_WHISPER, reason="a Whisper package is installed")
@pytest.mark.parametrize(
    ("spec", "package"),
    [("whisper:{dir}", "faster-whisper"), ("whisper:{pt}", "openai-whisper"),
     ("openai-whisper:{pt}", "openai-whisper")],
)  # fmt: skip
def test_missing_whisper_package_is_one_line(tmp_path, spec, package):
    (tmp_path / "ct2").mkdir()
    (tmp_path / "ct2" / "model.bin").write_bytes(b"")
    (tmp_path / "small.pt").write_bytes(b"")
    spec = spec.format(dir=tmp_path / "ct2", pt=tmp_path / "small.pt")
    with pytest.raises(FlowvoxError) as err:
        make_transcriber(spec)
    message = str(err.value)
    assert f"pip install {package}" in message and "\n" not in message


class Echo:
    """Stands in for a recogniser: the transcript is the file's name."""

    def transcribe_files(self, paths):
        return [str(p).rsplit("/", 1)[-1] for p in paths]


def test_local_pool_keeps_order_and_reports_progress():
    seen = []
    with TranscriptionPool("pocketsphinx", 0, local=Echo()) as pool:
        pool.submit(["/x/a.wav", "/x/b.wav", "/x/c.wav"])
        assert pool.results(seen.append) == ["a.wav", "b.wav", "c.wav"]
    assert sum(seen) == 3


def test_worker_pool_outside_with_is_a_clear_error():
    pool = TranscriptionPool("pocketsphinx", 2)  # never entered: no workers started
    with pytest.raises(FlowvoxError, match="use it as a context manager"):
        pool.submit(["/x/a.wav"])


@pytest.mark.slow
def test_worker_pool_matches_in_process_decoding(tmp_path):
    """Two spawned workers give the transcripts the calling process gives, in order."""
    rng = np.random.default_rng(0)
    paths = []
    for k in range(3):
        paths.append(tmp_path / f"{k}.wav")
        sf.write(paths[-1], (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    local = PocketsphinxASR().transcribe_files(paths)
    with TranscriptionPool("pocketsphinx", 2) as pool:
        pool.submit(paths)
        assert pool.results() == local


LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


@pytest.mark.slow
@pytest.mark.skipif(not (LIBRIVOX / "test-lm.match").is_file(), reason="pocketsphinx-testdata")
def test_pocketsphinx_judge_decodes_librivox_as_pocketsphinx_itself_does():
    """The judge's decoder (resampling, CMN, beams) does as well as pocketsphinx's own
    expected output for its LibriVox test clips (test-lm.match); the three shortest here."""
    refs, expected = {}, {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        words, name = re.fullmatch(r"<s> (.*) </s> \((\S+)\)", line).groups()
        refs[name] = words
    for line in (LIBRIVOX / "test-lm.match").read_text().splitlines():
        words, name = re.fullmatch(r"(.*) \((\S+) -?\d+\)", line.strip()).groups()
        expected[name] = words
    names = [n for n in sorted(refs) if n[-4:] in ("0880", "0920", "0930")]  # 12 s of audio
    ours = PocketsphinxASR().transcribe_files([LIBRIVOX / f"{n}.wav" for n in names])
    same = sum(o == expected[n] for o, n in zip(ours, names, strict=True))
    assert same >= 1
    ours_wer = wer_many([refs[n] for n in names], ours).wer
    theirs = wer_many([refs[n] for n in names], [expected[n] for n in names]).wer
    assert ours_wer <= theirs + 0.02  # on all five clips both score 26.8 %
