"""Summaries (corpus-level WER, means that skip missing figures) and the written files."""

import json

import pytest

from flowvox.eval.judges import GROUND_TRUTH, UtteranceScore
from flowvox.eval.report import markdown, summarize, write_results


def score(system, uid, errors, words, group="seen", **figures):
    return UtteranceScore(
        uid, system, group, "text", f"{uid}.wav", wer=errors / words, substitutions=errors,
        reference_words=words, seconds=2.0, **figures,
    )  # fmt: skip


@pytest.fixture
def scores():
    return [
        score("nfe-8", "a", 1, 10, sim_to_ref=0.8, mcd_db=5.0, duration_ratio=1.0),
        score("nfe-8", "b", 3, 2, group="unseen", sim_to_ref=0.6, mcd_db=None),
        score("nfe-16", "a", 0, 10, sim_to_ref=0.9, mcd_db=4.0),
        score("nfe-16", "b", 1, 2, group="unseen", sim_to_ref=0.7, mcd_db=6.0),
        score(GROUND_TRUTH, "a", 1, 10, sim_to_ref=0.95),
        score(GROUND_TRUTH, "b", 0, 2, group="unseen", sim_to_ref=0.85),
    ]


def test_summary_is_corpus_level_and_skips_missing_figures(scores):
    out = summarize(scores, nfe={"nfe-8": 8, "nfe-16": 16}, rtf={"nfe-8": 0.5, "nfe-16": 1.0})
    first = out[0]
    assert (first.system, first.group, first.utterances) == ("nfe-8", "all", 2)
    assert first.wer == pytest.approx(4 / 12)  # not the mean of 0.1 and 1.5
    assert first.sim_to_ref == pytest.approx(0.7)
    assert first.mcd_db == pytest.approx(5.0)  # the None is left out
    assert first.sim_to_gt is None and first.rtf == 0.5 and first.nfe == 8
    groups = {(s.system, s.group): s for s in out}
    assert len(out) == 3 + 3 * 2  # per system, then per system and group
    assert groups[("nfe-16", "unseen")].wer == pytest.approx(0.5)
    assert groups[("nfe-16", "unseen")].rtf is None  # RTF belongs to the whole run


def test_markdown_puts_ground_truth_first(scores):
    text = markdown(summarize(scores), "title", ["a note"])
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    assert rows[0].startswith(f"| {GROUND_TRUTH} | all | 2 | 8.3 % | 0.900 |")
    assert rows[1].startswith("| nfe-8 | all | 2 | 33.3 % | 0.700 | - | 5.00 |")
    assert "a note" in text
    groups = [row.split(" | ")[:2] for row in rows[3:]]  # then group by group, truth first
    assert groups == [
        ["| ground truth", "seen"],
        ["| nfe-8", "seen"],
        ["| nfe-16", "seen"],
        ["| ground truth", "unseen"],
        ["| nfe-8", "unseen"],
        ["| nfe-16", "unseen"],
    ]


def test_write_results_json_markdown_and_nfe_plots(scores, tmp_path):
    summaries = summarize(scores, nfe={"nfe-8": 8, "nfe-16": 16}, rtf={"nfe-8": 0.5})
    paths = write_results(tmp_path, scores, summaries, {"manifest": "m"}, "t")
    names = sorted(p.relative_to(tmp_path).as_posix() for p in paths)
    assert names == [
        "plots/per_utterance.png", "plots/rtf_vs_nfe.png", "plots/wer_vs_nfe.png",
        "results.json", "results.md",
    ]  # fmt: skip
    record = json.loads((tmp_path / "results.json").read_text())
    assert record["config"] == {"manifest": "m"}
    assert len(record["utterances"]) == 6 and record["summary"][0]["system"] == "nfe-8"
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in paths if p.suffix == ".png")
    assert not [p for p in tmp_path.rglob(".*")]  # no temporary files left
