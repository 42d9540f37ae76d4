"""Kill and rerun (issue 17): SIGKILL a verb at a random moment of its work, run the same
command again, and get what an uninterrupted run makes — weights bit for bit, audio and
manifests identical.

Each verb runs once uninterrupted (in-process: the reference, and its duration). Then, per
seed, it starts as a child ``python -m flowvox``; once its first output appears the child is
killed after a random share (up to 70 %, drawn from the seed) of the reference's duration
(it must die by the signal, not finish first), and the same command runs again in-process
to the end. ``train`` is rerun with ``--resume`` when a
checkpoint exists: the documented way to continue (without it a run with checkpoints is
refused). Sampling verbs run one line per batch (``--batch-frames`` small): results do not
depend on the batch to float tolerance, not bit for bit, and a rerun batches what is left.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from flowvox.cli.main import main
from flowvox.train.checkpoint import load_torch
from tests.models.task_helpers import ToneCorpus
from tests.reliability.conftest import write_toy_run

REPO = Path(__file__).resolve().parents[2]
SEEDS = (0, 1)
pytestmark = pytest.mark.slow  # a child process per seed (a few seconds of imports each)


def kill_at_random(argv: list[str], started: Callable[[], bool], window: float, seed: int):
    """Start ``flowvox ARGV`` as a child; once ``started()``, wait a random share of
    ``window`` seconds and SIGKILL it. Returns the child's exit status (-9: killed)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "flowvox", *argv],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not started() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(random.Random(seed).uniform(0, window))
        child.send_signal(signal.SIGKILL)
        return child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def contents(folder: Path, skip: Callable[[Path], bool] = lambda p: False) -> dict[str, object]:
    """relative path -> content of every file under ``folder``: bytes; JSONL files their
    sorted lines (written in the order items finish); safetensors files their tensors and
    header metadata (the header's key order varies from process to process)."""
    found: dict[str, object] = {}
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or skip(path):
            continue
        name = str(path.relative_to(folder))
        if path.suffix == ".jsonl":
            found[name] = sorted(path.read_bytes().splitlines())
        elif path.suffix == ".safetensors":
            found[name] = safetensors_content(path)
        else:
            found[name] = path.read_bytes()
    return found


def safetensors_content(path: Path) -> tuple[dict, dict[str, bytes]]:
    with safe_open(str(path), "pt") as fh:
        return fh.metadata(), {k: plain_bytes(fh.get_tensor(k)) for k in fh.keys()}  # noqa: SIM118


def plain_bytes(tensor: torch.Tensor) -> bytes:
    """A tensor's dtype, shape and bits (equal bytes: equal bit for bit, NaNs included)."""
    flat = tensor.contiguous().view(-1).view(torch.uint8)
    return f"{tensor.dtype}{tuple(tensor.shape)}".encode() + flat.numpy().tobytes()


