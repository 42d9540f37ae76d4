"""The ``t2s_fm`` training task: each mode's loss is finite and falls on a tiny overfit, the
supervised targets are the frozen tokenizer's normalised embeddings, text_only reads no audio
and trains only the T2S (gradients pass through the frozen decoder, never into it), the task
fills the model config from the tokenizer and the data, exports are stamped and carry the
tokenizer, and bad run files are one-line errors."""
# b: batch, n: semantic frames, d: embedding channels

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from flowvox.data.dataset import MelDataset
from flowvox.errors import FlowvoxError
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.t2s_fm_generate import load_pair
from flowvox.models.semantic.t2s_fm_objective import anchor_nll, draw_training
from flowvox.models.semantic.t2s_fm_task import T2SFlowTask, T2SFlowTaskConfig, char_error_rate
from flowvox.train import Trainer, run_config_from_dict
from flowvox.train.config import load_run_config
from flowvox.train.setup import seed_all
from flowvox.utils.config import config_from_dict
from tests.models.semantic.helpers import QUIET, TEXTS, train_tokenizer

MODES = ("supervised", "text_only", "both")
REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A tiny tokenizer trained on two clips, their manifest, and a manifest of the same
    texts whose audio files do not exist (text_only must never open them)."""
    root = tmp_path_factory.mktemp("t2s_fm_task")
    tokenizer = train_tokenizer(root, asr_steps=40, vq_steps=20)
    no_audio = root / "no_audio.jsonl"
    no_audio.write_text("".join(json.dumps({"audio": f"gone{i}.wav", "text": t}) + "\n"
                                for i, t in enumerate(TEXTS)))  # fmt: skip
    return {"root": root, "tokenizer": str(tokenizer),
            "manifest": str(root / "corpus/manifest.jsonl"), "no_audio": str(no_audio)}  # fmt: skip


def sections(corpus, mode: str, **model) -> dict:
    manifest = corpus["no_audio"] if mode == "text_only" else corpus["manifest"]
    if mode == "text_only":
        model = {"words_per_second": 5.0, "offset_seconds": 0.2, **model}
    return {"mode": mode, "model": {"preset": "tiny", **model},
            "data": {"tokenizer": corpus["tokenizer"], "manifest": manifest}}  # fmt: skip


def make_task(corpus, mode: str, **model) -> T2SFlowTask:
    return T2SFlowTask(config_from_dict(T2SFlowTaskConfig, sections(corpus, mode, **model)))


@pytest.fixture
def no_audio_reads(monkeypatch):
    """Opening audio, reading a mel or running the audio encoder fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("text_only read audio")

    monkeypatch.setattr(MelDataset, "__init__", refuse)
    monkeypatch.setattr(SemanticTokenizer, "encode", refuse)


def whole_corpus_batch(task: T2SFlowTask):
    data = task.train_data()
    return data.collate([data.dataset[i] for i in range(len(data.dataset))])


def mean_loss(task, modules, batch, draws) -> float:
    with torch.no_grad():
        return sum(task.objective(modules, batch, None, "cpu", d).loss.item() for d in draws) / len(
            draws
        )


def real_audio_nll(corpus) -> float:
    """The decoder's NLL of the texts given the quantised embeddings of their real audio."""
    task = make_task(corpus, "supervised")
    tokenizer, batch = task.build_modules()["tokenizer"], whole_corpus_batch(task)
    with torch.no_grad():
        enc = tokenizer.encode(batch.mel, batch.mel_lengths)
        return anchor_nll(tokenizer, enc.emb, enc.mask, batch.dec_inputs, batch.dec_targets).item()


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_is_finite_and_falls_on_a_tiny_overfit(corpus, mode):
    task = make_task(corpus, mode)
    seed_all(0)
    modules = task.build_modules()
    model = modules["model"]
    batch = whole_corpus_batch(task)
    shape = torch.Size((2, int(batch.frames.max()), task.model_config.emb_dim))
    gen = torch.Generator().manual_seed(1)
    fixed = [draw_training(shape, 0.0, gen, "cpu") for _ in range(4)]  # no text dropped
    before = mean_loss(task, modules, batch, fixed)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(40):
        optimizer.zero_grad()
        terms = task.objective(modules, batch, gen, "cpu")
        assert math.isfinite(terms.loss.item())
        terms.loss.backward()
        optimizer.step()
    after = mean_loss(task, modules, batch, fixed)
    assert math.isfinite(before) and math.isfinite(after)
    assert (terms.flow is None) == (mode == "text_only")
    assert (terms.anchor is None) == (mode == "supervised")
    if mode != "text_only":
        assert after < 0.75 * before, (mode, before, after)  # flow MSE from ≈ 2 (v = 0)
        return
    # the NLL starts from the decoder reading noise; the tiny decoder's floor is its NLL on
    # the real audio's tokens: text_only closes at least half of that gap
    floor = real_audio_nll(corpus)
    assert floor < before and before - after > 0.5 * (before - floor), (before, after, floor)


