"""The ``tta_vae`` training task on a prepared lafma16k folder: finite losses, the
discriminator idle before ``loss.adversarial_start_step`` and active after, the exported
MelVAE folder with its scaling factor, media, and exact resume."""
# b: batch, n: mel frames, f: mel bins, s: samples

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from flowvox.data import prepare_dataset
from flowvox.errors import FlowvoxError
from flowvox.models.tta.vae import MelVAE
from flowvox.models.tta.vae_task import MelVAETask, VAETaskConfig
from flowvox.train import StepContext, Trainer, run_config_from_dict
from flowvox.train.setup import seed_all
from flowvox.utils.config import config_from_dict
from tests.models.task_helpers import QUIET_TRAIN, RecordingSink, assert_resume_is_exact

SR = 16000
MODEL = {"preset": "tiny", "latent_channels": 4}
DISCRIMINATOR = {"channels": 8, "layers": 2}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """Six 16 kHz clips (tones in noise, 0.5 .. 1 s) prepared with the lafma16k mel."""
    root = tmp_path_factory.mktemp("tta_vae_data")
    rng = np.random.default_rng(0)
    manifest = root / "manifest.jsonl"
    with manifest.open("w") as fh:
        for i in range(6):
            s = int(SR * (0.5 + 0.1 * i))
            wav = 0.3 * np.sin(2 * np.pi * (300 + 150 * i) * np.arange(s) / SR)  # (s,)
            wav = wav + 0.02 * rng.standard_normal(s)
            sf.write(root / f"c{i}.wav", wav.astype(np.float32), SR)
            line = {"audio": str(root / f"c{i}.wav"), "text": f"tone {i}", "split": "train"}
            fh.write(json.dumps(line) + "\n")
    out = root / "prepared"
    prepare_dataset(manifest, out, mel_preset="lafma16k", workers=1, progress=False)
    return out


def run_dict(prepared, out_dir, start=3, **train):
    return {
        "task": "tta_vae",
        "out_dir": str(out_dir),
        "train": {**QUIET_TRAIN, "max_frames": 64, "checkpoint_every": 2, **train},
        "model": dict(MODEL),
        "discriminator": dict(DISCRIMINATOR),
        "loss": {"adversarial_start_step": start, "l2_weight": 1.0},
        "data": {"prepared": str(prepared), "segment_frames": 32, "scale_items": 6},
    }


def test_discriminator_idle_before_its_start_step_then_trained(prepared, tmp_path):
    result = Trainer(run_config_from_dict(run_dict(prepared, tmp_path / "r", max_steps=4))).fit()
    assert result.step == 4 and not any(result.skipped.values())
    assert all(math.isfinite(v) for k, v in result.last_logged.items() if k.startswith("loss"))
    assert "loss/adversarial" in result.last_logged  # step 3 >= start 3: the GAN runs
    ckpt = tmp_path / "r/checkpoints"
    # steps 0 .. 2: no discriminator update; steps 3 .. : updated
    at2 = load_file(ckpt / "step-0000002/model.safetensors")
    at4 = load_file(ckpt / "step-0000004/model.safetensors")
    disc = [k for k in at2 if k.startswith("discriminator.")]
    vae = [k for k in at2 if k.startswith("model.")]
    assert disc and vae
    seed_all(0)  # as the trainer does (train.seed 0) before building the modules
    fresh = MelVAETask(_task_config(prepared)).build_modules()["discriminator"].state_dict()
    assert all(torch.equal(at2[k], fresh[k.removeprefix("discriminator.")]) for k in disc)
    assert any(not torch.equal(at2[k], at4[k]) for k in disc)
    assert any(not torch.equal(at2[k], at4[k]) for k in vae)


def _task_config(prepared, **loss):
    sections = run_dict(prepared, "unused")
    sections["loss"].update(loss)
    keep = ("model", "discriminator", "loss", "data")
    return config_from_dict(VAETaskConfig, {k: sections[k] for k in keep})


def test_steps_before_the_start_yield_the_generator_alone(prepared):
    task = MelVAETask(_task_config(prepared, adversarial_start_step=1))
    modules = task.build_modules()
    data = task.train_data()
    batch = data.collate([data.dataset[i] for i in range(3)])
    gen = torch.Generator().manual_seed(0)
    before = list(
        task.training_step(modules, batch, StepContext(0, 0, torch.device("cpu"), gen, gen))
    )
    after = list(
        task.training_step(modules, batch, StepContext(1, 0, torch.device("cpu"), gen, gen))
    )
    assert [o.group for o in before] == ["generator"]
    assert [o.group for o in after] == ["discriminator", "generator"]
    assert set(before[0].terms) == {"l1", "l2", "kl"}
    assert "adversarial" in after[1].terms
    assert before[0].frames == 3 * 32
    assert all(torch.isfinite(o.loss) for o in before + after)


def test_export_loads_with_a_scaling_factor_giving_unit_latents(prepared, tmp_path):
    result = Trainer(run_config_from_dict(run_dict(prepared, tmp_path / "r", max_steps=2))).fit()
    vae = MelVAE.from_pretrained(result.export_dir)
    stamp = json.loads((result.export_dir / "config.json").read_text())
    assert stamp["family"] == "tta_vae" and stamp["model"]["latent_channels"] == 4
    s = vae.config.scaling_factor
    assert s == stamp["model"]["scaling_factor"] and s != 1.0
    task = MelVAETask(_task_config(prepared))
    mels = torch.stack([task.train_data().dataset[i][:32] for i in range(6)])  # (6, 32, 64)
    with torch.no_grad():
        latents = vae.to_latent(mels)  # s · μ, (6, C, 8, 16)
    assert latents.std().item() == pytest.approx(1.0, rel=1e-3)


def test_media_draws_true_over_reconstruction(prepared):
    task = MelVAETask(_task_config(prepared))
    sink = RecordingSink()
    with torch.no_grad():
        task.log_media(task.build_modules(), 0, sink)
    image = sink.images["mel/reconstructed_bottom_true_top"]
    assert image.shape == (2 * 64, 32)
    assert math.isfinite(sink.scalars["vae/mel_l1"])


def test_resume_is_exact(prepared, tmp_path):
    assert_resume_is_exact(
        lambda out: run_dict(prepared, out, start=2, max_steps=4),
        tmp_path, stop=2, last=4, key="discriminator.net.0.weight",
    )  # fmt: skip


def test_bad_segment_and_short_data_are_clear_errors(prepared):
    config = _task_config(prepared)
    config.data.segment_frames = 30
    with pytest.raises(FlowvoxError, match="segment_frames=30"):
        MelVAETask(config)
    config = _task_config(prepared)
    config.data.segment_frames = 4000
    with pytest.raises(FlowvoxError, match="no train mel has 4000 frames"):
        MelVAETask(config).train_data()
