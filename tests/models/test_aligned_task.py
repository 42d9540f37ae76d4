"""The ``aligned_tts`` training task: trainer runs, exact resume, export and loading."""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from flowvox.errors import FlowvoxError
from flowvox.models.aligned.load import load_aligned_model
from flowvox.models.aligned.model import AlignedTTS
from flowvox.models.aligned.task import AlignedTaskConfig, AlignedTTSTask, resolve_model_config
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
TOO_SHORT = "far too long a text for so short a clip"  # 0.2 s: 19 frames for 81 tokens
MODEL = {"preset": "tiny", "dim": 32, "heads": 2, "enc_dim": 32, "enc_ffn_dim": 64}


CORPUS = ToneCorpus([*TEXTS, TOO_SHORT], ["held out"], fixed={TOO_SHORT: 0.2})
TASK = "aligned_tts"
TRAIN = {"max_steps": 3, "max_frames": 200, "checkpoint_every": 1}


def test_three_steps_through_train_from_config_export_and_load(tmp_path, prepared, run_dict):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run_dict(tmp_path / "run")))
    result = train_from_config(path, ["train.lr=2e-3"])
    assert result.step == 3 and result.skipped == {"main": 0}
    for term in ("main", "flow", "prior", "duration"):
        assert math.isfinite(result.last_logged[f"loss/{term}"]), term
    files = sorted(p.name for p in result.export_dir.iterdir())
    assert files == ["config.json", "model.safetensors", "vocab.txt"]
    config = json.loads((result.export_dir / "config.json").read_text())
    assert config["task"] == "aligned_tts" and config["train"]["lr"] == 2e-3
    vocab = load_vocab(prepared / "vocab.txt")
    assert config["model"]["text_vocab_size"] == len(vocab) and config["model"]["dim"] == 32

    loaded = load_aligned_model(result.export_dir, "cpu")
    assert not loaded.model.training and loaded.tokenizer.tokens == tuple(vocab)
    reference = AlignedTTS(loaded.config).eval()
    reference.load_state_dict(load_file(tmp_path / "run/checkpoints/step-0000003/ema.safetensors"))
    ids = torch.tensor([loaded.tokenizer.encode("a cat"), loaded.tokenizer.encode("ok go")])
    lengths = torch.tensor([5, 5])

    def sample(model):
        gen = torch.Generator().manual_seed(0)
        return model.synthesize(ids, lengths, nfe=2, cfg=0.7, generator=gen)

    got, want = sample(loaded.model), sample(reference)
    assert torch.equal(got.mel, want.mel) and torch.equal(got.durations, want.durations)
    fresh = AlignedTTS(loaded.config).eval()
    assert not torch.equal(sample(fresh).mel, got.mel)  # the trained weights matter
    plain = tmp_path / "plain"  # a config.json holding the fields directly loads too
    shutil.copytree(result.export_dir, plain)
    (plain / "config.json").write_text(json.dumps(loaded.config.to_dict()))
    assert torch.equal(sample(load_aligned_model(plain).model).mel, got.mel)


@pytest.mark.slow
def test_three_straight_steps_equal_two_then_resume_one(tmp_path, run_dict):
    assert_resume_is_exact(run_dict, tmp_path, 2, 3, "model.decoder.input_proj.weight")


def test_training_step_is_the_models_loss(build_task):
    task = build_task()
    torch.manual_seed(0)
    model = task.build_modules()["model"].eval()
    data = task.train_data()
    batch = data.collate([data.dataset[i] for i in range(3)])
    gen = torch.Generator().manual_seed(5)
    out = task.training_step(
        {"model": model}, batch, StepContext(0, 0, torch.device("cpu"), gen, gen)
    )
    utt = batch.utterances
    ref = model.loss(
        utt.mel, utt.mel_lengths, batch.ids, batch.lengths, torch.Generator().manual_seed(5)
    )
    assert torch.equal(out.loss, ref.loss) and out.frames == int(utt.mel_lengths.sum())
    assert float(out.terms["prior"]) == float(ref.prior.detach())
    assert batch.lengths.tolist() == [len(task.tokenizer.encode(t)) for t in utt.texts]


def test_task_and_model_dir_mistakes_are_clear_errors(tmp_path, prepared, build_task):
    with pytest.raises(FlowvoxError, match="data.prepared"):
        AlignedTTSTask(AlignedTaskConfig())
    with pytest.raises(FlowvoxError, match="text_vocab_size"):
        build_task({**MODEL, "text_vocab_size": 3})
    with pytest.raises(FlowvoxError, match="unknown aligned preset"):
        build_task({"preset": "huge"})
    with pytest.raises(FlowvoxError, match="speaker"):
        build_task({**MODEL, "cond_dim": 4})
    # an utterance shorter than its tokens (blanks included) cannot be aligned: left out
    data = build_task().train_data()
    assert sorted(item.text for item in data.dataset) == sorted(TEXTS) and min(data.lengths) > 40
    with pytest.raises(FlowvoxError, match="encoder token per frame"):
        build_task(max_item_frames=20).train_data()
    size = len(load_vocab(prepared / "vocab.txt"))
    assert resolve_model_config("tiny", size) == resolve_model_config({"preset": "tiny"}, size)
    with pytest.raises(FlowvoxError, match="not found"):
        load_aligned_model(tmp_path / "nowhere")
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"task": "infill_tts", "model": {}}))
    with pytest.raises(FlowvoxError, match="aligned_tts"):
        load_aligned_model(folder)


def test_run_file_loads(prepared):
    root = Path(__file__).resolve().parents[2] / "configs"
    run = load_run_config(root / "aligned-tiny.yaml", [f"data.prepared={prepared}"])
    assert run.task == "aligned_tts" and run.train.max_grad_norm == 1.0


def test_media_shows_truth_over_sample(build_task):
    task = build_task()
    model = task.build_modules()["model"].eval()
    sink = RecordingSink()
    with torch.no_grad():
        task.log_media({"model": model}, 1, sink)
    image = sink.images["mel/true_top_generated_bottom"]
    assert image.shape[0] == 200 and math.isfinite(sink.scalars["media/frames_error"])
    assert not sink.wavs  # no audio: the task has no vocoder


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")
def test_phoneme_tokenizer_reads_ipa_of_the_texts(tmp_path, build_task):
    task = build_task({**MODEL, "tokenizer": "phoneme:en-us"})
    assert_batches_read_ipa(task)
    assert task.model_config.text_vocab_size < 60
    task.export_files(tmp_path)
    assert tuple(load_vocab(tmp_path / "vocab.txt")) == task.tokenizer.tokens
