"""Each engine family synthesises speech; festival serves a batch from one process."""

import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from flowvox.audio.io import is_silent, load_audio
from flowvox.data.corpus import engines
from flowvox.data.corpus.build import finish_utterance
from flowvox.data.corpus.voices import resolve_voice
from flowvox.errors import FlowvoxError


@pytest.mark.parametrize(
    ("name", "native_rate"),
    [
        ("flite:kal16", 16000),
        ("festival:kal_diphone", 16000),
        ("festival:cmu_us_slt_arctic_hts", 32000),
        ("espeak:en-us+m3", 22050),
        ("espeak:es+f2", 22050),
    ],
)
def test_engine_speaks_one_sentence(tmp_path: Path, name: str, native_rate: int):
    text = "Hola amigo." if name.endswith("es+f2") else "The dog barked twice."
    (raw,) = engines.synthesize_raw(resolve_voice(name), [text], tmp_path)
    assert raw is not None and sf.info(str(raw)).samplerate == native_rate
    seconds = finish_utterance(raw, tmp_path / "out.wav", 24000, -23.0)
    clip = load_audio(tmp_path / "out.wav")
    assert clip.sample_rate == 24000 and sf.info(str(tmp_path / "out.wav")).subtype == "PCM_16"
    assert 0.5 < clip.duration < 4.0 and seconds == pytest.approx(clip.duration)
    assert not is_silent(clip.wav) and np.all(np.isfinite(clip.wav))


def test_festival_batch_runs_one_process_for_many_sentences(tmp_path: Path, monkeypatch):
    calls = []
    real_run = subprocess.run

    def counting_run(args, **kwargs):
        calls.append(args)
        return real_run(args, **kwargs)

    monkeypatch.setattr(engines.subprocess, "run", counting_run)
    texts = ['He said "stop" at once.', "A back\\slash is odd.", "The third one is short."]
    raws = engines.synthesize_raw(resolve_voice("festival:ked_diphone"), texts, tmp_path)
    assert calls == [["festival", "--pipe"]]
    assert all(r is not None for r in raws)
    lengths = [sf.info(str(r)).frames for r in raws]
    assert len(set(lengths)) == 3  # three different sentences, three different wavs


def test_scheme_strings_are_escaped():
    assert engines.scheme_string('a "b" \\c') == '"a \\"b\\" \\\\c"'
    script = engines.festival_script("kal_diphone", ["x"], [Path("/t/0.wav")])
    assert script.splitlines() == [
        "(voice_kal_diphone)",
        '(unwind-protect (utt.save.wave (utt.synth (Utterance Text "x")) "/t/0.wav" \'riff) nil)',
    ]


def test_silent_engine_output_is_refused(tmp_path: Path):
    sf.write(str(tmp_path / "raw.wav"), np.zeros(16000, dtype=np.float32), 16000)
    with pytest.raises(FlowvoxError, match="silent"):
        finish_utterance(tmp_path / "raw.wav", tmp_path / "out.wav", 24000, -23.0)
    assert not (tmp_path / "out.wav").exists()
