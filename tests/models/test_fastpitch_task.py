"""The ``fastpitch`` training task: pitch cache and statistics, trainer runs, exact resume,
export and loading."""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from flowvox.data.pitch_cache import pitch_cache_path
from flowvox.errors import FlowvoxError
from flowvox.models.fastpitch.load import load_fastpitch_model
from flowvox.models.fastpitch.model import FastPitch
from flowvox.models.fastpitch.task import FastPitchTask, FastPitchTaskConfig
from flowvox.text import load_vocab
from flowvox.train import (
    StepContext,
    load_run_config,
    train_from_config,
)
from tests.models.task_helpers import (
    RecordingSink,
    ToneCorpus,
    assert_batches_read_ipa,
    assert_resume_is_exact,
)

TEXTS = ["a cat sat.", "dogs run far!", "we sing", "zebra quiz", "hello there", "ok go"]
MODEL = {
    "preset": "tiny", "enc_dim": 32, "enc_ffn_dim": 64, "dec_ffn_dim": 64, "pred_hidden_dim": 32,
}  # fmt: skip
HZ = [200 + 40 * i for i in range(len(TEXTS))]


CORPUS = ToneCorpus(TEXTS, ["held out"], noise=0.01, silent_tail=True)  # tones of HZ
TASK = "fastpitch"
TRAIN = {"max_steps": 3, "max_frames": 200, "checkpoint_every": 1}


def test_pitch_is_cached_and_its_statistics_fill_the_model_config(prepared, build_task):
    task = build_task()
    data = task.train_data()
    item = data.dataset[0]
    assert item.pitch.shape == (item.utterance.mel.shape[0],)
    index = TEXTS.index(item.utterance.text)
    voiced = item.pitch[item.pitch > 0]
    assert len(voiced) > 0.6 * len(item.pitch) and not item.pitch[-8:].any()  # silent end
    assert (voiced / HZ[index] - 1).abs().max() < 0.02
    cache = pitch_cache_path(prepared, item.utterance.audio_path)
    assert cache.is_file()
    stamp = cache.stat().st_mtime_ns
    again = build_task()  # a second start reads the cache, same statistics
    assert cache.stat().st_mtime_ns == stamp
    cfg = task.model_config
    assert again.model_config == cfg
    logs = np.log(HZ)
    assert logs.min() < cfg.pitch_mean < logs.max() and 0.05 < cfg.pitch_std < 0.5
    assert cfg.energy_std > 0.1 and task.config.model["pitch_mean"] == cfg.pitch_mean
    fixed = build_task({**MODEL, "pitch_mean": 5.0}, measure_stats=False)
    assert fixed.model_config.pitch_mean == 5.0


def test_training_step_is_the_models_loss(build_task):
    task = build_task()
    torch.manual_seed(0)
    model = task.build_modules()["model"].eval()
    data = task.train_data()
    batch = data.collate([data.dataset[i] for i in range(3)])
    assert batch.pitch.shape == batch.utterances.mel.shape[:2]
    gen = torch.Generator()
    out = task.training_step(
        {"model": model}, batch, StepContext(0, 0, torch.device("cpu"), gen, gen)
    )
    utt = batch.utterances
    ref = model(utt.mel, utt.mel_lengths, batch.ids, batch.lengths, batch.pitch)
    assert torch.equal(out.loss, ref.loss) and out.frames == int(utt.mel_lengths.sum())
    assert set(out.terms) == {"mel", "prior", "duration", "pitch", "energy"}
    assert batch.lengths.tolist() == [len(task.tokenizer.encode(t)) for t in utt.texts]


