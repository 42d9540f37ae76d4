"""Speaker d-vectors of a prepared folder's utterances, computed once and cached, and the
d-vector each training utterance is conditioned on (models with ``cond_dim`` > 0).

Cache: ``<prepared>/dvectors.safetensors``, one row per audio file (``flowvox.audio.dvector``,
resemblyzer on the file read at 16 kHz): tensors "dvectors" float32 (m, c), "sizes" and
"mtimes" int64 (m,), the file's size and mtime_ns when it was embedded; metadata: format,
encoder ("resemblyzer 0.1.4") and "paths", the JSON list of the m resolved audio paths. As
with the mel and pitch caches, a row whose file's size or mtime changed is stale and is
recomputed, and a cache of another format or encoder (or an unreadable one) is recomputed
whole; a row whose file is gone is kept (nothing to compare it with). Rows of files not asked
for stay while their file is unchanged, so the splits of a folder share one cache. The file
is rewritten atomically, only when a row was computed or dropped; processes filling it at
once compute the same rows and the last rename wins. Loading never unpickles.

Condition of a training utterance (``SpeakerVectors.draw``): the d-vector of ANOTHER
utterance of its speaker, drawn uniformly at each step from the step's generator (a resumed
run draws the same); its own when its speaker has no other utterance, or is unknown (label
"unknown", the manifest default, or empty). Another utterance, because at inference the
d-vector comes from the reference clip, never from the speech being generated: the model
then learns from the vector only who speaks, not the target's words, length, pace or
recording, which its own d-vector would also carry.
"""
# m: utterances (cache rows), b: batch, c: d-vector channels

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from flowvox.audio.dvector import (
    DVECTOR_DIM,
    DVECTOR_SAMPLE_RATE,
    DVectorEncoder,
    dvector_encoder_name,
)
from flowvox.audio.io import load_audio
from flowvox.data.manifest import ManifestEntry, read_manifest
from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_path

LOG = logging.getLogger("flowvox.data")
DVECTOR_FILE = "dvectors.safetensors"
DVECTOR_FORMAT = "flowvox-dvector-v1"
UNKNOWN_SPEAKERS = ("", "unknown")  # labels that name no speaker: the own d-vector is used

Embed = Callable[[np.ndarray, int], np.ndarray]  # (wav (s,), sample_rate) -> d-vector (c,)
Row = tuple[Tensor, int, int]  # d-vector (c,), size, mtime_ns


def _signature(path: str) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, None when it is gone."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def _read_cache(path: Path, encoder: str) -> dict[str, Row]:
    """Resolved audio path -> row of a cache file; {} when there is none or it is unusable."""
    if not path.is_file():
        return {}
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            if meta.get("format") != DVECTOR_FORMAT or meta.get("encoder") != encoder:
                return {}
            table, sizes, mtimes = (fh.get_tensor(k) for k in ("dvectors", "sizes", "mtimes"))
            paths = json.loads(meta["paths"])
    except Exception as err:  # safetensors and json raise their own types: recompute
        LOG.warning("%s is unreadable (%s); computing the d-vectors again", path, err)
        return {}
    if table.ndim != 2 or not len(paths) == len(table) == len(sizes) == len(mtimes):
        return {}
    return {
        p: (table[i], int(sizes[i]), int(mtimes[i]))
        for i, p in enumerate(paths)  # fmt: skip
    }


def _write_cache(path: Path, rows: dict[str, Row], encoder: str) -> None:
    paths = sorted(rows)
    tensors = {
        "dvectors": torch.stack([rows[p][0] for p in paths]).float().contiguous(),
        "sizes": torch.tensor([rows[p][1] for p in paths], dtype=torch.int64),
        "mtimes": torch.tensor([rows[p][2] for p in paths], dtype=torch.int64),
    }
    meta = {"format": DVECTOR_FORMAT, "encoder": encoder, "paths": json.dumps(paths)}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def cached_dvectors(
    folder: str | os.PathLike,
    audio_paths: Sequence[str | os.PathLike],
    embed: Embed | None = None,
    encoder: str | None = None,
) -> Tensor:
    """D-vectors (m, c) float32 of ``audio_paths``, in order, through the cache of the
    prepared ``folder`` (see the module docstring).

    embed: the d-vector function (default: a ``DVectorEncoder``, built only if a row must be
    computed); encoder: its name as the cache records it (default: resemblyzer's version).
    """
    path = Path(folder) / DVECTOR_FILE
    encoder = encoder or dvector_encoder_name()
    stored = _read_cache(path, encoder)
    rows: dict[str, Row] = {}
    changed = False
    for p, row in stored.items():  # keep the unchanged rows of every file, asked or not
        now = _signature(p)
        if now is None or now == row[1:]:
            rows[p] = row
        else:
            changed = True
    wanted = [str(Path(a).resolve()) for a in audio_paths]
    missing = list(dict.fromkeys(p for p in wanted if p not in rows))
    if missing:
        LOG.info("computing the d-vectors of %d audio files into %s", len(missing), path)
        embed = embed or DVectorEncoder()
        for k, p in enumerate(missing):
            rows[p] = _embed_file(p, embed)
            if (k + 1) % 1000 == 0:
                LOG.info("d-vectors: %d of %d", k + 1, len(missing))
    if missing or changed:
        _write_cache(path, rows, encoder)
    if not wanted:
        return torch.zeros(0, DVECTOR_DIM)
    return torch.stack([rows[p][0] for p in wanted]).float()  # (m, c)


