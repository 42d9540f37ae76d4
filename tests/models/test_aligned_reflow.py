"""Reflow pairs for the aligned model: determinism, resuming, training on them, straightness."""
# b: batch, l: tokens, n: frames, f: mel bins

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml
from safetensors.torch import load_file

from flowvox.data.dataset import MelDataset
from flowvox.errors import FlowvoxError
from flowvox.models.aligned.inputs import item_seed, utterance_id
from flowvox.models.aligned.load import load_aligned_model
from flowvox.models.aligned.reflow import (
    aligned_straightness,
    make_reflow_pairs,
    read_pair_manifest,
)
from flowvox.train import train_from_config
from tests.models.aligned_helpers import (
    TRAIN_TEXTS,
    export_model,
    make_prepared,
    one_thread,  # noqa: F401  (a module fixture)
    random_model,
    tiny_config,
)

pytestmark = pytest.mark.usefixtures("one_thread")
SETTINGS = dict(nfe=2, solver="euler", seed=3, progress=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("reflow")
    prepared = make_prepared(root)
    return prepared, export_model(root / "model", prepared, scale=0.05)


def read_pairs(folder):
    return {r["id"]: load_file(folder / r["file"]) for r in read_pair_manifest(folder)}


def test_pairs_are_the_models_own_decodes_deterministic_and_resumable(tmp_path, files):
    prepared, model_dir = files
    report = make_reflow_pairs(model_dir, prepared, tmp_path / "a", temperature=0.5, **SETTINGS)
    assert (report.made, report.skipped, report.unalignable) == (len(TRAIN_TEXTS), 0, 0)
    records = read_pair_manifest(tmp_path / "a")
    train = [json.loads(line) for line in (prepared / "train.jsonl").read_text().splitlines()]
    assert sorted(r["text"] for r in records) == sorted(TRAIN_TEXTS)
    assert sorted(r["frames"] for r in records) == sorted(e["extra"]["mel_frames"] for e in train)
    pairs = read_pairs(tmp_path / "a")

    # x_0 is temperature · N(0, I) from seed + crc32(id); x_1 is the model's decode of it
    loaded = load_aligned_model(model_dir)
    record = records[0]
    pair = pairs[record["id"]]
    n, f = pair["x_0"].shape
    gen = torch.Generator().manual_seed(item_seed(3, record["id"]))
    assert torch.equal(pair["x_0"], 0.5 * torch.randn(n, f, generator=gen))
    assert int(pair["durations"].sum()) == n == record["frames"]
    ids = torch.tensor([loaded.tokenizer.encode(record["text"])])
    out = loaded.model.synthesize(
        ids, torch.tensor([ids.shape[1]]), durations=pair["durations"][None], nfe=2, cfg=0.0,
        noise=pair["x_0"][None],
    )  # fmt: skip
    assert torch.allclose(out.mel[0], pair["x_1"], atol=1e-5)
    assert not torch.allclose(pair["x_1"], pair["x_0"], atol=1e-2)
    with pytest.raises(FlowvoxError, match="noise"):
        loaded.model.synthesize(ids, torch.tensor([ids.shape[1]]), noise=pair["x_0"][None])

    # the same seed gives the same pairs; a rerun skips what is there and remakes what is not
    again = make_reflow_pairs(model_dir, prepared, tmp_path / "b", temperature=0.5, **SETTINGS)
    assert again.made == len(TRAIN_TEXTS)
    assert all(
        torch.equal(pairs[k]["x_1"], v["x_1"]) for k, v in read_pairs(tmp_path / "b").items()
    )
    (tmp_path / "b" / records[1]["file"]).unlink()
    resumed = make_reflow_pairs(model_dir, prepared, tmp_path / "b", temperature=0.5, **SETTINGS)
    assert (resumed.made, resumed.skipped) == (1, len(TRAIN_TEXTS) - 1)
    remade = read_pairs(tmp_path / "b")[records[1]["id"]]
    assert torch.equal(remade["x_0"], pairs[records[1]["id"]]["x_0"])
    assert torch.allclose(remade["x_1"], pairs[records[1]["id"]]["x_1"], atol=1e-5)
    other = make_reflow_pairs(
        model_dir, prepared, tmp_path / "c", temperature=0.5, nfe=2, seed=4, progress=False
    )
    assert other.made == len(TRAIN_TEXTS)
    assert not torch.equal(read_pairs(tmp_path / "c")[record["id"]]["x_0"], pair["x_0"])
    with pytest.raises(FlowvoxError, match="other settings.*temperature"):
        make_reflow_pairs(model_dir, prepared, tmp_path / "b", **SETTINGS)  # temperature 1.0


def test_prompted_pairs_keep_the_prompt_frames_real_and_condition_the_rest(tmp_path, files):
    prepared, model_dir = files
    make_reflow_pairs(model_dir, prepared, tmp_path / "p", prompt_fraction=0.4, **SETTINGS)
    make_reflow_pairs(model_dir, prepared, tmp_path / "u", **SETTINGS)
    loaded = load_aligned_model(model_dir)
    dataset = MelDataset.from_prepared(prepared, "train", loaded.config.mel)
    real = {utterance_id(e): dataset.load_mel(i) for i, e in enumerate(dataset.entries)}
    prompted, plain = read_pairs(tmp_path / "p"), read_pairs(tmp_path / "u")
    blank = loaded.config.add_blank
    assert prompted.keys() == plain.keys() == real.keys()
    for record in read_pair_manifest(tmp_path / "p"):
        key, pair = record["id"], prompted[record["id"]]
        n = pair["x_1"].shape[0]
        ids = (record["tokens"] - 1) // 2 if blank else record["tokens"]
        ends = pair["durations"].cumsum(0)  # frames up to each encoder token
        covered = [int(ends[2 * k if blank else k - 1]) for k in range(1, ids + 1)]
        k = max([1] + [k for k, c in enumerate(covered, 1) if c <= 0.4 * n])
        p = covered[k - 1]  # the prompt: the first k ids, blank after each
        assert torch.equal(pair["x_1"][:p], real[key][:p])
        assert not torch.allclose(pair["x_1"][:p], plain[key]["x_1"][:p], atol=1e-3)
        assert torch.equal(pair["x_0"], plain[key]["x_0"])  # the same noise
        assert not torch.allclose(pair["x_1"][p:], plain[key]["x_1"][p:], atol=1e-4)
    with pytest.raises(FlowvoxError, match="other settings.*prompt_fraction"):
        make_reflow_pairs(model_dir, prepared, tmp_path / "p", **SETTINGS)
    with pytest.raises(FlowvoxError, match="prompt fraction"):
        make_reflow_pairs(model_dir, prepared, tmp_path / "q", prompt_fraction=1.0, **SETTINGS)


def test_training_on_pairs_runs_two_steps_from_the_models_weights(tmp_path, files):
    prepared, model_dir = files
    make_reflow_pairs(model_dir, prepared, tmp_path / "pairs", **SETTINGS)
    config = json.loads((model_dir / "config.json").read_text())
    model = {k: config[k] for k in ("dim", "heads", "dim_head", "enc_dim", "enc_ffn_dim")}
    run = {
        "task": "aligned_tts",
        "out_dir": str(tmp_path / "run"),
        "train": {"max_steps": 2, "max_frames": 200, "log_every": 1, "tensorboard": False,
                  "progress_bar": False, "checkpoint_every": 2, "device": "cpu", "lr": 1e-3},
        "model": {"preset": "tiny", "dur_hidden_dim": 32, **model},
        "data": {"prepared": str(prepared), "min_item_frames": 4},
    }  # fmt: skip
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(run))
    overrides = [
        f"data.reflow_pairs={tmp_path / 'pairs'}",
        "model.path=rectified",
        f"init_from={model_dir}",
    ]
    result = train_from_config(path, overrides)
    assert result.step == 2 and math.isfinite(result.last_logged["loss/flow"])
    exported = json.loads((result.export_dir / "config.json").read_text())
    assert exported["model"]["path"] == "rectified"
    assert exported["data"]["reflow_pairs"] == str(tmp_path / "pairs")


