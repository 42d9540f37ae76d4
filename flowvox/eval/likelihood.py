"""Log-likelihood of real mels under an aligned TTS model's flow decoder, given their text.

For an utterance with text c and log-mel y (n frames × f bins), the decoder defines a flow
from N(0, I) (t=0) to mels (t=1) with velocity v(x, t) = v_θ(x, 0, μ̃, t) (no audio prompt;
μ̃ the encoder means expanded along MAS durations of y, see ``flowvox.models.aligned.inputs``).
By the instantaneous change of variables (``flowvox.flow.likelihood``):

    log p(y | c) = log N(x_0; 0, I) - ∫_0^1 div v(x_t, t) dt,   x_t solved from x_1 = y back to t=0

over the n·f valid elements only (padding masked). Reported per frame (÷ n) and per element
(÷ n·f). The divergence is exact (n·f backward passes per evaluation: small inputs) or the
Skilling-Hutchinson estimate with k Rademacher probes, drawn per utterance from
seed + crc32(id), so a score does not depend on the batch it was computed in.
"""
# b: batch, n: frames, f: mel bins, k: probes

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from flowvox.data.cache import MEL_CONFIG_FILE
from flowvox.data.dataset import MelDataset
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from flowvox.flow import log_likelihood
from flowvox.flow.likelihood import DIVERGENCES
from flowvox.models.aligned.inputs import (
    align_utterances,
    alignable,
    conditioned_velocity,
    frame_batches,
    item_seed,
    text_encoder_for,
    utterance_id,
)
from flowvox.models.aligned.load import load_aligned_model
from flowvox.models.aligned.model import AlignedTTS
from flowvox.utils.atomic import atomic_write_text


@dataclass(frozen=True)
class UtteranceScore:
    """log p(mel | text) of one utterance, in nats per frame and per mel element."""

    id: str
    nats_per_frame: float
    nats_per_element: float
    frames: int


@dataclass(frozen=True)
class MelScores:
    """log_prob, nats_per_frame, nats_per_element (b,) float; frames (b,) int64;
    durations (b, l) the MAS conditioning; nfe: velocity evaluations of the solver."""

    log_prob: Tensor
    nats_per_frame: Tensor
    nats_per_element: Tensor
    frames: Tensor
    durations: Tensor
    nfe: int


def score_mels(
    model: AlignedTTS,
    texts: Sequence[Sequence[int]],
    mels: Sequence[Tensor],
    *,
    divergence: str = "hutchinson",
    probes: int = 4,
    seeds: Sequence[int] | None = None,
    nfe: int = 16,
    solver: str = "midpoint",
    cfg: float = 0.0,
) -> MelScores:
    """log p(mel_i | text_i) for tokenizer ids ``texts`` and mels (each (n_i, f)), one batch.

    ``seeds``: one per utterance for its Hutchinson probes (default 0, 1, ...). ``nfe`` counts
    solver steps (a midpoint step makes 2 evaluations, rk4 4). Every text must have at most
    one encoder token (blanks included) per frame of its mel.
    """
    if divergence not in DIVERGENCES:
        raise FlowvoxError(f"divergence={divergence!r}: choose one of {DIVERGENCES}")
    if probes < 1 or nfe < 1:
        raise FlowvoxError(f"probes={probes}, nfe={nfe}: both must be at least 1")
    seeds = list(range(len(mels))) if seeds is None else list(seeds)
    if len(seeds) != len(mels) or len(texts) != len(mels):
        raise FlowvoxError(f"{len(texts)} texts, {len(mels)} mels, {len(seeds)} seeds: one each")
    inputs = align_utterances(model, texts, mels)
    velocity = conditioned_velocity(model, inputs.mu_frames, inputs.mask, cfg)
    drawn = None
    if divergence == "hutchinson":
        drawn = _row_probes(inputs.mel, inputs.mel_lengths, probes, seeds)  # (k, b, n, f)
    result = log_likelihood(
        velocity,
        inputs.mel,
        inputs.mask,
        divergence=divergence,
        probes=drawn,
        method=solver,
        num_steps=nfe,
    )
    frames = inputs.mel_lengths
    return MelScores(
        log_prob=result.log_prob,
        nats_per_frame=result.log_prob / frames.to(result.log_prob.dtype),
        nats_per_element=result.nats_per_element,
        frames=frames,
        durations=inputs.durations,
        nfe=result.nfe,
    )