def _embed_file(audio: str, embed: Embed) -> Row:
    signature = _signature(audio)
    if signature is None:
        raise FlowvoxError(
            f"{audio}: audio file missing; its speaker d-vector is computed from it (restore "
            "the corpus, or copy a dvectors.safetensors that holds it)"
        )
    clip = load_audio(audio, DVECTOR_SAMPLE_RATE)
    try:
        vector = np.asarray(embed(clip.wav, clip.sample_rate), dtype=np.float32)  # (c,)
    except FlowvoxError as err:
        raise FlowvoxError(f"{audio}: no speaker d-vector ({err}); drop it from the data") from err
    return torch.from_numpy(vector.copy()), *signature


def build_dvectors(folder: str | os.PathLike, splits: Sequence[str] | None = None) -> int:
    """Fill the d-vector cache of a prepared ``folder`` for every utterance of ``splits``
    (None: every ``<split>.jsonl`` in it) before a run of many processes; returns the rows."""
    folder = Path(folder)
    names = splits or sorted(p.stem for p in folder.glob("*.jsonl"))
    audio = []
    for split in names:
        manifest = folder / f"{split}.jsonl"
        if not manifest.is_file():
            raise FlowvoxError(f"{folder}: no {split}.jsonl; name a split this folder has")
        audio += [entry.audio for entry in read_manifest(manifest)]
    return len(cached_dvectors(folder, audio))


def speaker_vectors(folder: str | os.PathLike, entries: Sequence[ManifestEntry]) -> SpeakerVectors:
    """The ``SpeakerVectors`` of a dataset's ``entries`` (their audio through the cache of
    the prepared ``folder``; row i is entry i)."""
    table = cached_dvectors(folder, [entry.audio for entry in entries])
    return SpeakerVectors(table, [entry.speaker for entry in entries])


class SpeakerVectors:
    """The d-vectors (m, c) of a dataset's m utterances and their speakers: the condition
    of a batch of dataset indices (see the module docstring)."""

    def __init__(self, table: Tensor, speakers: Sequence[str]) -> None:
        if table.ndim != 2 or table.shape[0] != len(speakers):
            raise FlowvoxError(
                f"d-vectors {tuple(table.shape)} for {len(speakers)} utterances: pass (m, c)"
            )
        self.table = table.float()
        groups: dict[str, list[int]] = {}
        for i, speaker in enumerate(speakers):
            if speaker.strip() not in UNKNOWN_SPEAKERS:
                groups.setdefault(speaker, []).append(i)
        self._members = {i: members for members in groups.values() for i in members}
        self._position = {i: k for members in groups.values() for k, i in enumerate(members)}

    @property
    def dim(self) -> int:
        return int(self.table.shape[1])

    def own(self, indices: Tensor) -> Tensor:
        """The d-vectors (b, c) of the utterances ``indices`` (b,) themselves."""
        return self.table[indices.cpu().long()]

    def partners(self, indices: Tensor, generator: torch.Generator) -> Tensor:
        """(b,) for utterances ``indices`` (b,): another utterance of the same speaker, each
        uniformly from one draw u ~ U[0, 1) of ``generator`` (b draws whatever the groups),
        or the utterance itself when its speaker has no other."""
        u = torch.rand(len(indices), generator=generator, device=generator.device).cpu()
        out = []
        for k, i in enumerate(indices.cpu().long().tolist()):
            members = self._members.get(i, [i])
            if len(members) == 1:
                out.append(i)
                continue
            j = min(int(u[k] * (len(members) - 1)), len(members) - 2)  # 0 .. others - 1
            out.append(members[j + int(j >= self._position[i])])  # skip the utterance itself
        return torch.tensor(out, dtype=torch.long)

    def draw(self, indices: Tensor, generator: torch.Generator) -> Tensor:
        """The training condition (b, c): the d-vectors of ``partners(indices, generator)``."""
        return self.table[self.partners(indices, generator)]
