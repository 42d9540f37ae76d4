"""Inputs of the aligned TTS model: the training batch (``AlignedBatch``, ``AlignedCollate``),
and known-mel inputs of its decoder: texts + mels -> MAS-aligned conditioning.

Used where the mel of an utterance is known and the decoder's flow is evaluated on it
(likelihood scoring, reflow pairs, straightness): durations come from MAS of the encoder means
μ on the mel (as in training), μ̃ = μ expanded along them, and the decoder runs with no audio
prompt (cond = 0), as ``AlignedTTS.synthesize`` does without a prompt:

    v(x, t) = v_θ(x, 0, μ̃, t)                         (cfg w = 0)
    v(x, t) = v_c + w (v_c - v_u),  v_u = v_θ(x, 0, 0, t)   (F5 guidance, w > 0)
"""
# b: batch, l: tokens (blanks included), n: frames, f: mel bins

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from flowvox.data.cache import mel_cache_name
from flowvox.data.dataset import Batch, Utterance, collate_utterances
from flowvox.data.manifest import ManifestEntry
from flowvox.models.aligned.model import AlignedTTS
from flowvox.models.training_text import PHONEME_PREFIX, TrainingText
from flowvox.nn.duration import expand_by_durations
from flowvox.nn.masks import pad_ids
from flowvox.text.tokenizers import ByteTokenizer, CharTokenizer


@dataclass
class AlignedBatch:
    utterances: Batch  # mel (b, n, f), mel_lengths (b,), ...
    ids: Tensor  # (b, l) int64 tokenizer ids, 0 past each text
    lengths: Tensor  # (b,) int64
    x_0: Tensor | None = None  # (b, n, f) stored reflow noise (mel is then its x_1)

    def to(self, device: torch.device | str) -> AlignedBatch:
        x_0 = None if self.x_0 is None else self.x_0.to(device)
        return AlignedBatch(
            self.utterances.to(device), self.ids.to(device), self.lengths.to(device), x_0
        )


class AlignedCollate:
    """Pads utterances and tokenizes their texts with ``text`` (through its text -> IPA
    table for phoneme tokenizers; picklable)."""

    def __init__(self, text: TrainingText):
        self.tokenizer, self.text = text.tokenizer, text

    def encode(self, text: str) -> list[int]:
        return self.text.encode(text)

    def __call__(self, items: Sequence[Utterance]) -> AlignedBatch:
        batch = collate_utterances(items)
        return AlignedBatch(batch, *pad_ids([self.encode(t) for t in batch.texts]))


@dataclass(frozen=True)
class AlignedInputs:
    """A padded batch with its MAS conditioning.

    ids (b, l0), lengths (b,): tokenizer ids; mel (b, n, f), mel_lengths (b,), mask (b, n);
    durations (b, l) MAS frames per encoder token; mu_frames (b, n, f) = μ̃ (0 at padding).
    """

    ids: Tensor
    lengths: Tensor
    mel: Tensor
    mel_lengths: Tensor
    mask: Tensor
    durations: Tensor
    mu_frames: Tensor


def text_encoder_for(tokenizer: CharTokenizer | ByteTokenizer) -> TrainingText:
    """Text -> ids like training does (through espeak-ng for "phoneme:" tokenizers)."""
    phonemes = {} if tokenizer.name.startswith(PHONEME_PREFIX) else None
    return TrainingText(tokenizer, phonemes)


def utterance_id(entry: ManifestEntry) -> str:
    """``extra["id"]`` when the manifest gives one, else ``<audio stem>-<hash of its path>``
    (unique across folders, stable across runs)."""
    given = entry.extra.get("id")
    return str(given) if given else Path(mel_cache_name(entry.audio)).stem


def item_seed(seed: int, item_id: str) -> int:
    """seed + crc32(id): each utterance its own random stream, whatever its batch."""
    return (int(seed) + zlib.crc32(item_id.encode("utf-8"))) % 2**31


def alignable(model: AlignedTTS, num_ids: int, frames: int) -> bool:
    """Whether MAS can align ``num_ids`` tokenizer ids to ``frames`` frames."""
    tokens = 2 * num_ids + 1 if model.config.add_blank else num_ids
    return 0 < num_ids and tokens <= frames


def frame_batches(lengths: Sequence[int], batch_frames: int) -> list[list[int]]:
    """Indices sorted by length, cut so that (items × longest) ≤ batch_frames (≥ 1 item)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    for i in order:
        if batches and (len(batches[-1]) + 1) * lengths[i] <= batch_frames:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


@torch.no_grad()
def align_utterances(
    model: AlignedTTS, texts: Sequence[Sequence[int]], mels: Sequence[Tensor]
) -> AlignedInputs:
    """Pad ids and mels (each (n_i, f)) and align them with MAS on the encoder means."""
    device, dtype = _where(model)
    utterances = [Utterance(m, "", "", "", "", i) for i, m in enumerate(mels)]
    batch = collate_utterances(utterances)
    ids, lengths = pad_ids(texts)
    ids, lengths = ids.to(device), lengths.to(device)
    mel, mel_lengths = batch.mel.to(device, dtype), batch.mel_lengths.to(device)
    enc = model.encode(ids, lengths)
    durations = model.align(enc, mel, mel_lengths)  # (b, l)
    mu_frames = expand_by_durations(enc.mu, durations, mel.shape[1]).x  # (b, n, f)
    mask = batch.mask.to(device)
    return AlignedInputs(ids, lengths, mel, mel_lengths, mask, durations, mu_frames)


def conditioned_velocity(
    model: AlignedTTS, mu_frames: Tensor, mask: Tensor, cfg: float = 0.0
) -> Callable[[Tensor, Tensor], Tensor]:
    """v(x, t) of the module docstring for μ̃ (b, n, f) and mask (b, n): x (b, n, f), t (b,)
    (``AlignedTTS.velocity_fn``: a guidance-distilled model takes w in one call)."""
    return model.velocity_fn(torch.zeros_like(mu_frames), mu_frames, mask, cfg)


def _where(model: AlignedTTS) -> tuple[torch.device, torch.dtype]:
    param = next(model.parameters())
    return param.device, param.dtype
