"""`--device` mistakes, for every verb that takes `--device`: exit 2, one stderr line, no
traceback, nothing written (the check runs in `flowvox.cli.main` before the verb)."""

from __future__ import annotations

import argparse

import pytest
import torch

from flowvox.cli.main import build_parser, main
from flowvox.cli.options import check_device
from flowvox.errors import FlowvoxError

# A verb's argv with files that exist, so only --device can be wrong.
DEVICE_VERBS = {
    "speak": ["speak", "Hello.", "-o", "{tmp}/out.wav"],
    "generate": ["generate", "{tmp}/lines.txt", "{tmp}/out"],
    "sound": ["sound", "a dog barks", "-o", "{tmp}/out.wav"],
    "score": ["score", "{tmp}/model", "{tmp}/data", "{tmp}/scores.jsonl"],
    "reflow pairs": ["reflow", "pairs", "{tmp}/model", "{tmp}/data", "{tmp}/out"],
    "bench": ["bench", "--out", "{tmp}/bench.md"],
    "vocode": ["vocode", "{tmp}/in.wav", "{tmp}/out", "--vocoder", "griffin-lim"],
    "eval run": ["eval", "run", "{tmp}/manifest.jsonl", "{tmp}/out", "--model", "{tmp}/model"],
    "eval sound": ["eval", "sound", "{tmp}/model", "{tmp}/manifest.jsonl", "{tmp}/out"],
    "serve": ["serve", "--port", "0", "--data-dir", "{tmp}/data"],
    "semantic encode": [
        "semantic",
        "encode",
        "{tmp}/in.wav",
        "-o",
        "{tmp}/t.jsonl",
        "--model",
        "{tmp}/model",
    ],
    "semantic decode": ["semantic", "decode", "{tmp}/manifest.jsonl", "--model", "{tmp}/model"],
    "semantic generate": [
        "semantic",
        "generate",
        "{tmp}/lines.txt",
        "{tmp}/out",
        "--model",
        "{tmp}/model",
    ],
    "semantic speak": [
        "semantic",
        "speak",
        "Hello.",
        "-o",
        "{tmp}/out.wav",
        "--t2s",
        "{tmp}/model",
        "--s2a",
        "{tmp}/model",
    ],
}
# (device, CUDA present, GPU count, words the message holds)
MISTAKES = {
    "unknown": ("tpu9", True, 1, ["'tpu9' is not a device", "cpu, cuda, cuda:N or mps"]),
    "empty": ("", True, 1, ["'' is not a device"]),
    "cuda-absent": ("cuda", False, 0, ["--device cuda: CUDA is not available", "--device cpu"]),
    "index-absent": ("cuda:3", True, 2, ["--device cuda:3: this machine has 2 CUDA device(s)"]),
    "other-backend": ("meta", True, 1, ["--device meta: flowvox runs on cpu, cuda"]),
}


def verbs_with_device(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every (sub)command path whose parser has a --device option."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from verbs_with_device(sub, (*path, name))
        elif "--device" in action.option_strings:
            yield " ".join(path)


def fake_cuda(monkeypatch, present: bool, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: present)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_the_table_holds_every_verb_that_takes_device():
    assert sorted(verbs_with_device(build_parser())) == sorted(DEVICE_VERBS)


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
@pytest.mark.parametrize("verb", DEVICE_VERBS.values(), ids=DEVICE_VERBS.keys())
def test_device_mistake_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, verb, mistake):
    device, present, count, fragments = mistake
    fake_cuda(monkeypatch, present, count)
    for name in ("model", "data", "out"):
        (tmp_path / name).mkdir()
    for name in ("lines.txt", "in.wav", "manifest.jsonl"):
        (tmp_path / name).write_text("Hello.\n")
    before = sorted(tmp_path.rglob("*"))
    code = main([*(a.format(tmp=tmp_path) for a in verb), "--device", device])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("flowvox: error: --device ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    assert sorted(tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1"])
def test_devices_this_machine_has_are_kept(monkeypatch, device):
    fake_cuda(monkeypatch, True, 2)
    assert check_device(device) == device


def test_real_machine_cpu_passes_and_cuda_matches_torch():
    assert check_device("cpu") == "cpu"
    if torch.cuda.is_available():
        assert check_device("cuda") == "cuda"
    else:
        with pytest.raises(FlowvoxError, match="CUDA is not available"):
            check_device("cuda")
