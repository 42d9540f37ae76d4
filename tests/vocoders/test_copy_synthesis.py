"""Copy synthesis (`flowvox vocode`): recordings through a vocoder, named for eval --audio-dir."""

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from flowvox.audio.mel import MelSpectrogram, get_mel_preset
from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.eval.copy_synthesis import copy_sources, copy_synthesize
from flowvox.eval.items import find_generated, read_eval_items
from flowvox.vocoders import Vocos, VocosConfig, griffin_lim_vocoder, save_vocoder

SR = 24000


def harmonic_tone(seconds: float, f0: float, sr: int = SR) -> np.ndarray:
    """A voiced-like signal: 6 harmonics of f0 with a slow amplitude swell, peak 0.5."""
    t = np.arange(int(seconds * sr)) / sr
    wav = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 7))
    wav *= 0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t) ** 2
    return (0.5 * wav / np.abs(wav).max()).astype(np.float32)


@pytest.fixture
def recordings(tmp_path):
    """Two recordings (one at 16 kHz, resampled on load) and a test manifest naming them."""
    folder = tmp_path / "rec"
    folder.mkdir()
    sf.write(folder / "low.wav", harmonic_tone(0.6, 120.0), SR)
    sf.write(folder / "high.wav", harmonic_tone(0.5, 220.0, 16000), 16000)
    manifest = tmp_path / "test.jsonl"
    lines = [
        {"id": "utt-a", "text": "a low one", "audio": "rec/low.wav"},
        {"id": "utt-b", "text": "a high one", "audio": "rec/high.wav"},
    ]
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return folder, manifest


def log_mel(path, mel_config) -> torch.Tensor:
    wav, sr = sf.read(path, dtype="float32")
    assert sr == mel_config.sample_rate
    return MelSpectrogram(mel_config)(torch.from_numpy(wav))  # (f, n)


def test_griffin_lim_copy_keeps_the_mel_and_names_files_for_eval(recordings, tmp_path, one_thread):
    folder, manifest = recordings
    mel_config = get_mel_preset("vocos24k")
    out = tmp_path / "copy"
    report = copy_synthesize(copy_sources([manifest]), out, griffin_lim_vocoder(mel_config))
    assert (report.written, report.kept) == (2, 0)
    assert report.audio_seconds == pytest.approx(1.1, abs=0.01)
    # eval --audio-dir finds one file per manifest id
    found = find_generated(read_eval_items(manifest), out)
    assert sorted(found) == ["utt-a", "utt-b"]
    original = MelSpectrogram(mel_config)(torch.from_numpy(harmonic_tone(0.6, 120.0)))
    copied = log_mel(out / "utt-a.wav", mel_config)
    n = min(original.shape[1], copied.shape[1])
    assert abs(original.shape[1] - copied.shape[1]) <= 1
    loud = original[:, :n] > original.max() - 6.0  # harmonics within 6 nats of the peak
    assert (copied[:, :n] - original[:, :n])[loud].abs().mean() < 0.5
    other = MelSpectrogram(mel_config)(torch.from_numpy(harmonic_tone(0.6, 220.0)))[:, :n]
    assert (other - original[:, :n])[loud].abs().mean() > 1.0  # another pitch is far off


def test_rerun_keeps_written_files_and_vocos_folder_sets_the_rate(recordings, tmp_path, one_thread):
    folder, _ = recordings
    torch.manual_seed(0)
    config = VocosConfig(dim=32, hidden_dim=64, num_layers=2)
    vocoder_dir = save_vocoder(tmp_path / "vocos", Vocos(config))
    out = tmp_path / "copy"
    assert main(["vocode", str(folder), str(out), "--vocoder", str(vocoder_dir),
                 "--no-progress"]) == 0  # fmt: skip
    hop = config.mel.hop_length
    for name, seconds in (("low", 0.6), ("high", 0.5)):
        info = sf.info(out / f"{name}.wav")
        assert info.samplerate == SR  # the 16 kHz file came back at the vocoder's rate
        assert abs(info.frames - seconds * SR) <= hop  # center padding: (n - 1)·hop samples
    (out / "high.wav").unlink()
    stamp = (out / "low.wav").stat().st_mtime_ns
    report = copy_synthesize(copy_sources([folder]), out, Vocos(config).eval())
    assert (report.written, report.kept) == (1, 1)
    assert (out / "low.wav").stat().st_mtime_ns == stamp and (out / "high.wav").is_file()


def test_bad_inputs_fail_before_anything_is_written(recordings, tmp_path, capsys):
    folder, manifest = recordings
    out = tmp_path / "copy"
    with pytest.raises(FlowvoxError, match="both write low.wav"):
        copy_sources([folder, folder / "low.wav"])
    no_audio = tmp_path / "text-only.jsonl"
    no_audio.write_text(json.dumps({"id": "x", "text": "no recording"}) + "\n")
    with pytest.raises(FlowvoxError, match="no 'audio'"):
        copy_sources([no_audio])
    code = main(["vocode", str(manifest), str(tmp_path / "missing.wav"), str(out),
                 "--vocoder", "griffin-lim", "--no-progress"])  # fmt: skip
    assert code == 2 and "missing.wav" in capsys.readouterr().err
    assert main(["vocode", str(manifest), str(out), "--vocoder", "gl", "--mel", "nope"]) == 2
    assert not out.exists()
