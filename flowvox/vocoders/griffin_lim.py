"""Griffin-Lim vocoder for any mel preset: no weights, always available.

# b: batch, n: frames, f: mel bins, k: linear frequency bins (n_fft/2 + 1), s: samples
log-mel → linear magnitude by non-negative least squares against the preset's filter bank →
fast Griffin-Lim (Perraudin, Balazs & Søndergaard 2013) with the preset's own STFT framing
(centred or HiFi-GAN-style uncentred padding), so the output's frame count equals the input's.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn

from flowvox.audio.mel import MelConfig, as_mel_config, get_mel_preset, mel_filter_bank
from flowvox.errors import FlowvoxError
from flowvox.vocoders.folder import PretrainedVocoder


@dataclass
class GriffinLimConfig:
    """``n_iter`` phase-retrieval iterations with momentum ``momentum`` (0: classic GL).

    ``nnls_iter`` multiplicative-update steps refine the mel → linear magnitude inversion
    (0: clamped pseudo-inverse only). ``init`` is "zeros" (zero phase) or "random" (uniform
    phase from ``seed``); both are deterministic.
    """

    mel: MelConfig = field(default_factory=lambda: get_mel_preset("vocos24k"))
    n_iter: int = 32
    momentum: float = 0.99
    nnls_iter: int = 32
    init: str = "zeros"
    seed: int = 0

    def __post_init__(self) -> None:
        self.mel = as_mel_config(self.mel)
        if self.init not in ("zeros", "random"):
            raise FlowvoxError(f"griffin-lim init {self.init!r}: use 'zeros' or 'random'")
        if self.n_iter < 0 or self.nnls_iter < 0:
            raise FlowvoxError("griffin-lim: n_iter and nnls_iter must be >= 0")
        if not 0.0 <= self.momentum < 1.0 + 1e-9:
            raise FlowvoxError(f"griffin-lim momentum {self.momentum}: use a value in [0, 1]")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["mel"] = self.mel.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> GriffinLimConfig:
        """Inverse of ``to_dict``; ``mel`` may also be a preset name. Unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FlowvoxError(
                f"griffin-lim config: unknown keys {unknown}; known: {sorted(known)}"
            )
        return cls(**data)


def num_samples(mel: MelConfig, frames: int) -> int:
    """Waveform length whose analysis with ``mel`` gives exactly ``frames`` frames."""
    return (frames - 1) * mel.hop_length if mel.center else frames * mel.hop_length


