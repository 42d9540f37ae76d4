"""Vocoding many generated mels at once, each giving what it gives alone.

# b: batch, n: frames (longest mel), f: mel bins, d: channels, w: window taps, s: samples
``vocode_mels`` turns a list of log-mels (n_i, f) into waveforms. A flowvox ``Vocos`` runs
them as padded batches of at most ``frame_budget`` padded frames (sorted by length; at most
10 % of a batch's frames are padding) with the padding made invisible:

- the backbone's convolutions see zeros past a row's end, as they do alone: the padded mel is
  zero there, and the residual stream x is zeroed on padded frames before every ConvNeXt
  block (its depthwise conv is the only layer that mixes frames);
- the head's STFT frames past n_i are zeroed before the overlap-add, and row i is divided by
  its own window envelope Σ_t w²(k - t·hop) over t < n_i, then trimmed to
  ``config.num_samples(n_i)``.

So row i equals ``vocoder(mel_i[None])`` up to float rounding. Any other vocoder (HiFi-GAN,
Griffin-Lim, a custom module) is called once per mel.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from flowvox.nn.convnext import conv1d_channels_last
from flowvox.nn.fused_linear import fused_linear
from flowvox.vocoders.vocos.model import Vocos, overlap_add, window_envelope

DEFAULT_VOCODE_FRAMES = 4096  # padded frames per vocoder batch: (b·n, 1536) hidden ≈ 25 MB
MAX_PADDING = 0.1  # share of padded frames a vocoder batch may waste


@torch.inference_mode()
def vocode_mels(
    vocoder: nn.Module, mels: Sequence[Tensor], frame_budget: int = DEFAULT_VOCODE_FRAMES
) -> list[np.ndarray]:
    """Waveforms (s_i,) float32 on the CPU for log-mels (n_i, f), in the order given."""
    device, dtype = _placement(vocoder, mels[0] if mels else None)
    mels = [mel.to(device=device, dtype=dtype) for mel in mels]
    if len(mels) < 2 or type(vocoder) is not Vocos:
        return [vocoder(mel[None])[0].float().cpu().numpy() for mel in mels]
    order = sorted(range(len(mels)), key=lambda i: mels[i].shape[0])
    out: list[np.ndarray | None] = [None] * len(mels)
    for group in _groups(order, [mels[i].shape[0] for i in order], frame_budget):
        wavs = masked_vocos(vocoder, [mels[i] for i in group])
        for i, wav in zip(group, wavs, strict=True):
            out[i] = wav.float().cpu().numpy()
    return out  # type: ignore[return-value]


def masked_vocos(vocos: Vocos, mels: Sequence[Tensor]) -> list[Tensor]:
    """``vocos`` on a padded batch of mels (n_i, f); row i as ``vocos(mel_i[None])[0]``."""

    lengths = [mel.shape[0] for mel in mels]
    n = max(lengths)
    mel = nn.utils.rnn.pad_sequence(list(mels), batch_first=True)  # (b, n, f), zero padded
    keep = (
        torch.arange(n, device=mel.device)[None] < torch.tensor(lengths, device=mel.device)[:, None]
    )  # (b, n)
    hide = ~keep[..., None]  # (b, n, 1)
    backbone, head = vocos.backbone, vocos.head
    x = backbone.norm(conv1d_channels_last(mel, backbone.embed))  # (b, n, d)
    for block in backbone.convnext:
        x = block(x.masked_fill_(hide, 0.0))  # zeros past the end, as the conv pads alone
    x = backbone.final_layer_norm(x)  # (b, n, d)
    log_mag, phase = fused_linear(x, head.out.weight, head.out.bias).chunk(2, dim=-1)  # (b, n, c)
    spec = torch.polar(log_mag.clamp(max=4.605170185988092).exp_(), phase)  # ln 100 cap
    frames = torch.fft.irfft(spec, n=head.n_fft, dim=-1).mul_(head.window)  # (b, n, w)
    wav = overlap_add(frames.masked_fill_(hide, 0.0), head.hop)  # (b, (n - 1)·hop + w)
    rows = []
    for i, length in enumerate(lengths):
        total = (length - 1) * head.hop + head.n_fft  # this row's overlap-added samples
        envelope = window_envelope(head.window, head.hop, length)  # (total,)
        rows.append(wav[i, head.trim : total - head.trim] / envelope[head.trim : total - head.trim])
    return rows


def _groups(order: list[int], sizes: list[int], budget: int) -> list[list[int]]:
    """Consecutive runs of ``order`` (ascending sizes) with len · max size ≤ ``budget`` and
    at most ``MAX_PADDING`` of the padded frames being padding (on a CPU the batch gains a
    little GEMM efficiency, which padding would eat)."""
    groups: list[list[int]] = []
    real = 0
    for index, size in zip(order, sizes, strict=True):
        padded = (len(groups[-1]) + 1) * size if groups else 0
        if groups and padded <= budget and real + size >= (1 - MAX_PADDING) * padded:
            groups[-1].append(index)
            real += size
        else:
            groups.append([index])
            real = size
    return groups


def _placement(vocoder: nn.Module, mel: Tensor | None) -> tuple[torch.device, torch.dtype]:
    """The vocoder's device and float dtype (a module without tensors: the mel's, float32)."""
    tensors = itertools.chain(vocoder.parameters(), vocoder.buffers())
    ref = next(tensors, None)
    dtype = ref.dtype if ref is not None and ref.is_floating_point() else torch.float32
    device = ref.device if ref is not None else (mel.device if mel is not None else "cpu")
    return torch.device(device), dtype
