"""`flowvox generate` over several processes (issue 20): each rank takes every WORLD_SIZE-th
batch of the plan one process makes, writes its own manifest part, and the merged
manifest.jsonl and the wavs are byte for byte those of one process; a partial part resumes,
and a rerun with another world size (one process) completes what ranks left.

The sharding and merging run in-process with a fake synthesizer and hand-made ``Launch``es;
two tests start two real CPU ranks with torchrun (gloo) on a tiny model."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer
from flowvox.infer.bulk import generate_bulk
from flowvox.utils.distributed import (
    Launch,
    launch_from_env,
    merge_parts,
    part_path,
    rank_device,
)

from .helpers import REF_TEXT
from .test_bulk import FakeSynth, Options, lines_file

REPO = Path(__file__).resolve().parents[2]
LINES = [f"line {i}" + " spoken words" * (i % 4) for i in range(9)]
BUDGET = 500  # padded frames per batch of the fake synthesizer: 5 batches of 1-3 lines


def folder_bytes(folder: Path) -> dict[str, bytes]:
    """relative path -> bytes of every file under ``folder``."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


# --- the launch and the files, alone ---------------------------------------------------------


def test_launch_comes_from_the_launcher_environment():
    assert launch_from_env({}) == Launch()  # no WORLD_SIZE: one process
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "MASTER_ADDR": "node0",
           "MASTER_PORT": "29500"}  # fmt: skip
    assert launch_from_env(env) == Launch(3, 4, 1, rendezvous=True)
    assert launch_from_env({"RANK": "1", "WORLD_SIZE": "2"}) == Launch(1, 2, 0, False)
    assert Launch(1, 3).shard(list("abcdefg")) == ["b", "e"]  # batch i when i % 3 == 1
    assert Launch(1, 3).label == "rank 1 of 3" and Launch().label == ""
    with pytest.raises(FlowvoxError, match="RANK='x' in the environment is not a whole number"):
        launch_from_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(FlowvoxError, match="0 <= RANK < WORLD_SIZE"):
        launch_from_env({"RANK": "2", "WORLD_SIZE": "2"})
    assert rank_device("cuda", Launch()) == "cuda" and rank_device("cpu", Launch(1, 2)) == "cpu"
    if torch.cuda.device_count() < 2:
        with pytest.raises(FlowvoxError, match="LOCAL_RANK 1 needs GPU 1"):
            rank_device("cuda", Launch(1, 2, 1))


def test_merge_keeps_the_merged_lines_then_adds_the_parts_in_plan_order(tmp_path):
    path = tmp_path / "tokens.jsonl"
    key = lambda line: json.loads(line)["id"] if "bad" not in line else None  # noqa: E731
    path.write_text('{"id": "c"}\n{"id": "c", "again": 1}\n{"id": "bad"}\n')
    part_path(path, 1).write_text('{"id": "b"}\n{"id": "z"}\n{"id": "c", "part": 1}\n{"id": "a"')
    part_path(path, 12).write_text('{"id": "d"}\n')  # a part of an earlier, wider run
    assert merge_parts(path, key, order=["a", "b", "c", "d"])
    # the merged file's own lines first; then b, d in plan order; z (not planned) last; the
    # torn "a" of a killed rank and the repeats are dropped; the parts are gone
    assert path.read_text() == '{"id": "c"}\n{"id": "b"}\n{"id": "d"}\n{"id": "z"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.jsonl"]
    assert not merge_parts(path, key, order=[])  # no parts: nothing to do


# --- sharding with a fake synthesizer, in-process ---------------------------------------------


def test_ranks_share_the_one_process_batches_and_a_plain_run_merges(tmp_path):
    source = lines_file(tmp_path, LINES)
    one = FakeSynth()
    generate_bulk(one, source, tmp_path / "one", Options(seed=1), batch_frames=BUDGET,
                  progress=False)  # fmt: skip
    assert len(one.calls) >= 3 and max(map(len, one.calls)) >= 2  # real batches
    out = tmp_path / "ranks"
    ranks = [FakeSynth(), FakeSynth()]
    for rank in (1, 0):  # no MASTER_ADDR: the ranks cannot meet, so none merges
        report = generate_bulk(ranks[rank], source, out, Options(seed=1), batch_frames=BUDGET,
                               progress=False, launch=Launch(rank, 2))  # fmt: skip
        assert not report.merged and f"rank {rank} of 2: " in report.summary()
        assert "without RANK/WORLD_SIZE to merge" in report.summary()
    # each rank made exactly the one-process batches i with i % 2 == rank
    assert ranks[0].calls == one.calls[0::2] and ranks[1].calls == one.calls[1::2]
    assert not (out / "manifest.jsonl").exists()
    assert {p.name for p in out.glob("manifest.rank-*")} == {
        "manifest.rank-0000.jsonl", "manifest.rank-0001.jsonl"
    }  # fmt: skip
    plain = FakeSynth()
    report = generate_bulk(plain, source, out, Options(seed=1), batch_frames=BUDGET, progress=False)
    assert plain.calls == [] and report.skipped == len(LINES) and report.merged
    assert folder_bytes(out) == folder_bytes(tmp_path / "one")  # parts folded and gone


