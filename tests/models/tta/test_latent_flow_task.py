"""The ``tta_lfm`` training task on a latent folder: trainer runs, exact resume, export and
loading, media, and the data errors."""
# b: batch, c: latent channels, t: latent frames, f: latent freq bins

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.tta.model import LatentFlow
from flowvox.models.tta.task import LatentFlowTask, LatentFlowTaskConfig, write_latent_split
from flowvox.train import StepContext, Trainer, run_config_from_dict
from flowvox.utils.config import config_from_dict
from tests.models.task_helpers import QUIET_TRAIN, RecordingSink, assert_resume_is_exact

CAPTIONS = ["a dog barks", "rain falls", "a bell rings", "wind", "cars pass by", "birds sing"]
MODEL = {"preset": "tiny", "dim": 32, "heads": 2, "text_dim": 32, "text_heads": 2}


@pytest.fixture(scope="module")
def latents_dir(tmp_path_factory):
    """A latent folder: train items of 4 .. 9 frames, each a caption-specific pattern."""
    folder = tmp_path_factory.mktemp("tta_latents")
    gen = torch.Generator().manual_seed(0)
    items = [
        torch.full((8, 4 + i, 16), 0.5 * i - 1.0) + 0.1 * torch.randn(8, 4 + i, 16, generator=gen)
        for i in range(len(CAPTIONS))
    ]
    write_latent_split(folder, "train", items, CAPTIONS)
    return folder


def run_dict(latents_dir, out_dir, **train):
    return {
        "task": "tta_lfm",
        "out_dir": str(out_dir),
        "train": {**QUIET_TRAIN, "max_frames": 30, "checkpoint_every": 2, **train},
        "model": dict(MODEL),
        "data": {"prepared": str(latents_dir), "min_item_frames": 4},
        "media": {"steps": 3},
    }


def build_task(latents_dir, **data):
    sections = {"model": dict(MODEL), "data": {"prepared": str(latents_dir), **data}}
    return LatentFlowTask(config_from_dict(LatentFlowTaskConfig, sections))


def test_batches_hold_padded_latents_and_byte_captions(latents_dir):
    task = build_task(latents_dir)
    data = task.train_data()
    assert list(data.lengths) == [4, 5, 6, 7, 8, 9]
    batch = data.collate([data.dataset[i] for i in (0, 5)])
    assert batch.latents.shape == (2, 8, 9, 16) and batch.lengths.tolist() == [4, 9]
    assert batch.latents[0, :, 4:].abs().sum() == 0
    text = bytes(batch.caption_ids[0, : int(batch.caption_mask[0].sum())].tolist()).decode()
    assert text == CAPTIONS[0]
    assert task.model_config.text_vocab_size == 256
    gen = torch.Generator().manual_seed(0)
    model = task.build_modules()["model"]
    out = task.training_step(
        {"model": model}, batch, StepContext(0, 0, torch.device("cpu"), gen, gen)
    )
    assert torch.isfinite(out.loss) and out.frames == 13


def test_per_bin_statistics_are_measured_on_the_training_latents(latents_dir, tmp_path):
    """model.latent_norm per_bin: the task measures mean / std per (channel, freq bin) over
    every frame of the split (data.norm_clips of them), stores them in the run's model
    section, and the exported model carries them."""
    task = build_task(latents_dir)
    z = torch.cat([task.dataset[i].latent.permute(1, 0, 2) for i in range(len(CAPTIONS))])
    run = run_dict(latents_dir, tmp_path / "run", max_steps=2)
    run["model"]["latent_norm"] = "per_bin"
    result = Trainer(run_config_from_dict(run)).fit()
    loaded = LatentFlow.from_pretrained(result.export_dir)
    mean = torch.tensor(loaded.config.latent_mean).reshape(8, 16)
    std = torch.tensor(loaded.config.latent_std).reshape(8, 16)
    assert torch.allclose(mean, z.mean(0).double().float(), atol=1e-5)
    assert torch.allclose(std, z.std(0, unbiased=False), atol=1e-5)
    two = build_task(latents_dir, norm_clips=2)  # evenly spaced: the first and the last
    two.config.model["latent_norm"] = "per_bin"
    task2 = LatentFlowTask(two.config)
    ends = torch.cat([task2.dataset[i].latent.permute(1, 0, 2) for i in (0, 5)])
    want = ends.mean(0).flatten()
    assert torch.allclose(torch.tensor(task2.model_config.latent_mean), want, atol=1e-5)