def score_utterances(
    model_dir: str | os.PathLike,
    manifest_or_prepared: str | os.PathLike,
    divergence: str = "hutchinson",
    probes: int = 4,
    nfe: int = 16,
    solver: str = "midpoint",
    *,
    split: str = "test",
    cfg: float = 0.0,
    seed: int = 0,
    batch_frames: int = 2000,
    device: str = "cpu",
    out: str | os.PathLike | None = None,
    progress: bool = True,
) -> list[UtteranceScore]:
    """Scores of every utterance of a prepared folder's ``split`` or of a JSONL manifest.

    ``manifest_or_prepared``: a folder written by ``flowvox prepare`` (reads
    ``<split>.jsonl`` and its mel cache), a manifest inside one, or any JSONL manifest / corpus
    folder with ``manifest.jsonl`` (mels computed from the audio). Batches of at most
    ``batch_frames`` padded frames. Utterances too short for their text are left out with a
    warning. ``out``: also write the scores as JSON lines (atomically), in input order.
    """
    from tqdm import tqdm

    loaded = load_aligned_model(model_dir, device)
    model = loaded.model.requires_grad_(False)  # gradients only with respect to the mel
    dataset = _open_data(Path(manifest_or_prepared), loaded.config.mel, split)
    encode = text_encoder_for(loaded.tokenizer)
    ids = [encode.encode(entry.text) for entry in dataset.entries]
    names = [utterance_id(entry) for entry in dataset.entries]
    lengths = dataset.lengths
    keep = [i for i in range(len(ids)) if alignable(model, len(ids[i]), lengths[i])]
    if len(keep) < len(ids):
        import logging

        left = sorted(set(range(len(ids))) - set(keep))
        logging.getLogger("flowvox").warning(
            f"{len(left)} utterance(s) have fewer frames than text tokens and are not scored: "
            + ", ".join(names[i] for i in left[:5])
        )
    scores: dict[int, UtteranceScore] = {}
    bar = tqdm(total=len(keep), desc="score", unit="utt", file=sys.stderr, disable=not progress)
    with bar:
        for batch in frame_batches([lengths[i] for i in keep], batch_frames):
            rows = [keep[j] for j in batch]
            result = score_mels(
                model,
                [ids[i] for i in rows],
                [dataset.load_mel(i) for i in rows],
                divergence=divergence,
                probes=probes,
                seeds=[item_seed(seed, names[i]) for i in rows],
                nfe=nfe,
                solver=solver,
                cfg=cfg,
            )
            for r, i in enumerate(rows):
                scores[i] = UtteranceScore(
                    names[i],
                    float(result.nats_per_frame[r]),
                    float(result.nats_per_element[r]),
                    int(result.frames[r]),
                )
            bar.update(len(rows))
    ordered = [scores[i] for i in sorted(scores)]
    if out is not None:
        atomic_write_text(out, "".join(json.dumps(asdict(s)) + "\n" for s in ordered))
    return ordered


def _row_probes(mel: Tensor, mel_lengths: Tensor, k: int, seeds: Sequence[int]) -> Tensor:
    """Rademacher probes (k, b, n, f), row i drawn from its own seed over its own frames
    only (so padding and batch-mates do not change them), 0 at padding."""
    b, n, f = mel.shape
    probes = torch.zeros(k, b, n, f, dtype=mel.dtype)
    for row, (frames, seed) in enumerate(zip(mel_lengths.tolist(), seeds, strict=True)):
        gen = torch.Generator().manual_seed(int(seed))
        bits = torch.randint(0, 2, (k, frames, f), generator=gen)
        probes[:, row, :frames] = bits.to(mel.dtype) * 2 - 1
    return probes.to(mel.device)


def _open_data(source: Path, mel_config, split: str) -> MelDataset:
    """A prepared folder's split, a manifest (cached mels when beside a prepared cache), or a
    corpus folder's manifest.jsonl (mels from the audio)."""
    if source.is_dir():
        if (source / MEL_CONFIG_FILE).is_file():
            manifest = source / f"{split}.jsonl"
            if not manifest.is_file():
                raise FlowvoxError(f"{source}: no {split}.jsonl; pass --split with a split it has")
        else:
            manifest = source / "manifest.jsonl"
            if not manifest.is_file():
                raise FlowvoxError(
                    f"{source}: neither a prepared folder ({MEL_CONFIG_FILE}) nor a corpus "
                    "folder (manifest.jsonl); pass one of them or a .jsonl manifest"
                )
    elif source.is_file():
        manifest = source
    else:
        raise FlowvoxError(f"{source}: no such file or folder; pass a prepared folder or manifest")
    entries = read_manifest(manifest)
    if not entries:
        raise FlowvoxError(f"{manifest}: no utterances to score")
    cached = (manifest.parent / MEL_CONFIG_FILE).is_file() and all(
        "mel" in e.extra for e in entries
    )
    return MelDataset(entries, mel_config, cache_dir=manifest.parent if cached else None)
