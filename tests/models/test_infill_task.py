"""The ``infill_tts`` training task: trainer runs, exact resume, export and loading, media."""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from flowvox.errors import FlowvoxError
from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.models.infill.media import MediaConfig
from flowvox.models.infill.task import (
    InfillTaskConfig,
    InfillTTSTask,
    load_infill_model,
    resolve_model_config,
)
from flowvox.text import load_vocab
from flowvox.train import (
    StepContext,
    Trainer,
    load_run_config,
    run_config_from_dict,
    train_from_config,
)
from tests.models.task_helpers import RecordingSink, ToneCorpus, assert_resume_is_exact

TEXTS = [
    "a cat sat.",
    "dogs run far!",
    "we sing, you hum",
    "zebra quiz",
    "hello there",
    "the sun rose",
    "it is late",
    "ok go",
]
MODEL = {"preset": "tiny", "dim": 32, "heads": 2, "text_dim": 32, "conv_layers": 1}


CORPUS = ToneCorpus(TEXTS, ["held out one", "and two"], seconds=0.25)
TASK = "infill_tts"
TRAIN = {"max_steps": 4, "max_frames": 160, "checkpoint_every": 2}


def test_four_steps_through_train_from_config_export_a_model_dir(tmp_path, prepared, run_dict):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run_dict(tmp_path / "run")))
    result = train_from_config(path, ["train.lr=2e-3"])
    assert result.step == 4 and result.skipped == {"main": 0}
    assert math.isfinite(result.last_logged["loss/main"])
    assert 0.5 < result.last_logged["loss/span_fraction"] <= 1.0
    assert result.frames_per_second > 0
    files = sorted(p.name for p in result.export_dir.iterdir())
    assert files == ["config.json", "model.safetensors", "vocab.txt"]
    config = json.loads((result.export_dir / "config.json").read_text())
    assert config["task"] == "infill_tts" and config["train"]["lr"] == 2e-3
    vocab = load_vocab(prepared / "vocab.txt")
    assert config["model"]["text_vocab_size"] == len(vocab) and config["model"]["dim"] == 32
    assert config["model"]["mel"]["name"] == "vocos24k"  # the full mel config, not a name
    assert load_vocab(result.export_dir / "vocab.txt") == vocab


@pytest.mark.slow
def test_four_straight_steps_equal_two_then_resume_two(tmp_path, run_dict):
    assert_resume_is_exact(run_dict, tmp_path, 2, 4, "model.transformer.proj_out.weight")


@pytest.mark.slow
def test_run_files_load_and_tiny_trains_with_media(tmp_path, prepared):
    root = Path(__file__).resolve().parents[2] / "configs"
    for name in ("small", "base"):
        run = load_run_config(root / f"infill-{name}.yaml", [f"data.prepared={prepared}"])
        assert run.train.lr == 7.5e-5 and run.train.max_grad_norm == 1.0
        assert run.train.ema_decay > 0.999 and run.train.warmup_steps > 0
    overrides = [
        f"data.prepared={prepared}",
        f"out_dir={tmp_path / 'tiny'}",
        "data.min_item_frames=4",
        "train.max_steps=2",
        "train.media_every=2",
        "train.progress_bar=false",
        "media.nfe=2",
        "media.griffin_lim_iters=1",
    ]
    result = train_from_config(root / "infill-tiny.yaml", overrides)
    assert result.step == 2
    events = list((tmp_path / "tiny/tensorboard").rglob("events.out.tfevents.*"))
    assert events and sum(e.stat().st_size for e in events) > 20_000  # images and audio


def test_training_step_is_the_models_span_loss(build_task):
    task = build_task()
    torch.manual_seed(0)
    model = task.build_modules()["model"].eval()  # no dropout: compare two forwards
    data = task.train_data()
    batch = data.collate([data.dataset[i] for i in range(3)])
    gen = torch.Generator().manual_seed(5)
    ctx = StepContext(0, 0, torch.device("cpu"), gen, gen)
    out = task.training_step({"model": model}, batch, ctx)
    utt = batch.utterances
    again = torch.Generator().manual_seed(5)
    reference = model.loss(utt.mel, utt.mel_lengths, batch.text_ids, again)
    assert torch.equal(out.loss, reference.loss)
    assert out.frames == int(utt.mel_lengths.sum())
    frac = reference.span_frames / utt.mel_lengths.sum()
    assert out.terms["span_fraction"] == pytest.approx(float(frac))


