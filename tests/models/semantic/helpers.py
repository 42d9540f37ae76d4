"""Shared by the semantic tokenizer tests: a two-utterance corpus and tiny trained models."""
# s: samples

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

from flowvox.train import Trainer, run_config_from_dict

SR = 16000
TEXTS = ("hello world", "good night moon")
QUIET = {"log_every": 1, "tensorboard": False, "progress_bar": False, "device": "cpu",
         "ema_decay": 0.0, "schedule": "constant", "lr": 3e-3, "max_frames": 400}  # fmt: skip


def write_corpus(root: Path) -> Path:
    """Two 16 kHz clips (0.6 s and 0.8 s, an amplitude-modulated tone each) and their
    manifest ``root/manifest.jsonl`` (split train)."""
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "manifest.jsonl"
    with manifest.open("w") as fh:
        for i, text in enumerate(TEXTS):
            t = np.arange(int(SR * (0.6 + 0.2 * i))) / SR  # (s,)
            wav = (
                0.3 * np.sin(2 * np.pi * (300 + 400 * i) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
            )
            sf.write(root / f"u{i}.wav", wav.astype(np.float32), SR)
            fh.write(json.dumps({"audio": f"u{i}.wav", "text": text}) + "\n")
    return manifest


def run_dict(out_dir: Path, data: dict, steps: int, **sections) -> dict:
    """A run file (dict) of task semantic, tiny model, ``steps`` steps over ``data``."""
    return {
        "task": "semantic", "out_dir": str(out_dir), "model": "tiny", "data": data,
        "train": {**QUIET, "max_steps": steps}, **sections,
    }  # fmt: skip


def train_tokenizer(root: Path, asr_steps: int = 40, vq_steps: int = 20) -> Path:
    """The exported stage-vq model folder of a tiny tokenizer trained on ``write_corpus``."""
    data = {"manifest": str(write_corpus(root / "corpus"))}
    Trainer(run_config_from_dict(run_dict(root / "asr", data, asr_steps))).fit()
    vq = run_dict(root / "vq", data, vq_steps, stage="vq", init_from=str(root / "asr/model"))
    Trainer(run_config_from_dict(vq)).fit()
    return root / "vq/model"
