"""scripts/build_sound_model.sh, the bundled sound model's recipe, end to end at toy scale:
6 three-second clips, 2 steps of each real run file, packing; then a rerun that resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from flowvox.infer.sound import SoundGenerator
from flowvox.models.tta.vae import MelVAE
from flowvox.vocoders import load_vocoder

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "build_sound_model.sh"


def run_recipe(work: Path, steps: int) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "FLOWVOX": str(Path(sys.executable).parent / "flowvox"),
        "WORK": str(work),
        "CLIPS": "6",
        "CLIP_SECONDS": "3",
        "STEPS": str(steps),
        "THREADS": "1",
        "VOCODER": "vocos",  # the trained-vocoder path (the default, griffin-lim, trains none)
    }
    return subprocess.run(
        [str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_recipe_packs_the_flow_model_with_its_vae_and_vocoder_and_resumes(tmp_path):
    work = tmp_path / "sm"
    result = run_recipe(work, steps=2)
    assert result.returncode == 0, result.stderr[-2000:]
    packed = work / "packed"
    names = sorted(p.name for p in packed.iterdir())
    assert names == ["config.json", "model.safetensors", "vae", "vocoder"]
    for part in (packed, packed / "vae", packed / "vocoder"):
        weights = load_file(part / "model.safetensors")
        assert {v.dtype for v in weights.values() if v.is_floating_point()} == {torch.float16}
    assert json.loads((packed / "config.json").read_text())["family"] == "tta"
    vae = MelVAE.from_pretrained(packed / "vae")
    assert vae.config.scaling_factor != 1.0  # set at the VAE's export
    lfm = json.loads((packed / "config.json").read_text())
    assert lfm["model"]["scaling_factor"] == pytest.approx(vae.config.scaling_factor)
    assert lfm["default_seconds"] == 3.0  # the clip length it was trained on
    wav, sr = SoundGenerator.from_pretrained(packed).generate("three high beeps", steps=2, seed=0)
    assert sr == 16000 and wav.shape == (3 * 16000,)  # `flowvox sound` reads the packed folder
    vocoder = load_vocoder(packed / "vocoder")
    assert vocoder.config.mel.name == "lafma16k"
    size = sum(p.stat().st_size for p in packed.rglob("*") if p.is_file())
    assert size <= 20 * 2**20
    config = json.loads((work / "vae/model/config.json").read_text())
    assert config["train"]["max_steps"] == 3000  # stopped at step 2, schedule unchanged
    # a rerun with more steps continues every run from its checkpoint
    result = run_recipe(work, steps=3)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "0 mels computed, 6 reused" in result.stdout
    for run in ("vae", "vocoder", "lfm"):
        state = json.loads((work / run / "checkpoints/step-0000003/state.json").read_text())
        assert state["step"] == 3
