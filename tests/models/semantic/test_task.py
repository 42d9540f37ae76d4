"""The ``semantic`` training task: stage asr overfits two transcripts, stage vq trains only
the quantiser through the frozen decoder (CE + KL + codebook terms), exports are stamped
with their stage, and bad run files and data are clear errors."""
# b: batch, n: mel frames, f: mel bins, l: text tokens

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from torch.nn import functional as F

from flowvox.data import prepare_dataset
from flowvox.errors import FlowvoxError
from flowvox.models.semantic.model import load_semantic
from flowvox.models.semantic.task import SemanticTask, SemanticTaskConfig, collate_semantic
from flowvox.train import Trainer, run_config_from_dict
from flowvox.train.setup import seed_all
from flowvox.utils.config import config_from_dict
from tests.models.semantic.helpers import TEXTS, run_dict, write_corpus

ASR_STEPS, VQ_STEPS = 50, 20


def make_task(data: dict, **sections) -> SemanticTask:
    config = config_from_dict(SemanticTaskConfig, {"model": "tiny", "data": data, **sections})
    return SemanticTask(config)


def corpus_ce(model, task: SemanticTask, through_vq: bool) -> float:
    """Mean transcript cross-entropy of the model over the whole (two-item) corpus."""
    batch = collate_semantic([task.train_data().dataset[i] for i in range(2)])
    with torch.no_grad():
        logits = model(batch.mel, batch.lengths, batch.inputs, through_vq).logits
    return F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten()).item()


def transcripts(model, task: SemanticTask, through_vq: bool) -> list[str]:
    batch = collate_semantic([task.train_data().dataset[i] for i in range(2)])
    enc = model.encode(batch.mel, batch.lengths)
    if through_vq:
        q = model.quantize(enc.emb, enc.mask)
        return model.transcribe(q.quantized, q.mask)
    return model.transcribe(enc.emb, enc.mask)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Stage asr (ASR_STEPS) then stage vq from it (VQ_STEPS) on the two-clip corpus."""
    root = tmp_path_factory.mktemp("semantic_runs")
    data = {"manifest": str(write_corpus(root / "corpus"))}
    asr = Trainer(run_config_from_dict(run_dict(root / "asr", data, ASR_STEPS))).fit()
    vq_run = run_dict(root / "vq", data, VQ_STEPS, stage="vq", init_from=str(root / "asr/model"))
    vq = Trainer(run_config_from_dict(vq_run)).fit()
    return {"root": root, "data": data, "asr": asr, "vq": vq}


def test_stage_asr_overfits_two_transcripts(runs):
    task = make_task(runs["data"])
    seed_all(0)  # as the trainer does before building its modules
    start = corpus_ce(task.build_modules()["model"].eval(), task, through_vq=False)
    trained = load_semantic(runs["root"] / "asr/model")
    end = corpus_ce(trained, task, through_vq=False)
    assert start > 4.0  # ≈ ln 258 for a fresh decoder
    assert end < 0.05 * start, (start, end)
    assert transcripts(trained, task, through_vq=False) == list(TEXTS)
    record = json.loads((runs["root"] / "asr/model/config.json").read_text())
    assert (record["family"], record["stage"]) == ("semantic", "asr")


def test_stage_vq_trains_only_the_quantiser_through_the_frozen_decoder(runs):
    logged = runs["vq"].last_logged
    assert {"loss/ce", "loss/kl", "loss/codebook", "loss/commitment"} <= set(logged)
    assert logged["loss/code_perplexity"] >= 1.0
    asr = load_file(runs["root"] / "asr/model/model.safetensors")
    vq = load_file(runs["root"] / "vq/model/model.safetensors")
    frozen = [k for k in asr if not k.startswith("vq.")]
    assert frozen and all(torch.equal(asr[k], vq[k]) for k in frozen)
    assert any(not torch.equal(asr[k], vq[k]) for k in asr if k.startswith("vq."))
    task = make_task(runs["data"])
    model = load_semantic(runs["root"] / "vq/model")
    assert transcripts(model, task, through_vq=True) == list(TEXTS)
    record = json.loads((runs["root"] / "vq/model/config.json").read_text())
    assert record["stage"] == "vq" and record["init_from"].endswith("asr/model")


def test_stage_vq_needs_an_asr_model_of_the_same_shape(runs):
    data, asr = runs["data"], str(runs["root"] / "asr/model")
    with pytest.raises(FlowvoxError, match="set init_from"):
        make_task(data, stage="vq")
    with pytest.raises(FlowvoxError, match="changes dim, encoder_depth"):
        make_task(data, stage="vq", init_from=asr, model="small")
    task = make_task(data, stage="vq", init_from=asr, model={"codebook_size": 64})
    model = task.build_modules()["model"]
    assert model.config.codebook_size == 64
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"vq"}
    model.train()  # the frozen teacher parts stay in eval mode (no dropout)
    assert model.vq.training and not model.encoder.training and not model.decoder.training
    with pytest.raises(FlowvoxError, match="init_from belongs to stage vq"):
        make_task(data, init_from=asr)


def test_a_prepared_whisper16k_folder_trains(runs, tmp_path):
    prepared = tmp_path / "prepared"
    manifest = runs["data"]["manifest"]
    prepare_dataset(manifest, prepared, mel_preset="whisper16k", workers=1, progress=False)
    task = make_task({"prepared": str(prepared)})
    data = task.train_data()
    assert sorted(data.lengths) == [61, 81]  # 0.6 s and 0.8 s: s // 160 + 1 frames
    item = data.dataset[0]
    assert item.mel.shape[1] == 80 and item.text in TEXTS
    out = Trainer(run_config_from_dict(run_dict(tmp_path / "r", {"prepared": str(prepared)}, 2)))
    assert out.fit().step == 2


def test_bad_data_sections_are_clear_errors(runs, tmp_path):
    manifest = runs["data"]["manifest"]
    with pytest.raises(FlowvoxError, match="set one of data.prepared"):
        make_task({}).train_data()
    with pytest.raises(FlowvoxError, match="set one of data.prepared"):
        make_task({"manifest": manifest, "prepared": str(tmp_path)}).train_data()
    with pytest.raises(FlowvoxError, match="no entry of split 'test'"):
        make_task({"manifest": manifest, "split": "test"}).train_data()
    with pytest.raises(FlowvoxError, match="no train utterance has 16 .. 50 mel frames"):
        make_task({"manifest": manifest, "max_item_frames": 50}).train_data()
