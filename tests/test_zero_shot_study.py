"""experiments/zero_shot_study.py's parts: the prompt sets it builds from a corpus, the targets,
the page, and the mean mel-cepstrum similarity (no resemblyzer, no model: seconds)."""
# s: samples

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from experiments.zero_shot_mfcc import MfccVoices
from experiments.zero_shot_page import SetFigures, render_page, second_verdict, sim_verdict
from experiments.zero_shot_study import build_sets, main, spread
from flowvox.errors import FlowvoxError
from tests.infer.helpers import SR, speech_like

TEXTS = [f"sentence number {w} is spoken here." for w in "one two three four five six".split()]


def figures(**changes) -> SetFigures:
    values = dict(model="m", kind="aligned, d-vector", baseline=False, prompt_set="unseen", n=3,
                  wer=0.2, gt_wer=0.1, sim=0.85, gt_sim=0.9, closest=0.78, out_to_voice=0.7,
                  mfcc_sim=0.5, mfcc_gt_sim=0.9, mfcc_closest=0.2)  # fmt: skip
    return SetFigures(**(values | changes))


def write_corpus(root, rows) -> None:
    """rows: (speaker, split, text index); each a short speech-like wav."""
    (root / "wavs").mkdir(parents=True)
    with (root / "manifest.jsonl").open("w") as fh:
        for i, (speaker, split, text) in enumerate(rows):
            sf.write(root / f"wavs/u{i}.wav", speech_like(0.5, seed=i), SR)
            record = dict(audio=f"wavs/u{i}.wav", text=TEXTS[text], speaker=speaker, split=split,
                          duration=0.5, extra={"voice": speaker})  # fmt: skip
            fh.write(json.dumps(record) + "\n")


def test_spread_takes_each_group_in_turn():
    records = [{"k": k, "i": i} for k, i in [("b", 0), ("a", 1), ("b", 2), ("a", 3), ("c", 4)]]
    assert [r["i"] for r in spread(records, 4, lambda r: r["k"])] == [1, 0, 4, 3]
    assert len(spread(records, 10, lambda r: r["k"])) == 5
    assert spread([], 3, lambda r: r) == []


def test_targets_per_prompt_set():
    assert sim_verdict(figures(sim=0.80)) == "pass (≥ 0.80)"
    assert sim_verdict(figures(sim=0.79)) == "fail (≥ 0.80)"
    assert sim_verdict(figures(prompt_set="seen", sim=0.84)) == "fail (≥ 0.85)"
    assert sim_verdict(figures(sim=None)).startswith("n/a")
    assert second_verdict(figures(sim=0.85, closest=0.78), None) == "pass (margin ≥ 0.05)"
    assert second_verdict(figures(sim=0.85, closest=0.81), None) == "fail (margin ≥ 0.05)"
    assert second_verdict(figures(closest=None), None).startswith("n/a")
    seen = figures(prompt_set="seen", wer=0.22)
    assert second_verdict(seen, 0.20) == "pass (WER ≤ 1.1 × 20.0 %)"  # 22 % <= 1.1 x 20 %
    assert second_verdict(seen, 0.19).startswith("fail")
    assert second_verdict(figures(prompt_set="seen", baseline=True), 0.2) == "baseline"


def test_page_holds_both_tables_with_the_baseline_wer_as_the_seen_limit():
    rows = [
        figures(model="baseline", baseline=True, prompt_set="seen", wer=0.10),
        figures(model="m", prompt_set="seen", wer=0.12),
        figures(model="m", prompt_set="librivox", sim=0.7, closest=0.6, gt_wer=None),
    ]
    page = render_page(rows, ["a note"])
    first = page[page.index("## Table 1") : page.index("## Table 2")]
    lines = [x for x in first.splitlines() if x.startswith("| ")]
    assert len(lines) == 1 + 3  # header and one row per figures
    assert "| m | aligned, d-vector | seen | 3 | 12.0 % | 10.0 % |" in lines[2]
    assert lines[2].endswith("fail (WER ≤ 1.1 × 10.0 %) |")  # 12 % > 11 %
    assert "| - | 0.700 | 0.900 | 0.600 | +0.100 |" in lines[3]  # no GT WER; margin
    second = [x for x in page[page.index("## Table 2") :].splitlines() if x.startswith("| ")]
    assert second[1] == "| baseline | seen | 3 | 0.500 | 0.900 | 0.200 | +0.300 |"
    assert "a note" in page


