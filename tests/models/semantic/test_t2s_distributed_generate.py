"""`flowvox semantic generate` over several processes (issue 20): rank k makes batches
k, k + W, ... of the batches one process cuts from LINES into its own tokens.rank-000k.jsonl,
and the merged tokens.jsonl is byte for byte what one process writes; a torn part resumes,
and one process completes what two ranks left (either T2S family)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from flowvox.cli.main import main
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.t2s_fm_generate import GenerateSettings
from flowvox.models.semantic.t2s_generate import generate_tokens_file
from flowvox.utils.distributed import Launch, part_path
from tests.models.semantic.test_ar import tiny_model
from tests.models.semantic.test_t2s_fm_generate import CHARSET, save_t2s

REPO = Path(__file__).resolve().parents[3]
LINES = ["the cat sat", "a dog ran far away", "", "hello", "good night moon", "one two",
         "three four five", "six"]  # fmt: skip
IDS = [n for n, text in enumerate(LINES, start=1) if text]  # batches of 2: rank 0, 1, 0, 1


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny tokenizer, a flow-matching T2S folder and an autoregressive one for it."""
    root = tmp_path_factory.mktemp("t2s_distributed")
    torch.manual_seed(0)
    SemanticTokenizer(SemanticConfig.preset("tiny")).save_pretrained(
        root / "tok", extra={"stage": "vq"}
    )
    save_t2s(root / "fm", root / "tok")
    tiny_model(seed=3, default_cps=12.0, charset=CHARSET).save_pretrained(
        root / "ar", tokenizer=root / "tok"
    )
    return root


@pytest.fixture
def lines(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(LINES) + "\n")
    return path


def argv(lines: Path, out: Path, model: Path) -> list[str]:
    return ["semantic", "generate", str(lines), str(out), "--model", str(model), "--batch-size",
            "2", "--seed", "3", "--nfe", "2", "--no-progress"]  # fmt: skip


def one_process(lines: Path, out: Path, model: Path) -> str:
    """tokens.jsonl of a one-process run (1 thread, as each rank)."""
    threads = torch.get_num_threads()
    try:
        assert main([*argv(lines, out, model), "--threads", "1"]) == 0
    finally:
        torch.set_num_threads(threads)
    return (out / "tokens.jsonl").read_text()


def partial_part(reference: str, out: Path, ids: list[int], rank: int) -> None:
    """Rank ``rank``'s part holding the reference lines of ``ids``, then a torn line."""
    out.mkdir(exist_ok=True)
    kept = [line for line in reference.splitlines() if json.loads(line)["id"] in ids]
    part = part_path(out / "tokens.jsonl", rank)
    part.write_text("".join(line + "\n" for line in kept) + '{"id": 99, "te')


@pytest.mark.parametrize("family", ["fm", "ar"])
def test_ranks_share_the_batches_and_one_process_completes_them(models, lines, tmp_path, family):
    settings = GenerateSettings(seed=3, batch_size=2, nfe=2 if family == "fm" else None)
    reference = one_process_library(lines, tmp_path / "one", models / family, settings)
    out = tmp_path / "ranks"
    # rank 1 of 2 ran fully (no MASTER_ADDR: it cannot meet rank 0, so nothing is merged)
    report = generate_tokens_file(lines, out, models / family, settings, progress=False,
                                  launch=Launch(1, 2))  # fmt: skip
    assert (report.made, report.merged) == (3, False) and "rank 1 of 2: " in report.summary()
    part = part_path(out / "tokens.jsonl", 1)
    assert [json.loads(line)["id"] for line in part.read_text().splitlines()] == [4, 5, 8]
    assert not (out / "tokens.jsonl").exists()
    # rank 0 of 2 stopped inside its second batch: one process (no WORLD_SIZE) finishes
    partial_part(reference, out, IDS[:2], rank=0)
    report = generate_tokens_file(lines, out, models / family, settings, progress=False)
    assert (report.made, report.kept, report.merged) == (2, 5, True)
    assert (out / "tokens.jsonl").read_text() == reference  # byte for byte, in line order
    assert sorted(p.name for p in out.iterdir()) == ["tokens.jsonl"]


def one_process_library(lines, out, model, settings) -> str:
    generate_tokens_file(lines, out, model, settings, progress=False)
    return (out / "tokens.jsonl").read_text()


def test_two_torchrun_ranks_resume_and_write_the_bytes_of_one_process(models, lines, tmp_path):
    reference = one_process(lines, tmp_path / "one", models / "fm")
    out = tmp_path / "two"
    partial_part(reference, out, IDS[2:4], rank=1)  # rank 1 was killed in its 2nd batch
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "flowvox"]  # fmt: skip
    command += argv(lines, out, models / "fm")
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 0 of 2: wrote" in done.stdout and "rank 1 of 2: wrote" in done.stdout
    assert (out / "tokens.jsonl").read_text() == reference
    assert sorted(p.name for p in out.iterdir()) == ["tokens.jsonl"]  # parts merged, removed
