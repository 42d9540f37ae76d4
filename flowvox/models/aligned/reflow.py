"""Reflow for the aligned TTS model (rectified flow, Liu et al.; VoiceFlow).

1. ``make_reflow_pairs``: for every training utterance draw noise x_0 ~ temperature · N(0, I)
   (its own stream: seed + crc32(id)), and decode x_1 = ODE(x_0) with the trained model at the
   inference settings (nfe, solver, cfg), along the utterance's MAS durations so that x_1 has
   the length of the real mel. Saved per utterance as ``pairs/<id>.safetensors`` (x_0, x_1,
   durations) + ``pairs.jsonl`` + ``reflow.json`` (the settings; a rerun with others is an
   error, since pairs made at another temperature than inference uses make reflow collapse).
   With ``prompt_fraction`` p > 0 each decode is prompted by the utterance's own first
   tokens covering ≤ p of its frames (at least one token), whose real frames x_1 keeps: a
   multi-voice model prompted at inference then learns pairs in each utterance's own voice
   instead of the unprompted average voice.
2. Training on them: ``data.reflow_pairs: DIR`` in an ``aligned_tts`` run replaces the path
   sample (x_0 ~ N(0, I), x_1 = mel) by the stored pair (use ``model.path=rectified``):
   x_t = (1 - t) x_0 + t x_1, u = x_1 - x_0. Prior, duration and MAS then see x_1.
3. ``aligned_straightness``: S = E ∫_0^1 ||(x_1 - x_0) - v(x_t, t)||² dt along the model's own
   trajectories (``flowvox.flow.straightness``); reflow should lower it.
"""
# b: batch, l: tokens (blanks included), n: frames, f: mel bins

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from flowvox.data.dataset import MelDataset, Utterance
from flowvox.errors import FlowvoxError
from flowvox.flow import StraightnessResult, time_grid, trajectory_straightness
from flowvox.models.aligned.inputs import (
    AlignedBatch,
    AlignedCollate,
    AlignedInputs,
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
from flowvox.models.loading import WEIGHTS_FILE
from flowvox.utils.atomic import atomic_path, atomic_write_text

PAIRS_DIR, PAIRS_MANIFEST, SETTINGS_FILE = "pairs", "pairs.jsonl", "reflow.json"


@dataclass(frozen=True)
class ReflowReport:
    """made: pairs written by this run; skipped: already there; unalignable: utterances with
    fewer frames than text tokens (left out); out_dir: the pairs folder."""

    made: int
    skipped: int
    unalignable: int
    out_dir: Path

    def summary(self) -> str:
        return (
            f"made {self.made} reflow pairs ({self.skipped} already there"
            + (f", {self.unalignable} too short for their text" if self.unalignable else "")
            + f") in {self.out_dir}"
        )


def make_reflow_pairs(
    model_dir: str | os.PathLike,
    prepared_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    nfe: int = 10,
    solver: str = "euler",
    temperature: float = 1.0,
    seed: int = 0,
    *,
    cfg: float = 0.0,
    prompt_fraction: float = 0.0,
    split: str = "train",
    batch_frames: int = 4000,
    device: str = "cpu",
    progress: bool = True,
) -> ReflowReport:
    """Write (x_0, x_1) pairs for the ``split`` of a prepared folder (module docstring, 1).

    Resumable: ids already in ``out_dir`` are skipped; the pairs of an utterance are the same
    whatever batch it lands in, up to float round-off.
    """
    from safetensors.torch import save_file
    from tqdm import tqdm

    if nfe < 1:
        raise FlowvoxError(f"nfe={nfe}: use a whole number of ODE steps >= 1")
    if temperature <= 0:
        raise FlowvoxError(f"temperature={temperature} must be > 0 (1.0: plain N(0, I) noise)")
    if not 0 <= prompt_fraction < 1:
        raise FlowvoxError(f"prompt fraction {prompt_fraction} must be in [0, 1)")
    out = Path(out_dir)
    loaded = load_aligned_model(model_dir, device)
    model, mel_dim = loaded.model, loaded.config.mel_dim
    dataset = MelDataset.from_prepared(prepared_dir, split, loaded.config.mel)
    settings = {
        "model_weights_sha1": _sha1(Path(model_dir) / WEIGHTS_FILE),
        "nfe": nfe,
        "solver": solver,
        "temperature": temperature,
        "seed": seed,
        "cfg": cfg,
        "prompt_fraction": prompt_fraction,
        "mel_dim": mel_dim,
    }
    _check_settings(out, settings)
    records = (
        {r["id"]: r for r in read_pair_manifest(out)} if (out / PAIRS_MANIFEST).is_file() else {}
    )
    encode = text_encoder_for(loaded.tokenizer)
    names = [utterance_id(e) for e in dataset.entries]
    ids = [encode.encode(e.text) for e in dataset.entries]
    lengths = dataset.lengths
    ok = [i for i in range(len(ids)) if alignable(model, len(ids[i]), lengths[i])]
    done = {i for i in ok if names[i] in records and (out / records[names[i]]["file"]).is_file()}
    todo = [i for i in ok if i not in done]
    made = 0
    bar = tqdm(total=len(todo), desc="reflow", unit="utt", file=sys.stderr, disable=not progress)
    with bar:
        for batch in frame_batches([lengths[i] for i in todo], batch_frames):
            rows = [todo[j] for j in batch]
            mels = [dataset.load_mel(i) for i in rows]
            inputs = align_utterances(model, [ids[i] for i in rows], mels)
            b, n = len(rows), inputs.mel.shape[1]
            x_0 = torch.zeros(b, n, mel_dim, dtype=inputs.mel.dtype)  # (b, n, f)
            for r, i in enumerate(rows):
                gen = torch.Generator().manual_seed(item_seed(seed, names[i]))
                noise = torch.randn(int(inputs.mel_lengths[r]), mel_dim, generator=gen)
                x_0[r, : noise.shape[0]] = temperature * noise
            prompt = _prompt_prefix(model, inputs, [len(ids[i]) for i in rows], prompt_fraction)
            x_1 = model.synthesize(
                inputs.ids,
                inputs.lengths,
                *prompt,
                durations=inputs.durations,
                nfe=nfe,
                cfg=cfg,
                solver=solver,
                noise=x_0.to(inputs.mel.device),
            ).mel  # (b, n, f)
            for r, i in enumerate(rows):
                frames, tokens = int(inputs.mel_lengths[r]), len(ids[i])
                if model.config.add_blank:
                    tokens = 2 * tokens + 1  # encoder tokens, blanks included
                file = f"{PAIRS_DIR}/{names[i]}.safetensors"
                tensors = {
                    "x_0": x_0[r, :frames].float().contiguous(),
                    "x_1": x_1[r, :frames].float().cpu().contiguous(),
                    "durations": inputs.durations[r, :tokens].cpu().contiguous(),
                }
                with atomic_path(out / file) as tmp:
                    save_file(tensors, str(tmp))
                entry = dataset.entries[i]
                records[names[i]] = {
                    "id": names[i],
                    "file": file,
                    "text": entry.text,
                    "frames": frames,
                    "tokens": tokens,
                    "audio": entry.audio,
                }
                made += 1
            _write_pair_manifest(out, [records[names[i]] for i in ok if names[i] in records])
            bar.update(len(rows))
    _write_pair_manifest(out, [records[names[i]] for i in ok if names[i] in records])
    return ReflowReport(made, len(done), len(ids) - len(ok), out)


def _prompt_prefix(
    model: AlignedTTS, inputs: AlignedInputs, num_ids: list[int], fraction: float
) -> tuple[Tensor, Tensor, Tensor] | tuple[()]:
    """(prompt_mel, prompt_frames, prompt_tokens) for ``AlignedTTS.synthesize``: each
    utterance's own first tokens (at least one) whose MAS frames fit in ``fraction`` of its
    frames, as the audio prompt; () for ``fraction`` 0 (no prompt)."""
    if fraction == 0:
        return ()
    per_id = 2 if model.config.add_blank else 1  # encoder tokens per tokenizer id
    lead = 1 if model.config.add_blank else 0  # the blank before the first id
    ends = inputs.durations.cumsum(1)  # (b, l) frames up to and including each token
    frames, tokens = [], []
    for row, count in enumerate(num_ids):
        budget = fraction * float(inputs.mel_lengths[row])
        # frames covered by the first k ids (blank after each included): ends[lead + per_id·k - 1]
        covered = [int(ends[row, lead + per_id * k - 1]) for k in range(1, count + 1)]
        k = max([1] + [k for k, c in enumerate(covered, 1) if c <= budget])
        tokens.append(k)
        frames.append(covered[k - 1])
    device = inputs.mel.device
    return (
        inputs.mel,
        torch.tensor(frames, device=device),
        torch.tensor(tokens, device=device),
    )


def read_pair_manifest(out_dir: str | os.PathLike) -> list[dict]:
    """The records of ``<out_dir>/pairs.jsonl`` (id, file, text, frames, tokens, audio)."""
    path = Path(out_dir) / PAIRS_MANIFEST
    if not path.is_file():
        raise FlowvoxError(
            f"{out_dir}: no {PAIRS_MANIFEST}; make pairs with `flowvox reflow pairs` first"
        )
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


class ReflowPairDataset:
    """Items of a pairs folder for training: ``Utterance`` (mel = x_1) and its x_0 (n, f)."""

    def __init__(self, out_dir: str | os.PathLike, mel_dim: int, min_frames: int = 1):
        self.root = Path(out_dir)
        settings = _read_settings(self.root)
        if settings is None or settings.get("mel_dim") != mel_dim:
            raise FlowvoxError(
                f"{self.root}: pairs of {settings and settings.get('mel_dim')} mel bins, the "
                f"model has {mel_dim}; make pairs with this model's config"
            )
        self.records = [r for r in read_pair_manifest(self.root) if r["frames"] >= min_frames]
        if not self.records:
            raise FlowvoxError(f"{self.root}: no pairs with ≥ {min_frames} frames")

    def __len__(self) -> int:
        return len(self.records)

    @property
    def lengths(self) -> list[int]:
        return [int(r["frames"]) for r in self.records]

    def __getitem__(self, index: int) -> tuple[Utterance, Tensor]:
        from safetensors.torch import load_file

        record = self.records[index]
        tensors = load_file(self.root / record["file"])
        item = Utterance(tensors["x_1"], record["text"], "", "", record.get("audio", ""), index)
        return item, tensors["x_0"]


class ReflowCollate:
    """Pairs -> ``AlignedBatch`` with mel = x_1 (b, n, f) and x_0 (b, n, f), 0 at padding."""

    def __init__(self, collate: AlignedCollate):
        self.collate = collate

    def __call__(self, items: Sequence[tuple[Utterance, Tensor]]) -> AlignedBatch:
        batch = self.collate([item for item, _ in items])
        x_0 = torch.zeros_like(batch.utterances.mel)
        for row, (_, noise) in enumerate(items):
            x_0[row, : noise.shape[0]] = noise
        return AlignedBatch(batch.utterances, batch.ids, batch.lengths, x_0=x_0)


@torch.no_grad()
def aligned_straightness(
    model: AlignedTTS,
    texts: Sequence[Sequence[int]],
    mels: Sequence[Tensor],
    *,
    nfe: int = 10,
    solver: str = "euler",
    cfg: float = 0.0,
    seed: int = 0,
) -> StraightnessResult:
    """S = E ∫_0^1 ||(x_1 - x_0) - v(x_t, t)||² dt (per valid element) of the decoder's own
    trajectories, conditioned on MAS durations of ``mels`` (each (n_i, f)) for tokenizer ids
    ``texts``; x_0 ~ N(0, I) from ``seed``, trajectory by ``solver`` on a uniform grid."""
    inputs = align_utterances(model, texts, mels)
    velocity = conditioned_velocity(model, inputs.mu_frames, inputs.mask, cfg)
    gen = torch.Generator().manual_seed(seed)
    x_0 = torch.randn(inputs.mel.shape, generator=gen, dtype=inputs.mel.dtype)
    x_0 = x_0.to(inputs.mel.device).masked_fill(~inputs.mask[..., None], 0.0)
    grid = time_grid(nfe, dtype=inputs.mel.dtype)
    return trajectory_straightness(velocity, x_0, grid, inputs.mask, method=solver)


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_settings(out: Path) -> dict | None:
    path = out / SETTINGS_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _check_settings(out: Path, settings: dict) -> None:
    """Write ``reflow.json``, or check that the folder's pairs were made the same way."""
    stored = _read_settings(out)
    if stored is None:
        atomic_write_text(out / SETTINGS_FILE, json.dumps(settings, indent=2) + "\n")
        return
    differ = sorted(k for k in settings if stored.get(k) != settings[k])
    if differ:
        raise FlowvoxError(
            f"{out} holds pairs made with other settings ({', '.join(differ)}: "
            f"{[stored.get(k) for k in differ]}); use a new OUT_DIR or the same settings"
        )


def _write_pair_manifest(out: Path, records: list[dict]) -> None:
    atomic_write_text(out / PAIRS_MANIFEST, "".join(json.dumps(r) + "\n" for r in records))