def test_exported_dir_loads_with_the_ema_weights(tmp_path, prepared, run_dict):
    trainer = Trainer(run_config_from_dict(run_dict(tmp_path / "run")))
    result = trainer.fit()
    loaded = load_infill_model(result.export_dir, "cpu")
    assert not loaded.model.training
    assert loaded.tokenizer.tokens == tuple(load_vocab(prepared / "vocab.txt"))
    assert loaded.config.dim == 32 and loaded.config.text_vocab_size == loaded.tokenizer.vocab_size
    reference = InfillTTS(loaded.config).eval()
    ema = load_file(tmp_path / "run/checkpoints/step-0000004/ema.safetensors")
    reference.load_state_dict(ema)
    gen = torch.Generator().manual_seed(0)
    x, cond = torch.randn(2, 30, 100, generator=gen), torch.randn(2, 30, 100, generator=gen)
    text = torch.tensor([loaded.tokenizer.encode("a cat"), loaded.tokenizer.encode("ok go")])
    t = torch.tensor([0.3, 0.8])
    with torch.no_grad():
        v = loaded.model(x, cond, text, t)
        assert torch.equal(v, reference(x, cond, text, t))
        fresh = InfillTTS(loaded.config).eval()
        torch.nn.init.normal_(fresh.transformer.proj_out.weight)
        assert not torch.equal(v, fresh(x, cond, text, t))
    # the config holding InfillTTSConfig fields directly is accepted too
    plain = tmp_path / "plain"
    shutil.copytree(result.export_dir, plain)
    (plain / "config.json").write_text(json.dumps(loaded.config.to_dict()))
    assert torch.equal(load_infill_model(plain).model(x, cond, text, t), v)


def test_bad_model_dirs_are_clear_errors(tmp_path, prepared):
    config = resolve_model_config(MODEL, len(load_vocab(prepared / "vocab.txt")))
    good = tmp_path / "good"
    good.mkdir()
    (good / "config.json").write_text(json.dumps(config.to_dict()))
    shutil.copy(prepared / "vocab.txt", good / "vocab.txt")
    state = {k: v.contiguous() for k, v in InfillTTS(config).state_dict().items()}
    save_file(state, good / "model.safetensors")
    load_infill_model(good)

    def broken(name, change):
        folder = tmp_path / name
        shutil.copytree(good, folder)
        change(folder)
        with pytest.raises(FlowvoxError) as err:
            load_infill_model(folder)
        return str(err.value)

    with pytest.raises(FlowvoxError, match="not found"):
        load_infill_model(tmp_path / "nowhere")
    assert "config.json" in broken("noconfig", lambda f: (f / "config.json").unlink())
    assert "model.safetensors" in broken("noweights", lambda f: (f / "model.safetensors").unlink())
    assert "vocab" in broken("novocab", lambda f: (f / "vocab.txt").unlink())
    message = broken("junk", lambda f: (f / "model.safetensors").write_bytes(b"not tensors"))
    assert "safetensors" in message

    def extra_and_missing(folder):
        tensors = dict(state)
        tensors.pop("transformer.proj_out.bias")
        tensors["transformer.extra"] = torch.zeros(2)
        save_file(tensors, folder / "model.safetensors")

    message = broken("keys", extra_and_missing)
    assert "missing 1: transformer.proj_out.bias" in message
    assert "unexpected 1: transformer.extra" in message

    def wider(folder):
        (folder / "config.json").write_text(json.dumps(config.replace(dim=48).to_dict()))

    assert "shape" in broken("shape", wider)

    def other_task(folder):
        (folder / "config.json").write_text(json.dumps({"task": "vocoder", "model": {}}))

    assert "infill_tts" in broken("task", other_task)

    def short_vocab(folder):
        (folder / "vocab.txt").write_text(" \na\nb\n")

    assert "3 tokens" in broken("vocab", short_vocab)