def test_text_only_finds_the_codes_of_the_real_audio_without_hearing_it(corpus):
    """Both texts get N = 20 (so the decoder cannot tell them by length): text-only training
    moves each text's generated codes to the code the tokenizer gives its real audio."""
    real = make_task(corpus, "supervised")
    tokenizer, audio = real.build_modules()["tokenizer"], whole_corpus_batch(real)
    with torch.no_grad():
        enc = tokenizer.encode(audio.mel, audio.mel_lengths)
        codes = tokenizer.quantize(enc.emb, enc.mask).codes
    heard = [int(row[m].mode().values) for row, m in zip(codes, enc.mask, strict=True)]
    assert heard[0] != heard[1]
    task = make_task(corpus, "text_only", words_per_second=1000.0, offset_seconds=0.8)
    seed_all(0)
    modules = task.build_modules()
    model, batch = modules["model"], whole_corpus_batch(task)
    assert batch.frames.tolist() == [20, 20]

    def made() -> list[int]:
        out = model.eval().sample(batch.texts, [20, 20], nfe=2, cfg=1.0, seeds=[0, 1])
        model.train()
        made = tokenizer.quantize(out.emb, out.mask).codes  # (2, 20)
        return [int(row.mode().values) for row in made]

    assert made() != heard
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(1)
    for _ in range(50):
        optimizer.zero_grad()
        task.objective(modules, batch, gen, "cpu").loss.backward()
        optimizer.step()
    assert made() == heard


def test_supervised_targets_are_the_normalised_embeddings_of_the_frozen_encoder(corpus):
    task = make_task(corpus, "supervised")
    modules = task.build_modules()
    batch = whole_corpus_batch(task)
    with torch.no_grad():
        enc = modules["tokenizer"].encode(batch.mel, batch.mel_lengths)
    x_1 = modules["model"].normalize(enc.emb)[enc.mask]  # (frames, d): the whole corpus
    torch.testing.assert_close(x_1.mean(0), torch.zeros(x_1.shape[1]), atol=1e-4, rtol=0)
    torch.testing.assert_close(x_1.std(0, unbiased=False), torch.ones(x_1.shape[1]),
                               atol=1e-3, rtol=0)  # fmt: skip
    assert batch.frames.tolist() == enc.mask.sum(1).tolist() == [16, 21]


def test_text_only_reads_no_audio_and_trains_only_the_t2s(corpus, no_audio_reads):
    task = make_task(corpus, "text_only")
    modules = task.build_modules()
    tokenizer, model = modules["tokenizer"], modules["model"]
    batch = whole_corpus_batch(task)
    assert batch.mel is None
    # 25 · (0.2 + 2 / 5) = 15 and 25 · (0.2 + 3 / 5) = 20 frames by the rule
    assert batch.frames.tolist() == [15, 20]
    terms = task.objective(modules, batch, torch.Generator().manual_seed(0), "cpu")
    assert terms.flow is None and math.isfinite(terms.loss.item())
    terms.loss.backward()
    assert not tokenizer.training and not tokenizer.decoder.training
    for name, p in tokenizer.named_parameters():
        assert not p.requires_grad and p.grad is None, name
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert grads["network.proj_out.weight"].abs().sum() > 0  # the decoder's NLL reaches it
    assert all(g is not None for g in grads.values())


def test_text_only_trains_and_exports_without_audio(corpus, no_audio_reads, tmp_path):
    run = {"task": "t2s_fm", "out_dir": str(tmp_path / "run"), **sections(corpus, "text_only"),
           "train": {**QUIET, "max_steps": 4, "max_frames": 100}}  # fmt: skip
    logged = Trainer(run_config_from_dict(run)).fit().last_logged
    assert math.isfinite(logged["loss/anchor_nll"]) and "loss/flow" not in logged
    record = json.loads((tmp_path / "run/model/config.json").read_text())
    assert record["family"] == "t2s_fm" and record["mode"] == "text_only"
    assert (record["model"]["cfg_drop_prob"], record["model"]["guidance"]) == (0.0, 1.0)


