"""Shared by the training-task tests: tone corpora, a media recorder, the exact-resume check.

The fixtures that use them (``prepared``, ``run_dict``, ``build_task``) are in conftest.py.
"""
# n: samples

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from safetensors.torch import load_file

from flowvox.data import prepare_dataset
from flowvox.train import Trainer, run_config_from_dict

SAMPLE_RATE = 24000
QUIET_TRAIN = {
    "log_every": 1,
    "tensorboard": False,
    "progress_bar": False,
    "ema_decay": 0.5,
    "lr": 1e-3,
    "device": "cpu",
}


@dataclass(frozen=True)
class ToneCorpus:
    """Utterance i of a split: a tone of 200 + 40 i Hz at amplitude 0.3, lasting
    ``seconds`` + 0.05 i s (or ``fixed[text]`` s), plus N(0, ``noise``²) noise drawn from one
    ``default_rng(0)`` in order (train, then test); with ``silent_tail`` the tone's last
    fifth is silent (unvoiced). ``prepare`` writes the wavs and manifest and prepares them."""

    train: Sequence[str]
    test: Sequence[str]
    seconds: float = 0.5
    noise: float = 0.05
    silent_tail: bool = False
    fixed: Mapping[str, float] = field(default_factory=dict)

    def prepare(self, root: Path) -> Path:
        """``root/prepared`` (vocos24k mels, vocab) of the corpus written under ``root``."""
        rng = np.random.default_rng(0)
        manifest = root / "manifest.jsonl"
        with manifest.open("w") as fh:
            for split, texts in (("train", self.train), ("test", self.test)):
                folder = root / "corpus" / split
                folder.mkdir(parents=True)
                for i, text in enumerate(texts):
                    s = int(SAMPLE_RATE * self.fixed.get(text, self.seconds + 0.05 * i))
                    tone = np.sin(2 * np.pi * (200 + 40 * i) * np.arange(s) / SAMPLE_RATE)
                    wav = 0.3 * tone  # (n,)
                    if self.silent_tail:
                        wav[-s // 5 :] = 0.0
                    wav = wav + self.noise * rng.standard_normal(s)
                    sf.write(folder / f"u{i}.wav", wav.astype(np.float32), SAMPLE_RATE)
                    line = {
                        "audio": str(folder / f"u{i}.wav"),
                        "text": text,
                        "speaker": "spk",
                        "split": split,
                    }
                    fh.write(json.dumps(line) + "\n")
        out = root / "prepared"
        prepare_dataset(manifest, out, workers=1, progress=False)
        return out


def task_run_dict(task: str, model: Mapping, prepared: Path, out_dir: Path, **train) -> dict:
    """A run file (as a dict) of ``task`` with ``model`` over ``prepared`` (items of 4 frames
    and more); train settings are QUIET_TRAIN with ``train`` over them."""
    return {
        "task": task,
        "out_dir": str(out_dir),
        "train": {**QUIET_TRAIN, **train},
        "model": dict(model),
        "data": {"prepared": str(prepared), "min_item_frames": 4},
    }


class RecordingSink:
    """A ``MediaSink`` keeping what it is given: scalars, images, wavs (tag -> (wav, sr))."""

    def __init__(self):
        self.images, self.scalars, self.wavs = {}, {}, {}

    def scalar(self, tag, value):
        self.scalars[tag] = value

    def image(self, tag, image):
        self.images[tag] = image

    def audio(self, tag, wav, sample_rate):
        self.wavs[tag] = (wav, sample_rate)


def assert_resume_is_exact(
    run_dict: Callable[..., dict], root: Path, stop: int, last: int, key: str
) -> None:
    """A run straight to step ``last`` and one stopped at ``stop`` then resumed end with equal
    weights and EMA, and the weight ``key`` moved between ``stop`` and ``last``."""

    def run(name):
        return run_config_from_dict(run_dict(root / name))

    Trainer(run("a")).fit()
    Trainer(run("b")).fit(stop_at_step=stop)
    resumed = Trainer(run("b"), resume=True)
    assert resumed.step == stop
    resumed.fit()
    end = f"checkpoints/step-{last:07d}"
    for name in ("model.safetensors", "ema.safetensors"):
        straight = load_file(root / "a" / end / name)
        again = load_file(root / "b" / end / name)
        assert straight.keys() == again.keys()
        for k in straight:
            assert torch.equal(straight[k], again[k]), k
    middle = load_file(root / f"a/checkpoints/step-{stop:07d}/model.safetensors")
    final = load_file(root / "a" / end / "model.safetensors")
    assert not torch.equal(middle[key], final[key])  # the run moved after the stop


def assert_batches_read_ipa(task) -> None:
    """A batch of ``task`` (an aligned or FastPitch task with tokenizer "phoneme:en-us") holds
    the espeak-ng IPA of its texts, in a vocabulary built from that IPA."""
    from flowvox.text import phonemize

    data = task.train_data()
    batch = data.collate([data.dataset[i] for i in range(2)])
    ipa = phonemize(batch.utterances.texts, "en-us")
    for row, (text, length) in enumerate(zip(ipa, batch.lengths.tolist(), strict=True)):
        assert task.tokenizer.decode(batch.ids[row, :length].tolist()) == text
    assert "ˈ" in task.tokenizer.tokens  # the vocabulary is built from the IPA