def test_a_torn_part_resumes_and_another_world_size_completes_it(tmp_path):
    source = lines_file(tmp_path, LINES)
    one = FakeSynth()
    generate_bulk(one, source, tmp_path / "one", Options(), batch_frames=BUDGET, progress=False)
    out = tmp_path / "out"
    crashing = FakeSynth(crash_after=1)  # rank 0 of 3 dies after its first batch
    with pytest.raises(RuntimeError, match="simulated crash"):
        generate_bulk(crashing, source, out, Options(), batch_frames=BUDGET, progress=False,
                      launch=Launch(0, 3))  # fmt: skip
    part = part_path(out / "manifest.jsonl", 0)
    with part.open("a") as handle:
        handle.write('{"audio": "wavs/torn')  # killed mid-append
    again = FakeSynth()  # the same rank again: makes only the rest of its share
    generate_bulk(again, source, out, Options(), batch_frames=BUDGET, progress=False,
                  launch=Launch(0, 3))  # fmt: skip
    assert again.calls == one.calls[3::3] and part.read_text().endswith("\n")  # repaired
    # ranks 1 and 2 never ran: two processes now (another world size) do what is left
    rest = [FakeSynth(), FakeSynth()]
    for rank in (0, 1):
        generate_bulk(rest[rank], source, out, Options(), batch_frames=BUDGET, progress=False,
                      launch=Launch(rank, 2))  # fmt: skip
    made = [text for synth in (crashing, again, *rest) for call in synth.calls for text in call]
    assert sorted(made) == sorted(LINES)  # every line once, none twice
    generate_bulk(FakeSynth(), source, out, Options(), batch_frames=BUDGET, progress=False)
    assert folder_bytes(out) == folder_bytes(tmp_path / "one")


# --- two real CPU ranks under torchrun ---------------------------------------------------------


@pytest.fixture(scope="module")
def spoken(tmp_path_factory, model_dir, ref_wav):
    """A one-process reference run of the tiny model (1 thread, as the ranks) and its
    batches, in order: (source, argv after OUT_DIR, reference folder, batches of texts)."""
    tmp_path = tmp_path_factory.mktemp("spoken")
    source = lines_file(tmp_path, LINES[:7])
    extra = ["--model", str(model_dir), "--ref-audio", str(ref_wav), "--ref-text", REF_TEXT,
             "--nfe", "2", "--seed", "5", "--batch-frames", "600", "--no-progress",
             "--threads", "1"]  # fmt: skip
    batches = []
    speak_batch = Synthesizer.speak_batch

    def spy(self, texts, *args, **kwargs):
        batches.append(list(texts))
        return speak_batch(self, texts, *args, **kwargs)

    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Synthesizer, "speak_batch", spy)
        try:
            assert main(["generate", str(source), str(tmp_path / "one"), *extra]) == 0
        finally:
            torch.set_num_threads(threads)
    assert len(batches) >= 3 and max(map(len, batches)) >= 2  # real, shared batches
    return source, extra, tmp_path / "one", batches


def torchrun(argv: list[str], nproc: int = 2) -> None:
    """``flowvox ARGV`` as ``nproc`` CPU ranks on this machine (torchrun --standalone)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(nproc), "-m", "flowvox", *argv]  # fmt: skip
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def copy_batches(one: Path, out: Path, batches: list[list[str]], rank: int) -> list[Path]:
    """Put the reference's wavs and manifest lines of ``batches`` into ``out`` as rank
    ``rank``'s part (as if that rank had made them); their wavs are returned."""
    wanted = {text for batch in batches for text in batch}
    lines = [line for line in (one / "manifest.jsonl").read_text().splitlines()
             if json.loads(line)["text"] in wanted]  # fmt: skip
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    wavs = []
    for line in lines:
        audio = json.loads(line)["audio"]
        wavs.append(Path(shutil.copy2(one / audio, out / audio)))
        os.utime(wavs[-1], ns=(10**18, 10**18))  # a mark: a remade wav would lose it
    with part_path(out / "manifest.jsonl", rank).open("a") as part:
        part.write("".join(line + "\n" for line in lines))
    return wavs


def test_two_torchrun_ranks_write_the_bytes_of_one_process(spoken, tmp_path):
    source, extra, one, _ = spoken
    torchrun(["generate", str(source), str(tmp_path / "two"), *extra])
    assert folder_bytes(tmp_path / "two") == folder_bytes(one)  # wavs and merged manifest


@pytest.mark.slow
def test_torchrun_resumes_a_rank_stopped_partway(spoken, tmp_path):
    source, extra, one, batches = spoken
    out = tmp_path / "resumed"
    kept = copy_batches(one, out, batches[:1], rank=0)  # rank 0 stopped after its 1st batch
    with (out / "manifest.rank-0000.jsonl").open("a") as part:
        part.write('{"audio": "wavs/line-0000')  # ... in the middle of its 2nd
    torchrun(["generate", str(source), str(out), *extra])
    assert folder_bytes(out) == folder_bytes(one)
    assert all(wav.stat().st_mtime_ns == 10**18 for wav in kept)  # not made again


def test_one_process_completes_what_two_ranks_left(spoken, tmp_path, capsys):
    source, extra, one, batches = spoken
    out = tmp_path / "left"
    kept = copy_batches(one, out, batches[0:1], rank=0)  # rank 0: batch 0 (of 0, 2, ...)
    kept += copy_batches(one, out, batches[1:2], rank=1)  # rank 1: batch 1 (of 1, 3, ...)
    with (out / "manifest.rank-0001.jsonl").open("a") as part:
        part.write('{"audio": "wavs/torn')
    threads = torch.get_num_threads()
    try:
        assert main(["generate", str(source), str(out), *extra]) == 0  # no WORLD_SIZE
    finally:
        torch.set_num_threads(threads)
    assert folder_bytes(out) == folder_bytes(one)  # in one-process order, parts gone
    assert all(wav.stat().st_mtime_ns == 10**18 for wav in kept)
    assert f"{len(kept)} of {len(LINES[:7])} were already" in capsys.readouterr().out
