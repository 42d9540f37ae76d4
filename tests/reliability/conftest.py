"""Assets of the reliability suite: tiny model folders of each family, a prepared corpus, a
training checkpoint, and files that are empty, corrupt, truncated or hostile.

Everything is built once per session (a few seconds) under one folder; tests copy what they
change.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
import torch

from flowvox.cli.main import main
from tests.cli.test_synthesis import tiny_vocos_dir
from tests.infer.helpers import speech_like, tiny_model_dir
from tests.models.aligned_helpers import export_model, make_prepared

TOY_RUN = """\
task: tests.train.toy_tasks:ToyRegressionTask
out_dir: {out}
train: {{max_steps: {steps}, checkpoint_every: 1, keep_checkpoints: 3, max_frames: 40,
        progress_bar: false, tensorboard: false, device: cpu}}
hidden: 8
"""


class Planted:
    """Unpickling this writes ``marker``: the proof that a loader ran a user's pickle."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def write_pickle(path: Path, marker: Path, wrap=lambda obj: obj) -> Path:
    """A file ``torch.load(weights_only=False)`` or ``pickle.load`` would run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(wrap(Planted(marker)), path)  # torch's zip layout; pickle inside
    return path


def write_toy_run(folder: Path, steps: int = 3) -> Path:
    """A run file of the toy regression task (one checkpoint per step) into ``folder/run``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "toy.yaml"
    path.write_text(TOY_RUN.format(out=folder / "run", steps=steps))
    return path


def files_under(root: Path) -> set[str]:
    """Every path under ``root`` (hidden temporaries included), relative."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> dict[str, Path]:
    """name -> path of every input the suite feeds the CLI."""
    root = tmp_path_factory.mktemp("reliability")
    bad = root / "bad"
    bad.mkdir()
    a: dict[str, Path] = {"root": root, "bad": bad}
    a["model"] = tiny_model_dir(root / "infill")
    a["vocoder"] = tiny_vocos_dir(root / "vocos")
    a["ref"] = root / "ref.wav"
    sf.write(a["ref"], speech_like(1.5, 24000), 24000)
    (root / "tones").mkdir()
    a["prepared"] = make_prepared(root / "tones")
    a["manifest"] = root / "tones" / "manifest.jsonl"
    a["aligned"] = export_model(root / "aligned", a["prepared"])
    a["lines"] = root / "lines.txt"
    a["lines"].write_text("one two.\nthree four.\n")
    a["captions"] = root / "captions.txt"
    a["captions"].write_text("a beep\n")
    run_file = write_toy_run(root / "toy", steps=2)
    assert main(["train", str(run_file)]) == 0
    a["checkpoint"] = root / "toy" / "run" / "checkpoints" / "step-0000002"
    # bad files
    (bad / "empty.txt").write_text("")
    (bad / "empty.wav").write_bytes(b"")
    (bad / "empty.jsonl").write_text("")
    (bad / "notjson.jsonl").write_text("{this is not json\n")
    (bad / "wrongtype.jsonl").write_text('[1, 2, 3]\n"text"\n')
    (bad / "binary.txt").write_bytes(b"\xff\xfe\x00\x81 bytes that are not UTF-8 \x9c")
    (bad / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(200)))
    ref_bytes = a["ref"].read_bytes()
    (bad / "truncated.wav").write_bytes(ref_bytes[:60])
    (bad / "notaudio.wav").write_text("hello, I am text\n")
    (bad / "bad.yaml").write_text("task: [unclosed\n")
    (bad / "list.yaml").write_text("- a\n- b\n")
    (bad / "empty.yaml").write_text("")
    (bad / "unknown-task.yaml").write_text(f"task: no_such_task\nout_dir: {bad / 'run'}\n")
    (bad / "a-folder.wav").mkdir()
    (bad / "a-folder.jsonl").mkdir()
    (bad / "a-folder.txt").mkdir()
    a["marker"] = bad / "UNPICKLED"
    write_pickle(bad / "evil.pt", a["marker"])
    a["empty_dir"] = bad / "empty-model"
    a["empty_dir"].mkdir()
    for name, text in {
        "noconfig": None,
        "badjson": "{not json",
        "emptyjson": "",
        "listjson": "[1, 2]",
    }.items():
        folder = bad / f"model-{name}"
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"")
        if text is not None:
            (folder / "config.json").write_text(text)
    # a model folder whose weights are cut short / replaced by a pickle
    for name, data in {
        "truncated": (a["model"] / "model.safetensors").read_bytes()[:100],
        "pickled": (bad / "evil.pt").read_bytes(),
    }.items():
        folder = bad / f"model-{name}"
        folder.mkdir()
        for f in a["model"].iterdir():
            (folder / f.name).write_bytes(f.read_bytes())
        (folder / "model.safetensors").write_bytes(data)
    (bad / "vocos-truncated").mkdir()
    for f in a["vocoder"].iterdir():
        (bad / "vocos-truncated" / f.name).write_bytes(f.read_bytes())
    (bad / "vocos-truncated" / "model.safetensors").write_bytes(b"\x08\x00")
    a["testset"] = root / "testset.jsonl"
    with a["testset"].open("w") as fh:
        fh.write(
            json.dumps(
                {
                    "id": "t0",
                    "text": "go",
                    "ref_audio": str(a["ref"]),
                    "ref_text": "a short reference clip.",
                    "audio": str(a["ref"]),
                }
            )
        )
        fh.write("\n")
    return a
