"""Frame-level pitch (F0) and energy aligned to a mel preset's frames, and per-token averages.

Pitch: ``librosa.yin`` (default) plus a voicing rule, or ``librosa.pyin`` (``method="pyin"``).
YIN is the default because it is ≈ 50× faster (2 s of 24 kHz audio: 8 ms against 0.47 s for
pYIN, plus several seconds of numba compilation on pYIN's first call), so pitch can be computed
on the fly; pYIN's HMM decoding is smoother on real speech and is kept as the option.
YIN always returns a period, so a frame counts as voiced only when

    rms(frame) ≥ 10^(silence_db / 20)   and   r(T) ≥ voicing_threshold,
    r(T) = Σ_t x_t x_{t+T} / sqrt(Σ_t x_t² · Σ_t x_{t+T}²)   over the first W samples,

T = sr / f0 the YIN period, W = frame_length - sr / fmin (the normalised autocorrelation at
the found period: ≈ 1 for a periodic frame, ≈ 0 for noise). Unvoiced frames get F0 = 0.
Both methods then unvoice octave outliers: frames with |log2(f0 / median voiced f0)| >
``octave_limit`` (None: keep all). On flite ``rms`` YIN marked 0.65 % of voiced frames so,
all at voicing edges where pYIN says unvoiced (e.g. 777 Hz in a 100 Hz voice); left in, a
token holding one of them gets a target 5-13 standard deviations out and dominates the
pitch MSE.
Measured against pYIN on 12 flite ``rms`` utterances (39 s): the voicing decisions agree on
89 % of frames (threshold 0.4 agreed best of 0.3-0.6); where both say voiced, the median F0
difference is 0.14 % and 0.08 % of frames differ by more than 20 %.

Alignment: frame j of a ``center=True`` mel is centred on sample j·hop, as librosa's centred
frames are; an uncentred mel (``center=False``, pad (n_fft - hop)/2) centres frame j on
j·hop + hop/2, so the first hop/2 samples are dropped before analysis. The result has exactly
``mel_config.frames(len(wav))`` frames.

Energy per frame: e_j = log ‖exp(mel_j)‖₂ = ½ logsumexp_k(2 · mel_jk) (log L2 norm of the
linear mel magnitudes; FastPitch uses the L2 norm of the STFT magnitude frame).

Token averages (FastPitch's rule): p̄_i = Σ_{j ∈ token i, f0_j > 0} f0_j / #{voiced j ∈ token i},
0 for a token without voiced frames.
"""
# b: batch, n: frames, l: tokens, f: mel bins, s: samples

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from flowvox.audio.mel import MelConfig
from flowvox.errors import FlowvoxError


@dataclass(frozen=True)
class PitchConfig:
    """F0 search range in Hz (FastPitch: C2 ≈ 65 Hz .. C7 ≈ 2093 Hz; 800 Hz covers speech)."""

    method: str = "yin"  # "yin" (+ voicing rule) or "pyin"
    fmin: float = 65.0
    fmax: float = 800.0
    voicing_threshold: float = 0.4  # yin: least normalised autocorrelation at the period
    silence_db: float = -50.0  # yin: frames quieter than this (dBFS rms) are unvoiced
    octave_limit: float | None = 1.0  # unvoice frames further than this from the median

    def __post_init__(self) -> None:
        if self.method not in ("yin", "pyin"):
            raise FlowvoxError(f"pitch method {self.method!r}: use 'yin' or 'pyin'")
        if not 0 < self.fmin < self.fmax:
            raise FlowvoxError(f"pitch range {self.fmin}..{self.fmax} Hz: need 0 < fmin < fmax")
        if self.octave_limit is not None and not self.octave_limit > 0:
            raise FlowvoxError(f"pitch octave_limit {self.octave_limit}: use a number > 0 or None")


def _frame_length(mel: MelConfig, pitch: PitchConfig) -> int:
    """Analysis window: the mel's n_fft, widened so two of the longest periods fit."""
    need = 2 * math.ceil(mel.sample_rate / pitch.fmin) + 4
    length = max(mel.n_fft, need)
    return length + length % 2


def _periodicity(x: np.ndarray, f0: np.ndarray, sr: int, frame_length: int, hop: int, fmin: float):
    """Normalised autocorrelation r(T) and rms of each centred frame of x (s,) -> (n,), (n,)."""
    padded = np.pad(x, frame_length // 2)
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop]  # (n', w)
    frames = frames[: len(f0)]
    width = frame_length - math.ceil(sr / fmin) - 1  # W
    period = np.clip(np.round(sr / f0), 1, frame_length - width).astype(np.int64)  # (n,)
    head = frames[:, :width]  # (n, W)
    idx = period[:, None] + np.arange(width)[None, :]  # (n, W)
    shifted = np.take_along_axis(frames, idx, axis=1)  # (n, W)
    num = (head * shifted).sum(1)
    den = np.sqrt((head**2).sum(1) * (shifted**2).sum(1)) + 1e-12
    rms = np.sqrt((frames**2).mean(1))
    return num / den, rms