def test_task_config_mistakes_name_the_key(tmp_path, prepared, build_task):
    with pytest.raises(FlowvoxError, match="data.prepared"):
        InfillTTSTask(InfillTaskConfig())
    with pytest.raises(FlowvoxError, match="text_vocab_size"):
        build_task({**MODEL, "text_vocab_size": 3})
    with pytest.raises(FlowvoxError, match="unknown infill preset"):
        build_task({"preset": "huge"})
    with pytest.raises(FlowvoxError, match="no valid.jsonl"):
        build_task(split="valid").train_data()
    with pytest.raises(FlowvoxError, match="min_item_frames"):
        build_task(min_item_frames=10_000).train_data()
    byte = build_task({**MODEL, "tokenizer": "byte"})
    assert byte.model_config.text_vocab_size == 256 and byte.model_config.vocab_file is None


def test_phoneme_tokenizer_trains_on_espeak_ipa_and_exports_its_vocab(tmp_path, build_task):
    from flowvox.text import phonemize

    task = build_task({**MODEL, "tokenizer": "phoneme:en-us"})
    data = task.train_data()
    item = data.dataset[0]
    ipa = phonemize([item.text], "en-us")[0]
    assert ipa != item.text and task.tokenizer.decode(task.text.encode(item.text)) == ipa
    batch = data.collate([item])
    assert batch.text_ids[0].tolist() == task.text.encode(item.text)
    assert task.model_config.text_vocab_size == task.tokenizer.vocab_size
    task.export_files(tmp_path)
    assert set(ipa) <= set((tmp_path / "vocab.txt").read_text(encoding="utf-8"))
    task = build_task(max_item_frames=40)
    assert max(task.train_data().lengths) <= 40
    assert isinstance(task.config.model, dict) and task.config.model["dim"] == 32


def test_media_shows_truth_and_sample_of_the_held_out_utterance(build_task):
    task = build_task()
    task.config.media = MediaConfig(nfe=3, griffin_lim_iters=2)
    model = task.build_modules()["model"].eval()
    torch.nn.init.normal_(model.transformer.proj_out.weight, std=0.1)
    sink = RecordingSink()
    with torch.no_grad():
        task.log_media({"model": model}, 10, sink)
    mel, ids = task.media_item()
    assert task.tokenizer.decode(ids[0].tolist()) == "held out one"  # the test split
    n, f = mel.shape
    image = sink.images["mel/true_top_generated_bottom"]
    assert image.shape == (2 * f, n)
    assert torch.equal(image[f:], mel.T)  # the truth on top (row 0 is drawn at the bottom)
    prompt = round(0.3 * n)
    assert torch.equal(image[:f, :prompt], mel[:prompt].T)  # the prompt copied back
    assert not torch.allclose(image[:f, prompt:], mel[prompt:].T)
    assert sink.images["attention/block0"].shape == (n, n)
    assert torch.allclose(sink.images["attention/block0"].sum(1), torch.ones(n))
    wav, sr = sink.wavs["audio/generated"]
    assert sr == 24000 and wav.abs().max() <= 1.0 and wav.shape == sink.wavs["audio/true"][0].shape
    assert math.isfinite(sink.scalars["media/infill_l1"])


def test_model_section_forms_resolve_alike(prepared):
    size = len(load_vocab(prepared / "vocab.txt"))
    by_name = resolve_model_config("tiny", size)
    by_preset = resolve_model_config({"preset": "tiny"}, size)
    by_fields = resolve_model_config(by_name.to_dict(), size)
    assert by_name == by_preset == by_fields and by_name.text_vocab_size == size
    assert InfillTTSConfig.preset("tiny").text_vocab_size is None
    assert resolve_model_config({"preset": "tiny", "tokenizer": "byte"}, 256).vocab_file is None
