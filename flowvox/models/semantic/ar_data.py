"""Training pairs of the autoregressive T2S: (text, semantic codes of its real audio, cps).

The codes come from a frozen ``SemanticTokenizer``: each utterance's log-mel (a prepared
folder, or a manifest's audio) is encoded and quantised, in padded batches of about
``frames`` mel frames (the tokenizer is exact under padding). With a cache file they are
computed once: ``model.safetensors``-style ``codes`` (all codes, int32, end to end) and
``offsets`` (utterance i = codes[offsets[i] : offsets[i + 1]]), and in the metadata the
SHA-256 of the tokenizer's weights and of the utterance list; a cache made by another
tokenizer or for other utterances is recomputed and replaced (atomically).

    cps_i = chars_i / (n_i / token_rate)          characters per second of utterance i
    inputs = [BOS, c_1 .. c_n],  targets = [c_1 .. c_n, EOS]   (padding: PAD / −100)
"""
# b: batch, l: text bytes, n: decoder positions, m: mel frames, f: mel bins

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor

from flowvox.data.dataset import MelDataset
from flowvox.data.manifest import read_manifest
from flowvox.errors import FlowvoxError
from flowvox.models.loading import WEIGHTS_FILE
from flowvox.models.prepared_data import read_split
from flowvox.models.semantic.ar import text_bytes, text_cps
from flowvox.models.semantic.ar_config import ARConfig
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.utils.atomic import atomic_path


@dataclass
class ARItem:
    """One training pair."""

    text: str
    codes: list[int]  # semantic codes of its audio, 0 .. K − 1
    cps: float


@dataclass
class ARBatch:
    """Bytes (b, l) and mask, decoder inputs and targets (b, n), cps (b,)."""

    text_ids: Tensor
    text_mask: Tensor
    inputs: Tensor
    targets: Tensor
    cps: Tensor
    texts: list[str]

    def to(self, device: torch.device | str) -> ARBatch:
        return ARBatch(
            self.text_ids.to(device), self.text_mask.to(device), self.inputs.to(device),
            self.targets.to(device), self.cps.to(device), self.texts,
        )  # fmt: skip


class ARCollate:
    """Items -> ``ARBatch`` for a model of ``config`` (a class, so DataLoader workers can
    pickle it)."""

    def __init__(self, config: ARConfig) -> None:
        self.config = config

    def __call__(self, items: Sequence[ARItem]) -> ARBatch:
        c = self.config
        text_ids, text_mask = text_bytes([it.text for it in items], c.max_text_bytes)
        lengths = torch.tensor([len(it.codes) + 1 for it in items])  # BOS + codes
        n = int(lengths.max())
        inputs = torch.full((len(items), n), c.pad, dtype=torch.long)
        targets = torch.full((len(items), n), -100, dtype=torch.long)
        for row, item in enumerate(items):
            codes = torch.tensor(item.codes, dtype=torch.long)
            inputs[row, 0] = c.bos
            inputs[row, 1 : len(codes) + 1] = codes
            targets[row, : len(codes)] = codes
            targets[row, len(codes)] = c.eos
        cps = torch.tensor([it.cps for it in items], dtype=torch.float32)
        return ARBatch(text_ids, text_mask, inputs, targets, cps, [it.text for it in items])


def read_utterances(
    prepared: str | None, manifest: str | None, split: str, tokenizer: SemanticTokenizer
) -> MelDataset:
    """The utterances of a prepared folder (mel preset = the tokenizer's) or a manifest."""
    mel = tokenizer.config.mel_config
    if (prepared is None) == (manifest is None):
        raise FlowvoxError(
            "data: set one of data.prepared (a `flowvox prepare --mel-preset "
            f"{tokenizer.config.mel}` folder) and data.manifest (a JSONL manifest)"
        )
    if prepared is not None:
        if not Path(prepared).is_dir():
            raise FlowvoxError(f"data.prepared={prepared!r} is not a folder")
        return read_split(Path(prepared), split, mel)
    entries = [e for e in read_manifest(manifest) if e.split == split]
    if not entries:
        raise FlowvoxError(f"{manifest}: no entry of split {split!r}")
    return MelDataset(entries, mel)


@torch.no_grad()
def encode_codes(
    tokenizer: SemanticTokenizer, dataset: MelDataset, indices: Sequence[int], frames: int
) -> list[list[int]]:
    """The semantic codes of the utterances ``indices`` of ``dataset``, in that order,
    encoded in padded batches of at most ``frames`` mel frames (longest × rows)."""
    device = next(tokenizer.parameters()).device
    lengths = dataset.lengths
    order = sorted(range(len(indices)), key=lambda j: lengths[indices[j]])
    out: list[list[int]] = [[] for _ in indices]
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and lengths[indices[order[stop]]] * (stop - start + 1) <= frames:
            stop += 1
        rows = order[start:stop]
        mels = [dataset.load_mel(indices[j]) for j in rows]  # (m, f) each
        n = torch.tensor([m.shape[0] for m in mels])
        batch = torch.zeros(len(mels), int(n.max()), mels[0].shape[1])  # (b, m, f)
        for r, m in enumerate(mels):
            batch[r, : m.shape[0]] = m
        enc = tokenizer.encode(batch.to(device), n.to(device))
        q = tokenizer.quantize(enc.emb, enc.mask)  # codes (b, ⌈m / 4⌉)
        for r, j in enumerate(rows):
            out[j] = q.codes[r][q.mask[r]].tolist()
        start = stop
    return out


def _digest_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def corpus_codes(
    tokenizer: SemanticTokenizer, tokenizer_folder: str | os.PathLike, dataset: MelDataset,
    indices: Sequence[int], frames: int, cache: str | os.PathLike | None,
) -> list[list[int]]:  # fmt: skip
    """``encode_codes`` through the cache file ``cache`` (None: no cache; see the module
    docstring)."""
    if cache is None:
        return encode_codes(tokenizer, dataset, indices, frames)
    cache = Path(cache)
    lengths = dataset.lengths
    listing = [(dataset.entries[i].audio, dataset.entries[i].text, lengths[i]) for i in indices]
    key = {
        "tokenizer": _digest_file(Path(tokenizer_folder) / WEIGHTS_FILE),
        "utterances": hashlib.sha256(json.dumps(listing).encode()).hexdigest(),
    }
    if cache.is_file():
        try:
            with safe_open(str(cache), framework="pt") as fh:
                meta = fh.metadata() or {}
                stored = {name: fh.get_tensor(name) for name in ("codes", "offsets")}
        except (SafetensorError, OSError, ValueError, KeyError) as err:
            raise FlowvoxError(
                f"data.token_cache={str(cache)!r}: not a readable token cache ({err}); delete it"
            ) from err
        if {k: meta.get(k) for k in key} == key:
            flat, offsets = stored["codes"].tolist(), stored["offsets"].tolist()
            return [flat[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    codes = encode_codes(tokenizer, dataset, indices, frames)
    offsets = [0]
    for c in codes:
        offsets.append(offsets[-1] + len(c))
    tensors = {
        "codes": torch.tensor([x for c in codes for x in c], dtype=torch.int32),
        "offsets": torch.tensor(offsets, dtype=torch.int64),
    }
    with atomic_path(cache) as tmp:
        save_file(tensors, str(tmp), metadata=key)
    return codes


def make_items(texts: Sequence[str], codes: Sequence[list[int]], rate: float) -> list[ARItem]:
    """Pairs with their cps (characters per second of the audio the codes came from)."""
    return [ARItem(t, c, text_cps(t, len(c) / rate)) for t, c in zip(texts, codes, strict=True)]