def frame_pitch(
    wav: np.ndarray, mel_config: MelConfig, config: PitchConfig | None = None
) -> np.ndarray:
    """F0 in Hz per mel frame of ``wav`` (s,) at ``mel_config.sample_rate`` -> (n,) float32,
    0 on unvoiced frames; n = ``mel_config.frames(s)``."""
    import librosa

    config = config or PitchConfig()
    x = np.asarray(wav, dtype=np.float64).reshape(-1)
    n = mel_config.frames(len(x))
    sr, hop = mel_config.sample_rate, mel_config.hop_length
    if config.fmax >= sr / 2:
        raise FlowvoxError(f"pitch fmax {config.fmax} Hz must be below Nyquist ({sr / 2} Hz)")
    if not mel_config.center:
        x = x[hop // 2 :]
    length = _frame_length(mel_config, config)
    if len(x) < 2:
        return np.zeros(n, dtype=np.float32)
    x = np.pad(x, (0, max(0, length - len(x))))  # librosa needs one full window
    kwargs = dict(fmin=config.fmin, fmax=config.fmax, sr=sr, frame_length=length, hop_length=hop)
    if config.method == "pyin":
        f0, voiced, _ = librosa.pyin(x, center=True, **kwargs)
        f0 = np.where(voiced & np.isfinite(f0), f0, 0.0)
    else:
        f0 = librosa.yin(x, center=True, **kwargs)
        r, rms = _periodicity(x, f0, sr, length, hop, config.fmin)
        loud = rms >= 10 ** (config.silence_db / 20)
        f0 = np.where(loud & (r >= config.voicing_threshold), f0, 0.0)
    voiced = f0 > 0
    if config.octave_limit is not None and voiced.any():
        octaves = np.abs(np.log2(np.where(voiced, f0, 1.0) / np.median(f0[voiced])))  # (n,)
        f0 = np.where(octaves > config.octave_limit, 0.0, f0)
    out = np.zeros(n, dtype=np.float32)
    k = min(n, len(f0))
    out[:k] = f0[:k]
    return out


def energy(log_mel: Tensor) -> Tensor:
    """Log L2 norm of each frame's linear mel magnitudes: (..., n, f) log-mel -> (..., n)."""
    work = log_mel.to(torch.promote_types(log_mel.dtype, torch.float32))
    return (0.5 * torch.logsumexp(2.0 * work, dim=-1)).to(log_mel.dtype)


def average_per_token(
    values: Tensor | np.ndarray, durations: Tensor | np.ndarray, voiced_only: bool = True
) -> Tensor | np.ndarray:
    """Mean of frame values (n,) or (b, n) over each token's frames -> (l,) or (b, l).

    Token i owns frames c_{i-1} ≤ j < c_i, c = cumsum(durations) (frames past Σ d belong to
    no token). With ``voiced_only`` only frames with value > 0 count (FastPitch's pitch
    rule); a token with no counted frame gets 0. numpy in, numpy out.
    """
    as_numpy = isinstance(values, np.ndarray)
    v = torch.as_tensor(values)
    d = torch.as_tensor(durations, device=v.device).long()
    single = v.dim() == 1
    if single:
        v, d = v[None], d[None]
    if v.dim() != 2 or d.dim() != 2 or v.shape[0] != d.shape[0] or bool((d < 0).any()):
        raise FlowvoxError(
            f"values {tuple(v.shape)}, durations {tuple(d.shape)}: pass (n,), (l,) or "
            "(b, n), (b, l) with durations ≥ 0"
        )
    b, n = v.shape
    ends = d.cumsum(1)  # (b, l)
    frames = torch.arange(n, device=v.device).expand(b, n).contiguous()  # (b, n)
    token = torch.searchsorted(ends, frames, right=True)  # (b, n) token of each frame
    counted = (frames < ends[:, -1:]) & ((v > 0) if voiced_only else True)  # (b, n)
    token = token.clamp_max(d.shape[1] - 1)
    work = v.double() if v.is_floating_point() else v.to(torch.float64)
    sums = torch.zeros(d.shape, dtype=torch.float64, device=v.device)
    sums.scatter_add_(1, token, work.masked_fill(~counted, 0.0))
    counts = torch.zeros(d.shape, dtype=torch.float64, device=v.device)
    counts.scatter_add_(1, token, counted.double())
    out = torch.where(counts > 0, sums / counts.clamp_min(1), torch.zeros_like(sums))
    out = out.to(v.dtype if v.is_floating_point() else torch.float32)
    out = out[0] if single else out
    return out.numpy() if as_numpy else out