class GriffinLim(PretrainedVocoder):
    """Log-mel (b, n, f) -> waveform (b, s), s = ``num_samples(mel, n)``; no parameters."""

    family = "griffin_lim"
    config_class = GriffinLimConfig

    def __init__(self, config: GriffinLimConfig):
        super().__init__()
        self.config = config
        mel = config.mel
        window = torch.hann_window(mel.win_length)
        left = (mel.n_fft - mel.win_length) // 2  # centre a shorter window inside n_fft
        window = nn.functional.pad(window, (left, mel.n_fft - mel.win_length - left))
        bank = mel_filter_bank(mel)  # (f, k)
        self.register_buffer("window", window, persistent=False)  # (n_fft,)
        self.register_buffer("bank", bank, persistent=False)
        self.register_buffer("bank_pinv", torch.linalg.pinv(bank), persistent=False)  # (k, f)

    @property
    def pad(self) -> int:
        """Samples of reflect padding on each side before framing (the preset's convention)."""
        mel = self.config.mel
        return mel.n_fft // 2 if mel.center else (mel.n_fft - mel.hop_length) // 2

    def linear_magnitude(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(b, n, f) log-mel -> (b, n, k) magnitude X ≥ 0 minimising ‖M X^p − exp(log_mel)‖².

        Start from clamp(M⁺ mel, ε), then Lee–Seung multiplicative updates
        Y ← Y ⊙ (Mᵀ mel) / (Mᵀ M Y), which keep Y = X^p non-negative (p = preset power).
        Written frame-major: Y is (b, n, k), so M Y reads Y @ Mᵀ.
        """
        target = log_mel.float().exp()  # (b, n, f)
        energy = (target @ self.bank_pinv.T).clamp(min=1e-8)  # (b, n, k)
        numerator = target @ self.bank  # (b, n, k)
        for _ in range(self.config.nnls_iter):
            energy = energy * numerator / ((energy @ self.bank.T) @ self.bank + 1e-10)
        return energy.pow(1.0 / self.config.mel.power)

    def stft(self, wav: torch.Tensor) -> torch.Tensor:
        """(b, s) -> complex (b, n, k): the preset's framing (reflect pad, then hop)."""
        mel = self.config.mel
        x = nn.functional.pad(wav.unsqueeze(1), (self.pad, self.pad), mode=mel.pad_mode)
        frames = x.squeeze(1).unfold(-1, mel.n_fft, mel.hop_length)  # (b, n, n_fft)
        return torch.fft.rfft(frames * self.window)

    def overlap_add(self, frames: torch.Tensor) -> torch.Tensor:
        """(b, n, n_fft) -> (b, (n − 1)·hop + n_fft): frame i added at offset i·hop.

        Frames are zero-padded to r·hop samples (r = ⌈n_fft / hop⌉) and cut into r blocks;
        block j of frame i lands on output block i + j, so r shifted adds do the whole sum.
        """
        hop, n_fft = self.config.mel.hop_length, self.config.mel.n_fft
        b, n, _ = frames.shape
        r = -(-n_fft // hop)
        blocks = nn.functional.pad(frames, (0, r * hop - n_fft)).reshape(b, n, r, hop)
        out = frames.new_zeros(b, n + r - 1, hop)
        for j in range(r):
            out[:, j : j + n] += blocks[:, :, j]
        return out.flatten(1)[:, : (n - 1) * hop + n_fft]

    def istft(self, spec: torch.Tensor, length: int, envelope: torch.Tensor) -> torch.Tensor:
        """Least-squares inverse of ``stft``: complex (b, n, k) -> (b, length).

        x = OLA(w · frame) / OLA(w²) with ``envelope`` = OLA(w²) from ``window_envelope``;
        then the padding is cut away.
        """
        frames = torch.fft.irfft(spec, n=self.config.mel.n_fft) * self.window  # (b, n, n_fft)
        signal = self.overlap_add(frames) / envelope
        return signal[:, self.pad : self.pad + length]

    def window_envelope(self, frames: int) -> torch.Tensor:
        """(1, (frames − 1)·hop + n_fft): Σ_i w²(t − i·hop), floored at 1e-11."""
        squares = self.window.square().expand(1, frames, -1)
        return self.overlap_add(squares).clamp(min=1e-11)

    def initial_phase(self, shape: torch.Size, device: torch.device) -> torch.Tensor:
        """Unit complex numbers (b, n, k): zero phase, or uniform phase from the seed.

        The random phase is drawn once for (n, k) on the CPU and shared by the batch, so a
        clip gets the same start alone or batched, on any device.
        """
        if self.config.init == "zeros":
            return torch.ones(shape, dtype=torch.complex64, device=device)
        generator = torch.Generator().manual_seed(self.config.seed)
        angle = torch.rand(shape[1:], generator=generator) * 2 * torch.pi  # (n, k)
        return torch.polar(torch.ones_like(angle), angle).to(device).expand(shape)

    def forward(self, log_mel: torch.Tensor) -> torch.Tensor:
        """(b, n, f) log-mel -> (b, s) waveform: ``reconstruct(linear_magnitude(log_mel))``."""
        mel = self.config.mel
        if log_mel.dim() != 3 or log_mel.shape[-1] != mel.n_mels:
            raise FlowvoxError(
                f"griffin-lim input: expected a log-mel of shape (batch, frames, {mel.n_mels}), "
                f"got {tuple(log_mel.shape)}"
            )
        return self.reconstruct(self.linear_magnitude(log_mel))

    def reconstruct(self, magnitude: torch.Tensor) -> torch.Tensor:
        """Fast Griffin-Lim on a magnitude A (b, n, k) -> (b, s), s = ``num_samples``.

        With the consistency projection P(c) = STFT(ISTFT(c)):
        t_i = P(A · phase_{i-1}),  c_i = t_i + α (t_i − t_{i-1}),  phase_i = c_i / |c_i|.
        """
        frames = magnitude.shape[1]
        length = num_samples(self.config.mel, frames)
        envelope = self.window_envelope(frames)
        spec = magnitude * self.initial_phase(magnitude.shape, magnitude.device)
        previous = torch.zeros_like(spec)
        alpha = self.config.momentum
        for _ in range(self.config.n_iter):
            rebuilt = self.stft(self.istft(spec, length, envelope))  # (b, n, k) consistent
            accelerated = rebuilt.mul(1.0 + alpha).sub_(previous, alpha=alpha)
            spec = accelerated * (magnitude / accelerated.abs().clamp(min=1e-16))  # |spec| = A
            previous = rebuilt
        return self.istft(spec, length, envelope)


def griffin_lim_vocoder(mel: MelConfig | str, **options) -> GriffinLim:
    """A Griffin-Lim vocoder for ``mel`` (a ``MelConfig`` or preset name): log-mel
    (b, n, f) -> (b, s) like Vocos/HiFi-GAN. ``options`` are ``GriffinLimConfig`` fields
    (``n_iter``, ``momentum``, ``nnls_iter``, ``init``, ``seed``)."""
    mel = get_mel_preset(mel) if isinstance(mel, str) else mel
    return GriffinLim(GriffinLimConfig(mel=mel, **options)).eval()