def test_training_runs_exports_and_loads(latents_dir, tmp_path):
    result = Trainer(
        run_config_from_dict(run_dict(latents_dir, tmp_path / "run", max_steps=6))
    ).fit()
    assert result.step == 6 and not any(result.skipped.values())
    assert all(math.isfinite(v) for k, v in result.last_logged.items() if k.startswith("loss"))
    stamp = json.loads((result.export_dir / "config.json").read_text())
    assert stamp["family"] == "tta" and stamp["task"] == "tta_lfm"
    model = LatentFlow.from_pretrained(result.export_dir)
    assert model.config.dim == 32 and model.config.text_vocab_size == 256
    ids = torch.tensor([list(b"rain falls")])
    out = model.sample(ids, torch.ones_like(ids, dtype=torch.bool), 5, steps=2)
    assert out.latents.shape == (1, 8, 5, 16) and torch.isfinite(out.latents).all()


def test_resume_is_exact(latents_dir, tmp_path):
    def make(out_dir):
        return run_dict(latents_dir, out_dir, max_steps=4)

    assert_resume_is_exact(make, tmp_path, stop=2, last=4, key="model.network.patch_in.weight")


def test_media_logs_a_sampled_latent_beside_the_true_one(latents_dir):
    task = build_task(latents_dir, media_index=2)
    model = task.build_modules()["model"].eval()
    sink = RecordingSink()
    task.log_media({"model": model}, 0, sink)
    image = sink.images["latent/generated_bottom_true_top"]
    assert image.shape == (2 * 8 * 16, 6)  # (generated (c f) over true (c f), frames)


def test_data_errors_are_one_line(latents_dir, tmp_path):
    with pytest.raises(FlowvoxError, match="data.prepared"):
        build_task(tmp_path / "missing")
    with pytest.raises(FlowvoxError, match="no test.jsonl"):
        build_task(latents_dir, split="test").train_data()
    with pytest.raises(FlowvoxError, match="latent frames"):
        build_task(latents_dir, min_item_frames=50).train_data()


def test_a_data_vae_that_is_not_a_vae_folder_is_a_clear_error(latents_dir, tmp_path):
    with pytest.raises(FlowvoxError, match="config.json"):
        build_task(latents_dir, vae=str(tmp_path))  # an empty folder


def prepared_with_vae(tmp_path):
    """4 sine clips prepared as lafma16k mels, and a tiny VAE folder (scaling 0.5)."""
    from flowvox.data import prepare_dataset
    from flowvox.models.tta.vae import MelVAE
    from flowvox.models.tta.vae_config import MelVAEConfig

    rng = np.random.default_rng(0)
    manifest = tmp_path / "manifest.jsonl"
    with manifest.open("w") as fh:
        for i, caption in enumerate(CAPTIONS[:4]):
            wav = 0.3 * np.sin(2 * np.pi * (300 + 100 * i) * np.arange(4000 + 800 * i) / 16000)
            sf.write(
                tmp_path / f"u{i}.wav",
                (wav + 0.01 * rng.standard_normal(wav.shape)).astype(np.float32),
                16000,
            )
            fh.write(json.dumps({"audio": f"u{i}.wav", "text": caption}) + "\n")
    prepare_dataset(manifest, tmp_path / "prepared", "lafma16k", workers=1, progress=False)
    torch.manual_seed(0)
    vae_config = MelVAEConfig.preset("tiny").replace(scaling_factor=0.5)
    MelVAE(vae_config).save_pretrained(tmp_path / "vae")


@pytest.mark.parametrize("cache", [False, True])
def test_mels_and_a_vae_folder_train_end_to_end(tmp_path, cache):
    """data.vae: the VAE encodes mels to latents (C, n/4, F): every batch on the fly, or each
    clip once (data.cache_latents, its posterior mean · scale)."""
    from flowvox.models.tta.vae import MelVAE

    prepared_with_vae(tmp_path)
    run = run_dict(tmp_path / "prepared", tmp_path / "run", max_steps=2, max_frames=60)
    run["data"]["vae"] = str(tmp_path / "vae")
    run["data"]["cache_latents"] = cache
    trainer = Trainer(run_config_from_dict(run))
    batch = next(iter(trainer.loader))
    if cache:
        assert batch.mels is None and batch.latents.shape[1:] == (8, batch.latents.shape[2], 16)
        dataset = trainer.task.dataset
        item = dataset[0]
        mel = dataset.mels[0].mel
        mel = torch.nn.functional.pad(mel, (0, 0, 0, -mel.shape[0] % 4))
        vae = MelVAE.from_pretrained(tmp_path / "vae")
        with torch.no_grad():
            want = vae.to_latent(mel[None])[0]  # the posterior mean, scaled
        assert torch.allclose(item.latent, want, atol=1e-5)
        assert dataset[0].latent is item.latent  # encoded once, then kept
    else:
        assert batch.mels.shape[1] % 4 == 0 and batch.mels.shape[2] == 64
    result = trainer.fit()
    assert result.step == 2 and not any(result.skipped.values())
    model = LatentFlow.from_pretrained(result.export_dir)
    assert model.config.scaling_factor == 0.5  # the VAE's scaling travels with the model
    sink = RecordingSink()
    trainer.task.log_media({"model": model, "vae": trainer.task.vae}, 2, sink)
    assert sink.images["mel/generated"].shape[0] == 64