def test_both_trains_exports_a_stamped_folder_with_the_frozen_tokenizer(corpus, tmp_path):
    run = {"task": "t2s_fm", "out_dir": str(tmp_path / "run"), **sections(corpus, "both"),
           "train": {**QUIET, "max_steps": 4}}  # fmt: skip
    logged = Trainer(run_config_from_dict(run)).fit().last_logged
    assert {"loss/flow", "loss/anchor_nll"} <= set(logged)
    out = tmp_path / "run/model"
    record = json.loads((out / "config.json").read_text())
    assert record["family"] == "t2s_fm" and record["task"] == "t2s_fm"
    before = load_file(f"{corpus['tokenizer']}/model.safetensors")
    after = load_file(out / "tokenizer/model.safetensors")
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    model, tokenizer = load_pair(out)
    assert model.config.emb_dim == tokenizer.config.dim
    weights = load_file(out / "model.safetensors")
    assert not any(k.startswith("tokenizer") for k in weights) and "emb_std" in weights


def test_the_task_fills_the_model_config_from_the_tokenizer_and_the_data(corpus):
    config = make_task(corpus, "supervised").model_config
    tok = SemanticTokenizer.from_pretrained(corpus["tokenizer"]).config
    assert (config.emb_dim, config.codebook_size, config.token_rate) == (tok.dim, 512, 25.0)
    assert config.charset == "".join(sorted(set("".join(TEXTS).replace(" ", ""))))
    # 61 and 81 mel frames (0.61 s, 0.81 s) for 2 and 3 words: 0.2 s a word + 0.21 s
    assert config.words_per_second == pytest.approx(5.0, rel=1e-3)
    assert config.offset_seconds == pytest.approx(0.21, abs=1e-3)
    assert (config.cfg_drop_prob, config.guidance) == (0.1, 2.0)
    kept = make_task(corpus, "supervised", words_per_second=3.0, charset="xyz").model_config
    assert (kept.words_per_second, kept.charset) == (3.0, "xyz")  # a user's values stay


def test_bad_run_files_are_one_line_errors(corpus, tmp_path):
    with pytest.raises(FlowvoxError, match="set model.words_per_second"):
        make_task(corpus, "text_only", words_per_second=None)
    bad = sections(corpus, "supervised")
    bad["data"] = {"tokenizer": corpus["tokenizer"], "texts": str(tmp_path / "t.txt")}
    with pytest.raises(FlowvoxError, match="modes supervised and both need audio"):
        T2SFlowTask(config_from_dict(T2SFlowTaskConfig, bad))
    bad["data"] = {"manifest": corpus["manifest"]}
    with pytest.raises(FlowvoxError, match="data.tokenizer is unset"):
        T2SFlowTask(config_from_dict(T2SFlowTaskConfig, bad))
    bad["data"] = {"manifest": corpus["manifest"], "tokenizer": str(corpus["root"] / "asr/model")}
    with pytest.raises(FlowvoxError, match="a stage-asr model"):
        T2SFlowTask(config_from_dict(T2SFlowTaskConfig, bad))
    with pytest.raises(FlowvoxError, match="expected one of 'supervised'"):
        config_from_dict(T2SFlowTaskConfig, {**sections(corpus, "supervised"), "mode": "x"})


def test_the_packaged_run_files_load_and_the_tiny_one_trains_with_media(corpus, tmp_path):
    small = load_run_config(REPO / "configs/t2s-fm-small.yaml")
    assert (small.task, small.task_config.mode, small.task_config.model) == (
        "t2s_fm",
        "supervised",
        {"preset": "small"},
    )  # fmt: skip  (a section, so that model.words_per_second can be --set for mode text_only)
    overrides = [
        f"data.tokenizer={corpus['tokenizer']}", "data.prepared=null",
        f"data.manifest={corpus['manifest']}", f"out_dir={tmp_path / 'run'}",
        "train.max_steps=2", "train.media_every=2", "train.checkpoint_every=2",
        "train.tensorboard=true", "train.progress_bar=false", "media.nfe=2",
    ]  # fmt: skip
    tiny = load_run_config(REPO / "configs/t2s-fm-tiny.yaml", overrides)
    assert Trainer(tiny).fit().step == 2
    assert (tmp_path / "run/model/tokenizer/config.json").is_file()
    events = list((tmp_path / "run").rglob("events.out.tfevents.*"))
    assert events and any(b"t2s/round_trip_cer" in e.read_bytes() for e in events)


def test_char_error_rate():
    assert char_error_rate("hello", "hello") == 0.0
    assert char_error_rate("hello", "hallo") == pytest.approx(0.2)
    assert char_error_rate("abc", "") == 1.0 and char_error_rate("", "ab") == 2.0