def same_values(a: object, b: object) -> bool:
    """Nested dicts/lists of tensors and plain values equal, tensors bit for bit."""
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(same_values(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_values(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and plain_bytes(a) == plain_bytes(b)
    return a == b


def check_kill_and_rerun(argv_for, out_of, started_of, compare, tmp_path, seed, rerun_for=None):
    """The reference run, then the killed run and its rerun; ``compare(reference, rerun)``."""
    reference = tmp_path / "reference"
    start = time.perf_counter()
    assert main(argv_for(reference)) == 0
    window = time.perf_counter() - start
    killed = tmp_path / "killed"
    status = kill_at_random(argv_for(killed), started_of(killed), 0.7 * window, seed)
    assert status == -signal.SIGKILL, f"the child ended (exit {status}) before it was killed"
    rerun = (rerun_for or argv_for)(killed)
    assert main(rerun) == 0, f"rerun after exit {status} failed"
    compare(out_of(reference), out_of(killed))


def no_hidden(path: Path) -> bool:
    return any(part.startswith(".") for part in path.parts)


@pytest.fixture(scope="module")
def tone_manifest(tmp_path_factory) -> Path:
    """A manifest of 40 short tones (prepare and reflow get a few seconds of work)."""
    root = tmp_path_factory.mktemp("tones40")
    texts = [f"tone {i}" for i in range(40)]
    ToneCorpus(texts, ["held out"], seconds=0.3).prepare(root)
    return root / "manifest.jsonl"


@pytest.mark.parametrize("seed", SEEDS)
def test_train(seed, tmp_path):
    def argv_for(folder):
        return ["train", str(write_toy_run(folder, steps=40))]

    def rerun_for(folder):
        has_checkpoint = any((folder / "run" / "checkpoints").glob("step-*"))
        return argv_for(folder) + (["--resume"] if has_checkpoint else [])

    def compare(reference, again):
        step = "checkpoints/step-0000040"
        for name in (
            f"{step}/model.safetensors",
            f"{step}/ema.safetensors",
            "model/model.safetensors",
        ):
            assert safetensors_content(reference / name)[1] == safetensors_content(again / name)[1]
        for name in ("optimizer.pt", "rng-0.pt"):  # the pickle's layout varies, not the values
            values = [load_torch(folder / step / name) for folder in (reference, again)]
            assert same_values(*values), name
        states = [json.loads((f / step / "state.json").read_text()) for f in (reference, again)]
        for state in states:
            del state["train_seconds"]
        assert states[0] == states[1]

    check_kill_and_rerun(
        argv_for, lambda f: f / "run", lambda f: (lambda: (f / "run/checkpoints").is_dir()),
        compare, tmp_path, seed, rerun_for,
    )  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
def test_generate(seed, assets, tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"line number {i}, said once.\n" for i in range(6)))
    voice = ["--model", assets["model"], "--vocoder", assets["vocoder"], "--ref-audio"]
    fixed = [*map(str, voice), str(assets["ref"]), "--ref-text", "hi", "--nfe", "4"]
    fixed += ["--seed", "3", "--batch-frames", "200", "--no-progress"]

    def compare(reference, again):
        assert contents(reference, no_hidden) == contents(again, no_hidden)

    check_kill_and_rerun(
        lambda f: ["generate", str(lines), str(f), *fixed], lambda f: f,
        lambda f: (lambda: any((f / "wavs").glob("*.wav"))), compare, tmp_path, seed,
    )  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
def test_corpus_build(seed, tmp_path):
    fixed = ["--utterances", "8", "--voices", "flite:slt", "flite:kal", "--workers", "1"]

    def compare(reference, again):
        skip = lambda p: no_hidden(p) or p.suffix == ".md"  # noqa: E731 (the card: timings)
        assert contents(reference, skip) == contents(again, skip)

    check_kill_and_rerun(
        lambda f: ["corpus", "build", str(f), *fixed], lambda f: f,
        lambda f: (lambda: any(f.rglob("*.wav"))), compare, tmp_path, seed,
    )  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
def test_prepare(seed, tone_manifest, tmp_path):
    def compare(reference, again):
        skip = lambda p: no_hidden(p) or p.name.startswith("prepare_")  # noqa: E731 (timings)
        assert contents(reference, skip) == contents(again, skip)

    check_kill_and_rerun(
        lambda f: ["prepare", str(tone_manifest), str(f), "--workers", "1"], lambda f: f,
        lambda f: (lambda: any(f.rglob("*.safetensors"))), compare, tmp_path, seed,
    )  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS)
def test_reflow_pairs(seed, assets, tone_manifest, tmp_path):
    prepared = tone_manifest.parent / "prepared"
    fixed = ["--nfe", "4", "--batch-frames", "40", "--no-progress"]

    def compare(reference, again):
        assert contents(reference, no_hidden) == contents(again, no_hidden)

    check_kill_and_rerun(
        lambda f: ["reflow", "pairs", str(assets["aligned"]), str(prepared), str(f), *fixed],
        lambda f: f, lambda f: (lambda: any(f.rglob("*.safetensors"))), compare, tmp_path, seed,
    )  # fmt: skip


@pytest.mark.parametrize("seed", SEEDS[:1])  # its judges take seconds a run: one seed
def test_eval_run(seed, assets, tmp_path):
    manifest = tmp_path / "test.jsonl"
    with manifest.open("w") as fh:
        for i in range(2):
            line = {"id": f"u{i}", "text": f"say {i} now", "audio": str(assets["ref"]),
                    "ref_audio": str(assets["ref"]), "ref_text": "hi", "speaker": "s"}  # fmt: skip
            fh.write(json.dumps(line) + "\n")
    fixed = ["--model", str(assets["model"]), "--vocoder", str(assets["vocoder"]), "--nfe", "4"]
    fixed += ["--batch-frames", "200", "--workers", "0", "--no-speaker", "--no-ground-truth"]
    fixed += ["--no-progress"]

    def compare(reference, again):
        assert contents(reference / "audio", no_hidden) == contents(again / "audio", no_hidden)
        scores = [
            json.loads((f / "results.json").read_text())["utterances"] for f in (reference, again)
        ]
        for rows in scores:
            for row in rows:  # where the audio is, and how long it took, differ
                row.pop("audio")
                row.pop("seconds", None)
        assert scores[0] == scores[1] and len(scores[0]) == 2

    check_kill_and_rerun(
        lambda f: ["eval", "run", str(manifest), str(f), *fixed], lambda f: f,
        lambda f: (lambda: any(f.rglob("*.wav"))), compare, tmp_path, seed,
    )  # fmt: skip
