"""Vocoder GAN training through the shared trainer (task: vocoder), tiny Vocos and HiFi-GAN."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

from flowvox.audio.mel import MelSpectrogram, get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.train import (
    Trainer,
    export_checkpoint,
    load_run_config,
    run_config_from_dict,
    train_from_config,
)
from flowvox.vocoders import HiFiGAN, Vocos, load_vocoder, load_vocoder_config
from flowvox.vocoders.train import VocoderTask, vocoder_config
from flowvox.vocoders.train_data import ClipBatch, cut_segments

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[2]
TINY_MODELS = {
    "vocos": {"family": "vocos", "mel": "vocos24k", "dim": 32, "hidden_dim": 48, "num_layers": 2},
    "hifigan": {
        "family": "hifigan",
        "mel": "hifigan22k",
        "resblock": "2",
        "upsample_rates": [8, 8, 4],
        "upsample_kernel_sizes": [16, 16, 8],
        "upsample_initial_channel": 32,
        "resblock_kernel_sizes": [3],
        "resblock_dilation_sizes": [[1, 3]],
    },
}


def write_corpus(folder: Path) -> Path:
    """Four 16 kHz harmonic tones (train) and one (test), with a relative-path manifest."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (f0, seconds) in enumerate(
        [(120, 0.5), (150, 0.35), (180, 0.6), (210, 0.45), (140, 0.4)]
    ):
        t = np.arange(int(16000 * seconds)) / 16000
        wav = sum(0.2 / h * np.sin(2 * np.pi * f0 * h * t) for h in range(1, 5))
        sf.write(
            folder / f"clip{i}.wav", (wav * (0.7 + 0.3 * np.sin(6 * t))).astype("float32"), 16000
        )
        split = "test" if i == 4 else "train"
        lines.append(f'{{"audio": "clip{i}.wav", "text": "tone {i}", "split": "{split}"}}')
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")
    return folder / "manifest.jsonl"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("corpus"))


def run_dict(out_dir: Path, manifest: Path, family: str, **train) -> dict:
    return {
        "task": "vocoder",
        "out_dir": str(out_dir),
        "train": {
            "max_steps": 4,
            "lr": 2e-3,
            "betas": [0.8, 0.99],
            "schedule": "constant",
            "ema_decay": 0.5,
            "max_items": 2,
            "max_frames": 24,
            "num_buckets": 1,
            "checkpoint_every": 2,
            "log_every": 1,
            "tensorboard": False,
            "progress_bar": False,
            "device": "cpu",
            **train,
        },  # fmt: skip
        "model": TINY_MODELS[family],
        "discriminators": {
            "mpd": {"periods": [2, 3], "channels": [4, 8, 8]},
            "mrd": {"resolutions": [[256, 64, 256]], "channels": 4},
            "msd": None,
        },
        "loss": {"mel_resolutions": [[256, 64, 256, 32], [512, 128, 512, 48]], "stft_weight": 0.5},
        "data": {"manifest": str(manifest), "segment_frames": 12, "peak_db": [-6.0, -1.0]},
    }


def module_state(trainer: Trainer, name: str) -> dict[str, torch.Tensor]:
    module = trainer.acc.unwrap_model(trainer.modules[name])
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before: dict, after: dict) -> bool:
    return any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("family", ["vocos", "hifigan"])
