"""scripts/build_zero_shot.sh at toy scale (two voices with three pseudo-speakers each, 80
utterances, 2 steps of the d-vector aligned model, packed with the bundled vocoder), a rerun
that resumes it, and experiments/zero_shot_study.py on its output (2 sentences per set)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from experiments.zero_shot_study import main as study_main
from flowvox.data.dvectors import DVECTOR_FILE
from flowvox.infer import Synthesizer
from flowvox.vocoders import Vocos

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "build_zero_shot.sh"
NUMBER = re.compile(r"^[+-]?\d+\.\d+( %)?$")


def run_recipe(work: Path, steps: int, **extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "FLOWVOX": str(Path(sys.executable).parent / "flowvox"),
        "WORK": str(work),
        "VOICES": "flite:rms flite:slt",
        "PSEUDO_SPEAKERS": "3",  # flite:rms+p3 is held out (test_unseen)
        "CORPUS_SIZE": "--utterances 80",
        "MODELS": "aligned-dvec",
        "STEPS": str(steps),
        "THREADS": "1",
        **extra,
    }
    return subprocess.run(
        [str(SCRIPT)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900
    )


def table(page: str, heading: str) -> list[dict[str, str]]:
    """The rows of the markdown table under ``heading`` as {column: cell}."""
    lines = page[page.index(heading) :].splitlines()[2:]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    rows = rows[: next(i for i, line in enumerate(lines) if not line.startswith("|"))]
    return [dict(zip(rows[0], row, strict=True)) for row in rows[2:]]


def test_unknown_model_fails_before_any_work(tmp_path):
    result = run_recipe(tmp_path / "zs", 2, MODELS="aligned fastpitch")
    assert result.returncode == 2
    assert "MODELS: unknown model 'fastpitch'" in result.stderr
    assert not (tmp_path / "zs").exists()


@pytest.mark.slow
def test_recipe_packs_a_dvector_model_resumes_and_the_study_writes_its_tables(tmp_path, capsys):
    work = tmp_path / "zs"
    result = run_recipe(work, steps=2)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mel vocos24k: the vocoder matches" in result.stdout
    packed = work / "packed/aligned-dvec"
    synth = Synthesizer.from_pretrained(packed)
    assert isinstance(synth.vocoder, Vocos)  # the bundled voice's vocoder, not Griffin-Lim
    assert synth.model.config.cond_dim == 256
    assert sorted(synth.voices) == ["flite-rms", "flite-slt"]  # engine voices, no pseudo
    assert synth.sampling == {"nfe": 4, "cfg": 0.7}
    config = json.loads((work / "aligned-dvec/model/config.json").read_text())
    assert config["train"]["max_steps"] == 2  # the schedule ends at STEPS
    assert (work / "prepared" / DVECTOR_FILE).is_file()
    splits = {json.loads(x)["split"] for x in (work / "corpus/manifest.jsonl").open()}
    assert splits == {"train", "test", "test_unseen"}

    result = run_recipe(work, steps=3)  # a rerun continues from the checkpoint
    assert result.returncode == 0, result.stderr[-2000:]
    assert "0 mels computed, 80 reused" in result.stdout
    state = json.loads((work / "aligned-dvec/checkpoints/step-0000003/state.json").read_text())
    assert state["step"] == 3

    page_file = tmp_path / "page.md"
    argv = [str(work), str(packed), "--sentences", "2", "--seen-voices", "flite-rms-p1"]
    study_main([*argv, "--out", str(page_file)])
    page = page_file.read_text()
    assert "resemblyzer 0.1.4" in page and "same encoder" in page  # the judge is named
    first = table(page, "## Table 1")
    assert [(r["model"], r["prompt set"]) for r in first] == [
        (m, s) for m in ("baseline", "aligned-dvec") for s in ("unseen", "librivox", "seen")
    ]
    assert [r["n"] for r in first] == ["2", "7", "2"] * 2  # librivox: 5 clips + 2 sentences
    assert first[0]["kind"] == "aligned, audio prompt"
    assert first[3]["kind"] == "aligned, d-vector"
    for row in first:
        for column in ("WER", "GT WER", "SIM", "GT SIM", "closest voice", "margin"):
            assert NUMBER.match(row[column]), (column, row)
        margin = float(row["SIM"]) - float(row["closest voice"])
        assert float(row["margin"]) == pytest.approx(margin, abs=1.5e-3)
        assert row["SIM target"].startswith(("pass", "fail"))
        assert float(row["GT SIM"]) > 0.75  # a recording vs another of its speaker
    assert first[2]["margin / WER target"] == "baseline"
    assert first[5]["margin / WER target"].startswith(("pass (WER ≤", "fail (WER ≤"))
    assert first[0]["margin / WER target"].endswith("(margin ≥ 0.05)")
    assert first[0]["GT WER"] == first[3]["GT WER"]  # one ground truth, judged once
    second = table(page, "## Table 2")
    assert len(second) == 6
    for row in second:
        assert NUMBER.match(row["SIM"]) and NUMBER.match(row["GT SIM"])
    (judged,) = (work / "study/eval").glob("aligned-dvec-*/results.json")  # weights' digest
    truth = json.loads(judged.read_text())
    assert {u["system"] for u in truth["utterances"]} == {"nfe-4"}  # no second ground truth

    capsys.readouterr()
    study_main([*argv, "--out", str(page_file)])  # a rerun reads what was judged
    out = capsys.readouterr().out
    assert out.count("judged before") == 2
    assert page_file.read_text() == page
