"""The ``t2s_ar`` training task: codes of the real audio from the frozen tokenizer (batched
encoding equals one file at a time; a token cache is reused, and refused or replaced when
stale), a trainer run exports a stamped model with the data's median cps, media scalars,
and bad run files are one-line errors."""
# b: batch, n: decoder positions

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from flowvox.data import prepare_dataset
from flowvox.errors import FlowvoxError
from flowvox.models.semantic import ar_data
from flowvox.models.semantic.ar_generate import generate_tokens_ar, load_ar_pair
from flowvox.models.semantic.ar_task import ARTask, ARTaskConfig
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.files import encode_audio
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.train import Trainer, run_config_from_dict
from flowvox.train.config import load_run_config
from flowvox.utils.config import config_from_dict
from tests.models.semantic.helpers import QUIET, TEXTS, write_corpus

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A two-clip corpus and an (untrained, deterministic) tiny tokenizer folder."""
    root = tmp_path_factory.mktemp("t2s_ar")
    manifest = write_corpus(root / "corpus")
    torch.manual_seed(0)
    tokenizer = SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(root / "tok")
    return {"root": root, "manifest": str(manifest), "tokenizer": str(tokenizer)}


def make_task(setup, **data) -> ARTask:
    section = {"tokenizer": setup["tokenizer"], "manifest": setup["manifest"], **data}
    return ARTask(config_from_dict(ARTaskConfig, {"model": "tiny", "data": section}))


def test_codes_come_from_the_frozen_tokenizer(setup):
    task = make_task(setup, encode_frames=10_000)  # both clips in one padded batch
    data = task.train_data()
    tokenizer = task.tokenizer
    corpus = setup["root"] / "corpus"
    by_text = {item.text: item for item in data.dataset}
    assert sorted(by_text) == sorted(TEXTS)
    for i, text in enumerate(TEXTS):
        alone = encode_audio(tokenizer, corpus / f"u{i}.wav")
        item = by_text[text]
        assert item.codes == alone  # padded batch == one clip alone
        assert len(item.codes) == tokenizer.config.token_frames(61 + 20 * i)
        assert item.cps == pytest.approx(len(text) / (len(alone) / 25.0))
    assert data.lengths == [len(item.codes) + 1 for item in data.dataset]
    median = statistics.median(item.cps for item in data.dataset)
    assert task.model_config.default_cps == pytest.approx(median, abs=1e-3)
    batch = data.collate(list(data.dataset))
    c = task.model_config
    assert batch.inputs[:, 0].tolist() == [c.bos, c.bos]
    first = data.dataset[0]
    assert batch.targets[0, len(first.codes)] == c.eos
    assert batch.inputs[0, 1 : len(first.codes) + 1].tolist() == first.codes


def test_a_prepared_whisper16k_folder_gives_the_same_codes(setup, tmp_path):
    prepared = tmp_path / "prepared"
    prepare_dataset(setup["manifest"], prepared, mel_preset="whisper16k", workers=1, progress=False)
    from_manifest = {it.text: it.codes for it in make_task(setup).train_data().dataset}
    task = make_task(setup, manifest=None, prepared=str(prepared))
    assert {it.text: it.codes for it in task.train_data().dataset} == from_manifest
    with pytest.raises(FlowvoxError, match="is not a folder"):
        make_task(setup, manifest=None, prepared=str(tmp_path / "none")).train_data()


def test_the_token_cache_is_reused_and_replaced_when_stale(setup, tmp_path, monkeypatch):
    cache = tmp_path / "codes.safetensors"
    first = [item.codes for item in make_task(setup, token_cache=str(cache)).train_data().dataset]
    assert cache.is_file()

    def no_encoding(*args, **kwargs):
        raise AssertionError("encoded again although the cache fits")

    monkeypatch.setattr(ar_data, "encode_codes", no_encoding)
    again = [item.codes for item in make_task(setup, token_cache=str(cache)).train_data().dataset]
    assert again == first
    with pytest.raises(AssertionError, match="encoded again"):  # other utterances: stale
        make_task(setup, token_cache=str(cache), max_item_frames=70).train_data()
    monkeypatch.undo()
    cache.write_bytes(b"not a safetensors file")
    with pytest.raises(FlowvoxError, match="not a readable token cache"):
        make_task(setup, token_cache=str(cache)).train_data()


def test_a_run_trains_and_exports_a_stamped_model(setup, tmp_path):
    run = {
        "task": "t2s_ar", "out_dir": str(tmp_path / "run"), "model": "tiny",
        "loss": {"label_smoothing": 0.1},
        "data": {"tokenizer": setup["tokenizer"], "manifest": setup["manifest"]},
        "train": {**QUIET, "max_steps": 4},
    }  # fmt: skip
    result = Trainer(run_config_from_dict(run)).fit()
    assert result.step == 4
    assert {"loss/ce", "loss/accuracy"} <= set(result.last_logged)
    assert result.last_logged["loss/ce"] > 0
    folder = tmp_path / "run/model"
    record = json.loads((folder / "config.json").read_text())
    assert record["family"] == "t2s_ar" and record["tokenizer"] == setup["tokenizer"]
    pair = load_ar_pair(folder)  # the tokenizer travels inside as tokenizer/
    config = pair.model.config
    assert config.default_cps is not None and config.default_cps > 0
    assert config.token_rate == 25.0 and config.charset == "".join(sorted(set("".join(TEXTS))))
    assert pair.tokenizer.config == SemanticConfig.preset("tiny")
    out = generate_tokens_ar(pair.model, ["hello moon"], tokenizer=pair.tokenizer.config)
    assert len(out.codes[0]) > 0
    with pytest.raises(FlowvoxError, match="only characters the model never saw"):
        generate_tokens_ar(pair.model, ["ÄÖ 12"])


def test_media_scalars(setup):
    task = make_task(setup)
    task.train_data()
    model = task.build_modules()["model"].eval()
    scalars: dict[str, float] = {}

    class Sink:
        def scalar(self, tag: str, value: float) -> None:
            scalars[tag] = value

    with torch.no_grad():
        task.log_media({"model": model}, 0, Sink())
    assert set(scalars) == {
        "t2s_ar/token_accuracy",
        "t2s_ar/length_ratio",
        "t2s_ar/roundtrip_exact",
    }
    assert 0.0 <= scalars["t2s_ar/token_accuracy"] <= 1.0
    assert scalars["t2s_ar/length_ratio"] > 0 and scalars["t2s_ar/roundtrip_exact"] == 0.0


def test_bad_run_files_are_one_line_errors(setup, tmp_path):
    torch.manual_seed(0)
    small_book = SemanticConfig.preset("tiny", ["codebook_size=64"])
    other = SemanticTokenizer(small_book).save_pretrained(tmp_path / "tok64")
    cases = [
        (dict(tokenizer=None), "data.tokenizer is not set"),
        (
            dict(tokenizer=str(other)),
            "tokenizer has 64 codes but the T2S model writes ids of a 512",
        ),
        (dict(tokenizer=str(tmp_path / "none")), "not found"),
    ]
    for data, match in cases:
        with pytest.raises(FlowvoxError, match=match) as err:
            make_task(setup, **data)
        assert "\n" not in str(err.value)
    task = ARTask(
        config_from_dict(
            ARTaskConfig,
            {
                "model": {"preset": "tiny", "codebook_size": 64},
                "data": {"tokenizer": str(other), "manifest": setup["manifest"]},
            },
        )  # fmt: skip
    )
    assert task.build_modules()["model"].config.vocab_size == 67
    data_cases = [
        (dict(manifest=None), "set one of data.prepared"),
        (dict(split="test"), "no entry of split 'test'"),
        (dict(max_item_frames=50), "no train utterance has 16 .. 50 mel frames"),
    ]
    for data, match in data_cases:
        with pytest.raises(FlowvoxError, match=match):
            make_task(setup, **data).train_data()
    with pytest.raises(FlowvoxError, match="label_smoothing"):
        config_from_dict(ARTaskConfig, {"loss": {"label_smoothing": 1.0}})


def test_the_packaged_run_files_load_and_the_tiny_one_trains(setup, tmp_path):
    small = load_run_config(REPO / "configs/t2s-ar-small.yaml")
    assert small.task == "t2s_ar" and small.task_config.model == "small"
    assert small.task_config.data.token_cache.endswith(".safetensors")
    overrides = [
        f"data.tokenizer={setup['tokenizer']}", "data.prepared=null",
        f"data.manifest={setup['manifest']}", f"out_dir={tmp_path / 'run'}",
        "train.max_steps=2", "train.media_every=2", "train.checkpoint_every=2",
        "train.tensorboard=true", "train.progress_bar=false",
    ]  # fmt: skip
    tiny = load_run_config(REPO / "configs/t2s-ar-tiny.yaml", overrides)
    assert Trainer(tiny).fit().step == 2
    assert (tmp_path / "run/model/tokenizer/config.json").is_file()
