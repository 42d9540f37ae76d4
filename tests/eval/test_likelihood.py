"""Likelihood scoring of mels under the aligned model: exact vs Hutchinson, padding, files."""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import json

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.eval.likelihood import score_mels, score_utterances
from tests.models.aligned_helpers import (
    F,
    export_model,
    make_prepared,
    one_thread,  # noqa: F401  (a module fixture)
    random_model,
    tiny_config,
)

TEXTS = [[1, 2], [3], [4, 5, 1]]
FRAMES = [6, 4, 8]
STEPS = dict(nfe=2, solver="euler")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    return random_model(tiny_config())


def toy_mels(seed: int = 1) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(n, F, generator=gen, dtype=torch.float64) for n in FRAMES]


def hutchinson_rows(model, text, mel, probes, rows=32, first_seed=0):
    """One utterance scored ``rows`` times in one batch, each row its own probe seed."""
    seeds = range(first_seed, first_seed + rows)
    out = score_mels(model, [text] * rows, [mel] * rows, probes=probes, seeds=seeds, **STEPS)
    return out.log_prob  # (rows,)


def test_exact_and_hutchinson_agree_within_standard_error(model):
    mel = toy_mels()[1]  # 4 frames x 8 bins: 16 backward passes per exact evaluation
    exact = score_mels(model, TEXTS[1:2], [mel], divergence="exact", **STEPS).log_prob[0]
    for probes in (1, 4):
        estimates = hutchinson_rows(model, TEXTS[1], mel, probes)
        standard_error = estimates.std() / len(estimates) ** 0.5
        assert standard_error > 0  # the estimate is random...
        assert abs(float(estimates.mean() - exact)) < 4 * float(standard_error)  # ...unbiased


def test_hutchinson_variance_falls_with_probes(model):
    mel = toy_mels()[2]
    one = hutchinson_rows(model, TEXTS[2], mel, probes=1)
    eight = hutchinson_rows(model, TEXTS[2], mel, probes=8, first_seed=1000)
    assert float(eight.std()) < 0.6 * float(one.std())  # expected ratio 1/sqrt(8) = 0.35


@pytest.mark.parametrize("divergence", ["exact", "hutchinson"])
def test_score_alone_equals_score_in_a_padded_batch(model, divergence):
    mels = toy_mels()
    steps = dict(nfe=1 if divergence == "exact" else 2, solver="euler")  # exact is costly
    alone = score_mels(model, TEXTS[1:2], mels[1:2], divergence=divergence, seeds=[7], **steps)
    rows = [1, 0] if divergence == "exact" else [0, 1, 2]  # exact is costly: a batch of two
    seeds = [7 if r == 1 else 3 for r in rows]
    batch = score_mels(
        model, [TEXTS[r] for r in rows], [mels[r] for r in rows], divergence=divergence,
        seeds=seeds, **steps,
    )  # fmt: skip
    k = rows.index(1)  # utterance 1 (4 frames) is padded in the batch
    assert torch.allclose(batch.log_prob[k], alone.log_prob[0], rtol=1e-10, atol=1e-10)
    assert int(batch.frames[k]) == 4 and torch.equal(
        batch.durations[k, : alone.durations.shape[1]], alone.durations[0]
    )
    per_frame, per_element = batch.nats_per_frame[k], batch.nats_per_element[k]
    assert torch.allclose(per_frame, per_element * F) and torch.allclose(
        per_frame * 4, alone.log_prob[0]
    )


def test_bad_arguments_are_clear_errors(model):
    mels = toy_mels()
    with pytest.raises(FlowvoxError, match="divergence"):
        score_mels(model, TEXTS, mels, divergence="trace")
    with pytest.raises(FlowvoxError, match="one each"):
        score_mels(model, TEXTS, mels[:2])
    with pytest.raises(FlowvoxError, match="every token needs a frame"):
        score_mels(model, [[1, 2, 3]], [mels[1][:3]])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("scoring")
    prepared = make_prepared(root)
    return prepared, export_model(root / "model", prepared)


def test_score_utterances_of_a_prepared_split_and_a_manifest(tmp_path, files):
    prepared, model_dir = files
    common = dict(divergence="hutchinson", probes=2, nfe=2, solver="euler", progress=False)
    out = tmp_path / "scores.jsonl"
    scores = score_utterances(model_dir, prepared, split="train", out=out, **common)
    entries = [json.loads(line) for line in (prepared / "train.jsonl").read_text().splitlines()]
    assert len(scores) == len(entries) and [s.frames for s in scores] == [
        e["extra"]["mel_frames"] for e in entries
    ]
    assert all(s.id.startswith(f"u{i}-") for i, s in enumerate(scores))
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[0] == {
        "id": scores[0].id, "nats_per_frame": scores[0].nats_per_frame,
        "nats_per_element": scores[0].nats_per_element, "frames": scores[0].frames,
    }  # fmt: skip
    # one utterance per batch gives the same scores; so does the manifest file itself
    alone = score_utterances(model_dir, prepared / "train.jsonl", batch_frames=1, **common)
    for a, b in zip(scores, alone, strict=True):
        assert a.id == b.id and a.nats_per_frame == pytest.approx(b.nats_per_frame, rel=1e-4)
    test = score_utterances(model_dir, prepared, **common)  # default split: test
    assert len(test) == 2 and {s.id for s in test}.isdisjoint(s.id for s in scores)
    with pytest.raises(FlowvoxError, match="no valid.jsonl"):
        score_utterances(model_dir, prepared, split="valid", **common)
    with pytest.raises(FlowvoxError, match="no such file or folder"):
        score_utterances(model_dir, tmp_path / "missing", **common)