def test_gan_steps_update_both_and_resume_exactly(tmp_path, manifest, family):
    run = run_config_from_dict(run_dict(tmp_path / "a", manifest, family))
    trainer = Trainer(run)
    assert [g.name for g in trainer.groups] == ["discriminator", "generator"]
    g0, d0 = module_state(trainer, "generator"), module_state(trainer, "discriminators")
    result = trainer.fit()
    assert result.step == 4 and result.skipped == {"discriminator": 0, "generator": 0}
    for key in ("loss/discriminator", "loss/generator", "loss/mel", "loss/stft"):
        assert math.isfinite(result.last_logged[key]) and result.last_logged[key] > 0, key
    assert changed(g0, module_state(trainer, "generator"))
    assert changed(d0, module_state(trainer, "discriminators"))

    # 2 steps, then a fresh process resumes and does 2 more: identical to 4 straight
    Trainer(run_config_from_dict(run_dict(tmp_path / "b", manifest, family))).fit(stop_at_step=2)
    resumed = Trainer(run_config_from_dict(run_dict(tmp_path / "b", manifest, family)), True)
    assert resumed.step == 2
    resumed.fit()
    for name in ("model.safetensors", "ema.safetensors"):
        straight = load_file(tmp_path / "a/checkpoints/step-0000004" / name)
        again = load_file(tmp_path / "b/checkpoints/step-0000004" / name)
        assert straight.keys() == again.keys()
        assert all(torch.equal(straight[k], again[k]) for k in straight), name

    # the export is a vocoder directory: it loads and decodes a mel
    vocoder = load_vocoder(result.export_dir, expect_mel=run.task_config.generator_config().mel)
    assert isinstance(vocoder, {"vocos": Vocos, "hifigan": HiFiGAN}[family])
    ema = load_file(tmp_path / "a/checkpoints/step-0000004/ema.safetensors")
    assert all(torch.equal(vocoder.state_dict()[k], ema[k]) for k in ema)
    mel_cfg = vocoder.config.mel
    wav = torch.randn(1, 20 * mel_cfg.hop_length) * 0.1
    mel = MelSpectrogram(mel_cfg)(wav).transpose(1, 2)  # (1, n, f)
    with torch.no_grad():
        out = vocoder(mel)
    assert out.shape == (1, 20 * mel_cfg.hop_length) and torch.isfinite(out).all()
    # a training checkpoint exports to the same vocoder directory
    exported = export_checkpoint(tmp_path / "a/checkpoints/step-0000004", tmp_path / "exported")
    again = load_vocoder(exported, expect_mel=mel_cfg)
    assert all(torch.equal(again.state_dict()[k], ema[k]) for k in ema)


def test_reconstruction_steps_leave_the_discriminators_alone(tmp_path, manifest):
    run = run_dict(tmp_path / "a", manifest, "vocos", max_steps=3)
    run["loss"]["adversarial_start_step"] = 2
    trainer = Trainer(run_config_from_dict(run))
    d0 = module_state(trainer, "discriminators")
    result = trainer.fit(stop_at_step=2)
    assert trainer.updates == {"discriminator": 0, "generator": 2}
    assert not changed(d0, module_state(trainer, "discriminators"))
    assert "loss/adversarial" not in result.last_logged and result.last_logged["loss/mel"] > 0
    result = trainer.fit()  # step 3: the GAN starts
    assert trainer.updates == {"discriminator": 1, "generator": 3}
    assert changed(d0, module_state(trainer, "discriminators"))
    assert math.isfinite(result.last_logged["loss/adversarial"])
    run["loss"]["adversarial_start_step"] = -1
    with pytest.raises(FlowvoxError, match="adversarial_start_step must be >= 0"):
        run_config_from_dict(run)


def test_tiny_run_file_trains_through_train_from_config(tmp_path, manifest):
    overrides = [f"data.manifest={manifest}", f"out_dir={tmp_path / 'run'}", "train.max_steps=3"]
    result = train_from_config(REPO / "configs/vocoder-tiny.yaml", overrides)
    assert result.step == 3
    config = load_vocoder_config(result.export_dir)
    assert config.mel == get_mel_preset("vocos24k") and config.dim == 32
    run = load_run_config(REPO / "configs/vocoder-tiny.yaml", overrides)
    assert run.task == "vocoder" and run.train.max_steps == 3


class RecordingSink:
    def __init__(self):
        self.scalars, self.images, self.clips = {}, {}, {}

    def scalar(self, tag, value):
        self.scalars[tag] = value

    def image(self, tag, image):
        self.images[tag] = image

    def audio(self, tag, wav, sample_rate):
        self.clips[tag] = (wav, sample_rate)


def test_log_media_writes_audio_mel_image_and_mel_l1(tmp_path, manifest):
    run = run_config_from_dict(run_dict(tmp_path, manifest, "vocos"))
    task = VocoderTask(run.task_config)
    modules = task.build_modules()
    sink = RecordingSink()
    with torch.no_grad():
        task.log_media(modules, 0, sink)
    wav, sr = sink.clips["vocoder/generated"]
    reference, _ = sink.clips["vocoder/reference"]
    assert sr == 24000 and len(reference) == 0.4 * 24000 // 256 * 256  # whole frames
    assert wav.shape == reference.shape  # centred Vocos: s // hop + 1 frames -> s samples
    assert sink.images["vocoder/generated_mel"].shape[0] == 100
    assert math.isfinite(sink.scalars["vocoder/mel_l1"]) and sink.scalars["vocoder/mel_l1"] > 0
    sink2 = RecordingSink()
    with torch.no_grad():
        task.log_media(modules, 10, sink2)
    assert "vocoder/reference" not in sink2.clips  # the ground truth is logged once


