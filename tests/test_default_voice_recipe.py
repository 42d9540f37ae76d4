"""scripts/build_default_voice.sh, the bundled voice's recipe, end to end at toy scale:
a 42-utterance corpus, 2 steps of each real run file, packing; then a rerun that resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flowvox.infer import Synthesizer
from flowvox.vocoders import Vocos

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "build_default_voice.sh"


def run_recipe(work: Path, steps: int) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "FLOWVOX": str(Path(sys.executable).parent / "flowvox"),
        "WORK": str(work),
        "CORPUS_SIZE": "--utterances 42",
        "ACOUSTIC_STEPS": str(steps),
        "VOCODER_STEPS": str(steps),
        "THREADS": "1",
        "EVAL": "0",
    }
    return subprocess.run(
        [str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.mark.slow
def test_recipe_builds_a_packed_voice_with_its_vocoder_and_resumes(tmp_path):
    work = tmp_path / "dv"
    result = run_recipe(work, steps=2)
    assert result.returncode == 0, result.stderr[-2000:]
    synth = Synthesizer.from_pretrained(work / "packed")
    assert isinstance(synth.vocoder, Vocos)  # the trained vocoder, not Griffin-Lim
    assert synth.sampling == {"nfe": 4, "cfg": 0.7}
    assert "flite-rms" in synth.voices
    config = json.loads((work / "acoustic/model/config.json").read_text())
    assert config["train"]["max_steps"] == 60000  # stopped at step 2, schedule unchanged
    checkpoints = sorted(p.name for p in (work / "acoustic/checkpoints").iterdir())
    assert checkpoints == ["step-0000002"]
    # a rerun with more steps continues both runs from their checkpoints
    result = run_recipe(work, steps=3)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "0 mels computed, 42 reused" in result.stdout
    for run in ("acoustic", "vocoder"):
        state = json.loads((work / run / "checkpoints/step-0000003/state.json").read_text())
        assert state["step"] == 3