def test_three_steps_through_train_from_config_export_and_load(tmp_path, prepared, run_dict):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run_dict(tmp_path / "run")))
    result = train_from_config(path, ["train.lr=2e-3"])
    assert result.step == 3 and result.skipped == {"main": 0}
    for term in ("main", "mel", "prior", "duration", "pitch", "energy"):
        assert math.isfinite(result.last_logged[f"loss/{term}"]), term
    files = sorted(p.name for p in result.export_dir.iterdir())
    assert files == ["config.json", "model.safetensors", "vocab.txt"]
    config = json.loads((result.export_dir / "config.json").read_text())
    assert config["task"] == "fastpitch" and config["train"]["lr"] == 2e-3
    assert config["model"]["text_vocab_size"] == len(load_vocab(prepared / "vocab.txt"))

    loaded = load_fastpitch_model(result.export_dir, "cpu")
    assert not loaded.model.training and loaded.config.pitch_mean == config["model"]["pitch_mean"]
    reference = FastPitch(loaded.config).eval()
    reference.load_state_dict(load_file(tmp_path / "run/checkpoints/step-0000003/ema.safetensors"))
    ids = torch.tensor([loaded.tokenizer.encode("a cat"), loaded.tokenizer.encode("ok go")])
    lengths = torch.tensor([5, 5])
    got, want = loaded.model.synthesize(ids, lengths), reference.synthesize(ids, lengths)
    assert torch.equal(got.mel, want.mel) and torch.equal(got.durations, want.durations)
    fresh = FastPitch(loaded.config).eval().synthesize(ids, lengths, durations=got.durations)
    assert not torch.equal(fresh.mel, got.mel)  # the trained weights matter


@pytest.mark.slow
def test_three_straight_steps_equal_two_then_resume_one(tmp_path, run_dict):
    assert_resume_is_exact(run_dict, tmp_path, 2, 3, "model.proj_out.weight")


def test_task_and_model_dir_mistakes_are_clear_errors(tmp_path, prepared, build_task):
    with pytest.raises(FlowvoxError, match="data.prepared"):
        FastPitchTask(FastPitchTaskConfig())
    with pytest.raises(FlowvoxError, match="text_vocab_size"):
        build_task({**MODEL, "text_vocab_size": 3})
    with pytest.raises(FlowvoxError, match="unknown fastpitch preset"):
        build_task({"preset": "huge"})
    with pytest.raises(FlowvoxError, match="encoder token per frame"):
        build_task(max_item_frames=20)
    with pytest.raises(FlowvoxError, match="not found"):
        load_fastpitch_model(tmp_path / "nowhere")
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"task": "aligned_tts", "model": {}}))
    with pytest.raises(FlowvoxError, match="fastpitch"):
        load_fastpitch_model(folder)


def test_run_file_loads(prepared):
    root = Path(__file__).resolve().parents[2] / "configs"
    run = load_run_config(root / "fastpitch-tiny.yaml", [f"data.prepared={prepared}"])
    assert run.task == "fastpitch" and run.train.max_grad_norm == 1.0


def test_media_shows_truth_over_sample(build_task):
    task = build_task()
    model = task.build_modules()["model"].eval()
    sink = RecordingSink()
    with torch.no_grad():
        task.log_media({"model": model}, 1, sink)
    assert sink.images["mel/true_top_generated_bottom"].shape[0] == 200
    assert math.isfinite(sink.scalars["media/frames_error"])
    assert not sink.wavs  # no audio: the task has no vocoder


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_phoneme_tokenizer_trains_on_the_ipa_of_the_texts(tmp_path, build_task, run_dict):
    from flowvox.infer import Synthesizer

    task = build_task({**MODEL, "tokenizer": "phoneme:en-us"})
    assert_batches_read_ipa(task)
    # trained and exported, it speaks through espeak-ng like training read its texts
    run = run_dict(tmp_path / "run", max_steps=1)
    run["model"] = {**MODEL, "tokenizer": "phoneme:en-us"}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run))
    export = train_from_config(path).export_dir
    assert tuple(load_vocab(export / "vocab.txt")) == task.tokenizer.tokens
    speech = Synthesizer.from_pretrained(export).speak("we sing")
    assert speech.wav.size > 0 and np.isfinite(speech.wav).all()