def test_cut_segments_stay_inside_each_clip_and_follow_the_generator():
    wav = torch.zeros(3, 50)
    wav[0, :50] = torch.arange(1, 51)
    wav[1, :20] = torch.arange(1, 21)
    wav[2, :5] = torch.arange(1, 6)  # shorter than a segment: starts at 0, zero tail
    batch = ClipBatch(wav, torch.tensor([50, 20, 5]))
    for seed in range(20):
        seg = cut_segments(batch, 8, torch.Generator().manual_seed(seed), None)
        assert seg.shape == (3, 8)
        assert (seg[:2] > 0).all()  # never past a clip's end
        assert torch.equal(seg[2], torch.tensor([1.0, 2, 3, 4, 5, 0, 0, 0]))
        assert torch.equal(torch.diff(seg[0]), torch.ones(7))  # contiguous
    a = cut_segments(batch, 8, torch.Generator().manual_seed(1), (-6.0, -1.0))
    b = cut_segments(batch, 8, torch.Generator().manual_seed(1), (-6.0, -1.0))
    assert torch.equal(a, b)
    gain = a[0] / cut_segments(batch, 8, torch.Generator().manual_seed(1), None)[0]
    assert 10 ** (-6 / 20) - 1e-6 <= gain.mean() <= 10 ** (-1 / 20) + 1e-6


def test_repo_run_files_resolve_to_the_published_shapes():
    vocos = load_run_config(REPO / "configs/vocoder-vocos.yaml")
    hifigan = load_run_config(REPO / "configs/vocoder-hifigan.yaml")
    assert vocos.task == hifigan.task == "vocoder"
    assert vocos.train.lr == hifigan.train.lr == 2e-4 and vocos.train.betas == (0.8, 0.99)
    v_cfg, h_cfg = vocos.task_config.generator_config(), hifigan.task_config.generator_config()
    assert v_cfg.mel == get_mel_preset("vocos24k") and h_cfg.mel == get_mel_preset("hifigan22k")
    v_params = sum(p.numel() for p in Vocos(v_cfg).parameters())
    h_params = sum(p.numel() for p in HiFiGAN(h_cfg).parameters())
    assert 13.4e6 < v_params < 13.6e6 and 13.8e6 < h_params < 14.0e6
    assert hifigan.task_config.loss.mel_weight == 45.0
    assert hifigan.task_config.data.segment_frames * h_cfg.mel.hop_length == 8192


def test_bad_model_sections_are_one_line_errors(tmp_path, manifest):
    with pytest.raises(FlowvoxError, match="model.family 'wavenet'"):
        vocoder_config({"family": "wavenet"})
    with pytest.raises(FlowvoxError, match="model.preset 'v9'"):
        vocoder_config({"family": "hifigan", "preset": "v9"})
    with pytest.raises(FlowvoxError, match="unknown keys"):
        vocoder_config({"family": "vocos", "dims": 3})
    data = run_dict(tmp_path, manifest, "vocos")
    data["model"] = {"family": "hifigan", "mel": "vocos24k", "upsample_rates": [8, 8, 2]}
    with pytest.raises(FlowvoxError, match="upsample_rates"):
        run_config_from_dict(data)
    data = run_dict(tmp_path, manifest, "vocos")
    data["data"]["split"] = "dev"
    with pytest.raises(FlowvoxError, match="no entries of split 'dev'"):
        Trainer(run_config_from_dict(data))


@pytest.mark.parametrize("family", ["vocos", "hifigan"])
def test_generators_backpropagate(family):
    # guards against in-place ops in the inference path that would break training
    model = {"vocos": Vocos, "hifigan": HiFiGAN}[family](vocoder_config(TINY_MODELS[family]))
    n_mels = model.config.mel.n_mels
    model(torch.randn(2, 6, n_mels) - 4.0).square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)
