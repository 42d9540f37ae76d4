"""Task s2a: items pair each prepared (vocos24k) mel with the frozen tokenizer's codes of
the same audio (cached), a run trains and exports a stamped folder that loads and samples,
the media sample, the configs, and bad run files as one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from flowvox.data.prepare import prepare_dataset
from flowvox.errors import FlowvoxError
from flowvox.models.semantic import ar_data
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.files import encode_audio
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.s2a_config import S2AConfig
from flowvox.models.semantic.s2a_model import S2AJob, load_s2a
from flowvox.models.semantic.s2a_task import S2ATask, S2ATaskConfig
from flowvox.train import Trainer, run_config_from_dict
from flowvox.utils.config import config_from_dict, read_yaml
from tests.models.semantic.helpers import QUIET, write_corpus

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """An untrained tiny tokenizer (stage vq), the two-clip corpus, its vocos24k folder."""
    root = tmp_path_factory.mktemp("s2a_task")
    torch.manual_seed(0)
    SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(
        root / "tok", extra={"stage": "vq"}
    )
    manifest = write_corpus(root / "corpus")
    prepare_dataset(manifest, root / "prepared", workers=1, progress=False)
    return {"tokenizer": str(root / "tok"), "prepared": str(root / "prepared"),
            "corpus": root / "corpus"}  # fmt: skip


def make_task(setup, **data) -> S2ATask:
    section = {"tokenizer": setup["tokenizer"], "prepared": setup["prepared"], **data}
    config = config_from_dict(S2ATaskConfig, {"model": "tiny", "data": section,
                                              "media": {"nfe": 2}})  # fmt: skip
    return S2ATask(config)


def test_items_pair_each_mel_with_the_codes_of_its_audio(setup):
    task = make_task(setup, min_item_frames=1)
    assert task.model_config.codebook_size == 512 and task.model_config.token_rate == 25.0
    data = task.train_data()
    # 0.6 s and 0.8 s: vocos24k 57 and 76 frames; tokens 16 and 21
    assert sorted(data.lengths) == [57, 76]
    tokenizer = SemanticTokenizer.from_pretrained(setup["tokenizer"])
    by_frames = {item.mel.shape[0]: item for item in data.dataset}
    for frames, clip in ((57, "u0.wav"), (76, "u1.wav")):
        assert by_frames[frames].codes == encode_audio(tokenizer, setup["corpus"] / clip)
        assert by_frames[frames].mel.shape == (frames, 100)
    batch = data.collate(list(data.dataset))
    row = [i for i, n in enumerate(batch.lengths.tolist()) if n == 57][0]
    codes = by_frames[57].codes
    assert batch.frame_codes[row, :57].tolist() == [
        codes[min(int(j / 3.75), len(codes) - 1)] for j in range(57)
    ]
    assert (batch.frame_codes[row, 57:] == 512).all()
    short = make_task(setup, min_item_frames=60).train_data()
    assert short.lengths == [76]


def test_the_token_cache_is_written_and_reused(setup, tmp_path, monkeypatch):
    cache = tmp_path / "codes.safetensors"
    first = [item.codes for item in make_task(setup, token_cache=str(cache)).dataset()]
    assert cache.is_file()

    def no_encoding(*args, **kwargs):
        raise AssertionError("encoded again although the cache fits")

    monkeypatch.setattr(ar_data, "encode_codes", no_encoding)
    assert [item.codes for item in make_task(setup, token_cache=str(cache)).dataset()] == first


def test_a_run_trains_exports_and_samples(setup, tmp_path):
    run = {
        "task": "s2a", "out_dir": str(tmp_path / "run"), "model": "tiny",
        "data": {"tokenizer": setup["tokenizer"], "prepared": setup["prepared"]},
        "train": {**QUIET, "max_steps": 3, "max_frames": 200},
    }  # fmt: skip
    result = Trainer(run_config_from_dict(run)).fit()
    assert result.step == 3 and result.last_logged["loss/main"] > 0
    assert 0.5 < result.last_logged["loss/span_fraction"] <= 1.0
    folder = tmp_path / "run/model"
    record = json.loads((folder / "config.json").read_text())
    assert record["family"] == "s2a" and record["model"]["codebook_size"] == 512
    assert (folder / "tokenizer/model.safetensors").is_file()
    model = load_s2a(folder)
    assert model.config == S2AConfig.preset("tiny")
    prompt = torch.randn(10, 100)
    mel = model.sample([S2AJob([1, 2, 3, 4], prompt, [5, 6, 7], 0)], nfe=2)[0]
    assert mel.shape == (15, 100) and torch.isfinite(mel).all()


class Sink:
    def __init__(self):
        self.scalars, self.images = {}, {}

    def scalar(self, tag, value):
        self.scalars[tag] = value

    def image(self, tag, image):
        self.images[tag] = image

    def audio(self, tag, wav, sample_rate):
        raise AssertionError("no audio expected")


def test_media_makes_the_end_of_an_utterance_from_its_codes(setup):
    task = make_task(setup, media_index=1)
    model = task.build_modules()["model"].eval()
    sink = Sink()
    task.log_media({"model": model}, 0, sink)
    assert sink.scalars["s2a/mel_l1"] > 0
    made, real = sink.images["s2a/mel_made"], sink.images["s2a/mel_real"]
    assert made.shape[0] == real.shape[0] == 100 and abs(made.shape[1] - real.shape[1]) <= 4


@pytest.mark.parametrize("name", ["s2a-tiny.yaml", "s2a-small.yaml"])
def test_the_configs_resolve(name):
    run = read_yaml(ROOT / "configs" / name)
    assert run["task"] == "s2a"
    config = config_from_dict(S2ATaskConfig, {k: run[k] for k in ("model", "data", "media")})
    model = S2AConfig.from_section(config.model)
    assert model.mel.name == "vocos24k" and model.dim in (64, 384)
    run_config_from_dict(run)  # train section and task name check out


def test_bad_run_files_are_one_line_errors(setup, tmp_path):
    with pytest.raises(FlowvoxError, match="data.tokenizer is not set"):
        make_task(setup, tokenizer=None)
    with pytest.raises(FlowvoxError, match="is not a folder"):
        make_task(setup, prepared=str(tmp_path / "none"))
    with pytest.raises(FlowvoxError, match="no train utterance has 500 .. "):
        make_task(setup, min_item_frames=500).train_data()
    section = {"tokenizer": setup["tokenizer"], "prepared": setup["prepared"]}
    with pytest.raises(FlowvoxError, match="unknown s2a preset 'huge'; choose one of tiny"):
        S2ATask(config_from_dict(S2ATaskConfig, {"model": "huge", "data": section}))
    whisper = tmp_path / "w16"
    prepare_dataset(setup["corpus"] / "manifest.jsonl", whisper, mel_preset="whisper16k",
                    workers=1, progress=False)  # fmt: skip
    with pytest.raises(FlowvoxError, match="uses mel preset 'vocos24k' but the mel cache"):
        make_task(setup, prepared=str(whisper)).train_data()