def test_mean_cepstrum_similarity_tells_two_spectral_envelopes_apart(tmp_path):
    rows, paths = [], {}
    for speaker, bright in (("dark", False), ("bright", True)):
        for k in range(3):
            wav = speech_like(1.0, seed=10 * k + bright)
            if bright:  # a steep high-frequency tilt: another "vocal tract"
                wav = np.concatenate([[0.0], np.diff(wav)]).astype(np.float32) * 3  # (s,)
            path = tmp_path / f"{speaker}{k}.wav"
            sf.write(path, wav, SR)
            paths[speaker, k] = str(path)
            rows.append({"audio": str(path), "text": "x", "speaker": speaker, "split": "train"})
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    voices = MfccVoices(tmp_path, per_voice=2)  # utterances 0 and 1 of each
    assert voices.names == ["bright", "dark"]
    same = voices.similarity(paths["dark", 2], paths["dark", 0])
    other = voices.similarity(paths["dark", 2], paths["bright", 0])
    assert same > 0 > other and same - other > 0.5  # measured 0.39 and -0.51
    assert voices.similarity(paths["dark", 2], paths["dark", 2]) == pytest.approx(1.0)
    assert voices.best(paths["dark", 2], ["dark", "bright"]) > voices.best(
        paths["dark", 2], ["bright"]
    )
    assert voices.best(paths["dark", 2], ["nobody"]) is None
    assert voices.similarity(None, paths["dark", 0]) is None


def test_prompt_sets_from_a_corpus_are_kept_and_reused(tmp_path):
    rows = [("v1", "train", 0), ("v1", "train", 1), ("v1", "test", 2), ("v1", "test", 3)]
    rows += [("v2", "train", 0), ("v2", "test", 4)]
    rows += [("v1-p1", "test_unseen", t) for t in (1, 2, 5)] + [("v1-p2", "test_unseen", 0)]
    write_corpus(tmp_path / "corpus", rows)
    study = tmp_path / "study"
    manifest = build_sets(tmp_path, study, 2, ["v2"], seed=0)
    items = [json.loads(x) for x in manifest.read_text().splitlines()]
    group = {g: [r for r in items if r["extra"]["group"] == g] for g in ("unseen", "seen")}
    assert [r["speaker"] for r in group["unseen"]] == ["v1-p1", "v1-p1"]  # v1-p2: no prompt
    for record in group["unseen"]:
        assert "/wavs/" in record["ref_audio"] and record["ref_text"] != record["text"]
        assert record["ref_audio"] != record["audio"]
    assert [r["speaker"] for r in group["seen"]] == ["v2"]  # only v2's one held-out line
    librivox = [r for r in items if r["extra"]["group"] == "librivox"]
    assert sum(1 for r in librivox if r.get("audio")) == 5  # the clips, with ground truth
    zero_shot = [r for r in librivox if not r.get("audio")]
    assert len(zero_shot) == 2 and len({r["ref_audio"] for r in zero_shot}) == 2
    stamp = manifest.stat().st_mtime_ns
    assert build_sets(tmp_path, study, 2, ["v2"], seed=0) == manifest  # reused as it is
    assert manifest.stat().st_mtime_ns == stamp
    with pytest.raises(FlowvoxError, match="other settings"):
        build_sets(tmp_path, study, 3, ["v2"], seed=0)
    with pytest.raises(FlowvoxError, match="prompt set 'seen'"):
        build_sets(tmp_path, tmp_path / "other", 2, ["nobody"], seed=0)


def test_bad_input_exits_with_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zero_shot_study: error:") and "\n" not in err
    assert "prepared/train.jsonl" in err
    with pytest.raises(SystemExit):
        main([str(tmp_path), str(tmp_path), "--names", "a", "b"])
    assert "one distinct name per model" in capsys.readouterr().err