def test_the_tiny_run_file_takes_the_reflow_overrides(tmp_path):
    from pathlib import Path

    from flowvox.train import load_run_config

    run_file = Path(__file__).resolve().parents[2] / "configs" / "aligned-tiny.yaml"
    overrides = ["data.reflow_pairs=pairs/", "model.path=rectified", "init_from=m/"]
    task = load_run_config(run_file, overrides).task_config
    assert task.model == {"preset": "tiny", "path": "rectified"} and task.init_from == "m/"
    assert task.data.reflow_pairs == "pairs/"


def test_training_step_uses_the_stored_noise(tmp_path, files):
    from flowvox.models.aligned.task import AlignedTaskConfig, AlignedTTSTask
    from flowvox.train import StepContext
    from flowvox.utils.config import config_from_dict

    prepared, model_dir = files
    make_reflow_pairs(model_dir, prepared, tmp_path / "pairs", **SETTINGS)
    config = json.loads((model_dir / "config.json").read_text())
    model = {"preset": "tiny", "dur_hidden_dim": 32, "path": "rectified"}
    model.update({k: config[k] for k in ("dim", "heads", "dim_head", "enc_dim", "enc_ffn_dim")})
    data = {
        "prepared": str(prepared),
        "min_item_frames": 4,
        "reflow_pairs": str(tmp_path / "pairs"),
    }
    task = AlignedTTSTask(
        config_from_dict(
            AlignedTaskConfig, {"model": model, "data": data, "init_from": str(model_dir)}
        )
    )
    net = task.build_modules()["model"].eval()
    start = load_file(model_dir / "model.safetensors")  # init_from: the model's weights
    assert all(torch.equal(v, start[k]) for k, v in net.state_dict().items())
    train = task.train_data()
    batch = train.collate([train.dataset[i] for i in range(3)])
    pairs = read_pairs(tmp_path / "pairs")
    for row in range(3):
        stored = pairs[task_record_id(train.dataset, row)]
        n = stored["x_0"].shape[0]
        assert torch.equal(batch.x_0[row, :n], stored["x_0"]) and torch.equal(
            batch.utterances.mel[row, :n], stored["x_1"]
        )
        assert bool((batch.x_0[row, n:] == 0).all())
    seen = {}
    original = type(net).forward

    def spy(self, mel, mel_lengths, ids, lengths, draw, spk=None):
        seen["x_0"] = draw.x_0
        return original(self, mel, mel_lengths, ids, lengths, draw, spk)

    gen = torch.Generator().manual_seed(0)
    type(net).forward = spy
    try:
        task.training_step({"model": net}, batch, StepContext(0, 0, torch.device("cpu"), gen, gen))
    finally:
        type(net).forward = original
    assert torch.equal(seen["x_0"], batch.x_0)


def task_record_id(dataset, index):
    return dataset.records[index]["id"]


def test_straightness_of_the_aligned_decoder():
    model = random_model(tiny_config(), scale=0.2)
    gen = torch.Generator().manual_seed(1)
    mels = [torch.randn(n, 4, generator=gen, dtype=torch.float64) for n in (6, 9)]
    texts = [[1, 2], [3, 4, 5]]
    result = aligned_straightness(model, texts, mels, nfe=4)
    assert result.per_sample.shape == (2,) and bool((result.per_sample > 0).all())
    alone = aligned_straightness(model, texts[:1], mels[:1], nfe=4)
    assert result.x_1.shape == (2, 9, 4) and alone.x_1.shape == (1, 6, 4)
    # a decoder whose output depends on neither x_t nor t (blocks, time embedding and the
    # x_t columns of the input zeroed) moves every frame in a straight line
    with torch.no_grad():
        for p in [*model.decoder.blocks.parameters(), *model.decoder.time_embed.parameters()]:
            p.zero_()
        model.decoder.input_proj.weight[:, :4].zero_()  # the x_t columns
    flat = aligned_straightness(model, texts, mels, nfe=4)
    assert bool((flat.per_sample < 1e-20).all())
