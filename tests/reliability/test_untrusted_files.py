"""No code path unpickles a user's file (issue 17).

A planted pickle writes a marker file when it is unpickled. Every loader that takes a path
gets one where it expects weights; each must refuse it with a ``FlowvoxError`` (the CLI: exit
2) and the marker must never appear. A scan of the package source backs this up: every
``torch.load`` passes ``weights_only=True``, and nothing calls ``pickle.load``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import flowvox
from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from tests.reliability.conftest import write_pickle


def _train_resume(folder: Path) -> None:
    from flowvox.train import train_from_config

    train_from_config(str(folder / "toy.yaml"), [], resume=True)


def _loaders():
    """name -> (file name inside the planted folder, how to load that folder)."""
    from flowvox.models.semantic.whisper import read_whisper_weights
    from flowvox.models.tta.release import load_diffusers_vae
    from flowvox.train.checkpoint import load_torch
    from flowvox.vocoders.hifigan import load_hifigan_release
    from flowvox.vocoders.io import load_vocoder
    from flowvox.vocoders.vocos.release import load_vocos_release

    return {
        "checkpoint .pt": ("x.pt", lambda f: load_torch(f / "x.pt")),
        "hifigan release": ("g.pt", lambda f: load_hifigan_release(f / "g.pt")),
        "vocos release": ("pytorch_model.bin", load_vocos_release),
        "whisper folder": ("pytorch_model.bin", read_whisper_weights),
        "diffusers vae": ("diffusion_pytorch_model.bin", load_diffusers_vae),
        "vocoder folder": ("model.safetensors", load_vocoder),
    }


@pytest.mark.parametrize("name", list(_loaders()))
def test_library_loaders_refuse_a_pickle(name, assets, tmp_path):
    file_name, load = _loaders()[name]
    folder = tmp_path / "planted"
    if name == "vocoder folder":
        shutil.copytree(assets["vocoder"], folder)
    if name == "vocos release":
        folder.mkdir()
        (folder / "config.yaml").write_text("feature_extractor: {}\nbackbone: {}\nhead: {}\n")
    if name == "diffusers vae":
        folder.mkdir()
        (folder / "config.json").write_text('{"_class_name": "AutoencoderKL"}')
    marker = tmp_path / "UNPICKLED"
    write_pickle(folder / file_name, marker)
    with pytest.raises(FlowvoxError):
        load(folder)
    assert not marker.exists()


@pytest.mark.parametrize("file_name", ["optimizer.pt", "rng-0.pt"])
def test_resume_never_unpickles_a_planted_checkpoint_file(file_name, assets, tmp_path, capsys):
    """The only checkpoint planted: refused in one line (nothing to fall back on)."""
    folder = tmp_path / "toy"
    shutil.copytree(assets["root"] / "toy", folder)
    run_file = folder / "toy.yaml"
    run_file.write_text(run_file.read_text().replace(str(assets["root"] / "toy"), str(folder)))
    marker = tmp_path / "UNPICKLED"
    for step in (folder / "run" / "checkpoints").iterdir():
        write_pickle(step / file_name, marker, wrap=lambda obj: {"state": obj})
    assert main(["train", str(run_file), "--resume"]) == 2
    err = capsys.readouterr().err
    assert not marker.exists()
    assert err.startswith("flowvox: error: ") and file_name in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["convert", "f5", "{evil}", "{t}/f5", "--vocab", "{vocab}"],
        ["speak", "hi", "-o", "{t}/o.wav", "--model", "{pickled}", "--ref-audio", "{evil}"],
        ["vocode", "{evil}", "{t}/voc", "--vocoder", "griffin-lim", "--no-progress"],
        ["generate", "{evil}", "{t}/gen", "--model", "{model}"],
        ["prepare", "{evil}", "{t}/p"],
    ],
    ids=lambda argv: argv[0],
)
def test_cli_refuses_a_pickle_where_a_file_is_read(argv, assets, tmp_path, capsys):
    marker = tmp_path / "UNPICKLED"
    evil = write_pickle(tmp_path / "evil.pt", marker)
    pickled = tmp_path / "pickled-model"
    shutil.copytree(assets["model"], pickled)
    shutil.copy(evil, pickled / "model.safetensors")
    names = {"evil": evil, "t": tmp_path, "vocab": assets["lines"], "pickled": pickled}
    code = main([a.format(model=assets["model"], **names) for a in argv])
    assert code == 2 and capsys.readouterr().err.count("\n") == 1
    assert not marker.exists()


def test_the_planted_pickle_does_write_its_marker(tmp_path):
    """The check above can fail: a plain ``torch.load`` of the file runs the payload."""
    import torch

    marker = tmp_path / "UNPICKLED"
    write_pickle(tmp_path / "evil.pt", marker)
    torch.load(tmp_path / "evil.pt", weights_only=False)
    assert marker.read_text() == "unpickled"


UNSAFE = [
    (re.compile(r"\bpickle\.loads?\(|\bUnpickler\("), "pickle.load"),
    (re.compile(r"allow_pickle\s*=\s*True"), "np.load(allow_pickle=True)"),
    (re.compile(r"\b(joblib|dill|cloudpickle)\b"), "a pickling package"),
]


def _call_text(text: str, start: int) -> str:
    """The source of the call whose ``(`` ends at ``start``, up to its closing bracket."""
    depth = 1
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start:end]
    return text[start:]


def test_no_loader_in_the_package_can_unpickle():
    found = []
    for path in Path(flowvox.__file__).parent.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern, what in UNSAFE:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.name}:{line}: {what}")
        for match in re.finditer(r"torch\.load\(", text):
            if "weights_only=True" not in _call_text(text, match.end()):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.name}:{line}: torch.load without weights_only=True")
    assert not found, found
    loads = sum(
        p.read_text(encoding="utf-8").count("torch.load(")
        for p in Path(flowvox.__file__).parent.rglob("*.py")
    )
    assert loads >= 5  # the scan sees the loaders it vouches for
