"""Vocos (Siuzdak 2023): a ConvNeXt backbone predicts one STFT frame per mel frame, and an
inverse STFT turns the frames into a waveform.

# b: batch, n: mel frames, f: mel bins, d: channels, c: frequency bins (n_fft/2 + 1),
# w: window taps, s: samples
Module and parameter names match the released ``vocos-mel-24khz`` weights (``backbone.embed``,
``backbone.norm``, ``backbone.convnext.{i}.*``, ``backbone.final_layer_norm``, ``head.out``),
so its state dict loads one to one (see ``flowvox.vocoders.vocos.release``).

Speed: outside autograd on CPU the pointwise MLPs and the head's linear run as fused oneDNN
linears on packed weights (``flowvox.nn.fused_linear``), the depthwise convolutions on the
(b, n, d) memory without transposes; same numbers as the released package within 1e-6
(tests/vocoders/test_vocos_equivalence.py), timed against it in benchmarks/vocoder_speed.py.

Mel contract: ``VocosConfig.mel`` is the mel the vocoder expects from an acoustic model. The
released 24 kHz weights were trained on the ``vocos24k`` mel with log floor 1e-7, whereas
``vocos24k`` (F5-TTS, flowvox) floors at 1e-5. The two log-mels differ only where the mel
magnitude is below 1e-5 (log-mel below -11.5, i.e. digital silence); an acoustic model trained
on ``vocos24k`` never emits values below -11.5, which lie inside the range the vocoder was
trained on. F5-TTS pairs exactly these two. So flowvox stores ``vocos24k`` itself (floor 1e-5)
as the contract, and ``MelConfig.check_same`` accepts the pairing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn
from torch.nn import functional as F

from flowvox.audio.mel import MelConfig, as_mel_config, get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.nn.convnext import ConvNeXtBlock, conv1d_channels_last
from flowvox.nn.fused_linear import PackedLinear, fused_linear
from flowvox.vocoders.folder import PretrainedVocoder

PADDINGS = ("center", "same")


@dataclass
class VocosConfig:
    """Vocos shape. Defaults are the released ``vocos-mel-24khz`` (13.5M parameters).

    The head predicts ``n_fft // 2 + 1`` log-magnitudes and phases per frame and inverts them
    with a periodic Hann window of ``n_fft`` taps and hop ``mel.hop_length``. ``padding``
    decides how much of the overlap-added signal is kept: "center" trims n_fft/2 on each side
    (as ``torch.istft(center=True)``; s = (n - 1)·hop), "same" trims (n_fft - hop)/2
    (s = n·hop). ``layer_scale_init`` only sets the initial γ (None: 1 / num_layers).
    """

    mel: MelConfig = field(default_factory=lambda: get_mel_preset("vocos24k"))
    dim: int = 512
    hidden_dim: int = 1536
    num_layers: int = 8
    layer_scale_init: float | None = None
    n_fft: int = 1024
    padding: str = "center"

    def __post_init__(self) -> None:
        self.mel = as_mel_config(self.mel)
        if self.padding not in PADDINGS:
            raise FlowvoxError(f"vocos padding {self.padding!r}: use 'center' or 'same'")
        hop = self.mel.hop_length
        if self.n_fft < 2 * hop or self.n_fft % 2:
            raise FlowvoxError(
                f"vocos n_fft {self.n_fft} with hop {hop}: use an even n_fft of at least 2·hop "
                "so overlapping windows cover every sample"
            )
        if self.padding == "same" and (self.n_fft - hop) % 2:
            raise FlowvoxError("vocos padding 'same' needs n_fft - hop to be even")
        if min(self.dim, self.hidden_dim, self.num_layers) < 1:
            raise FlowvoxError("vocos dim, hidden_dim and num_layers must be positive")

    @property
    def hop_length(self) -> int:
        return self.mel.hop_length

    def num_samples(self, frames: int) -> int:
        """Waveform length for ``frames`` mel frames."""
        if self.padding == "center":
            return (frames - 1) * self.hop_length
        return frames * self.hop_length

    def to_dict(self) -> dict:
        """JSON-ready dict with the mel config in full."""
        data = asdict(self)
        data["mel"] = self.mel.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> VocosConfig:
        """Inverse of ``to_dict``; ``mel`` may also be a preset name. Unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FlowvoxError(f"vocos config: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**data)


class VocosBackbone(nn.Module):
    """Log-mel (b, n, f) -> features (b, n, d).

    h = LN(conv7(mel)); h = ConvNeXt_L(…ConvNeXt_1(h)); out = LN_final(h), all LayerNorms with
    eps 1e-6. ``conv7`` is a Conv1d f → d with kernel 7 and zero "same" padding.
    """

    def __init__(self, config: VocosConfig):
        super().__init__()
        dim = config.dim
        self.embed = nn.Conv1d(config.mel.n_mels, dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        scale = config.layer_scale_init or 1.0 / config.num_layers
        self.convnext = nn.ModuleList(
            ConvNeXtBlock(dim, config.hidden_dim, kernel_size=7, layer_scale_init=scale)
            for _ in range(config.num_layers)
        )
        self.final_layer_norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(_init_weights)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.norm(conv1d_channels_last(mel, self.embed))  # (b, n, d)
        for block in self.convnext:
            x = block(x)
        return self.final_layer_norm(x)


def _init_weights(module: nn.Module) -> None:
    """Truncated normal (std 0.02) weights and zero biases for convolutions and linears."""
    if isinstance(module, (nn.Conv1d, nn.Linear)):
        nn.init.trunc_normal_(module.weight, std=0.02)
        nn.init.zeros_(module.bias)


class ISTFTHead(nn.Module):
    """Features (b, n, d) -> waveform (b, s).

    [log|X|, φ] = W·h + b (each c wide), X = min(exp(log|X|), 100)·e^{iφ}; each frame is
    irfft(X)·window (w = n_fft taps), overlap-added with hop ``hop`` and divided by the
    overlap-added squared window (the least-squares inverse STFT), then trimmed per ``padding``.
    Only the kept samples are normalised, by an envelope built from hop-sized blocks of w².
    """

    def __init__(self, config: VocosConfig):
        super().__init__()
        self.n_fft = config.n_fft
        self.hop = config.hop_length
        self.trim = self.n_fft // 2 if config.padding == "center" else (self.n_fft - self.hop) // 2
        self.out = nn.Linear(config.dim, self.n_fft + 2)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.packed = PackedLinear()  # oneDNN copy of ``out`` for inference, not in the state dict

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = fused_linear(x, self.out.weight, self.out.bias, packed=self.packed)  # (b, n, 2c)
        log_mag, phase = out.chunk(2, dim=-1)
        # min(exp(log|X|), 100), clamped before exp: an in-place clamp of exp's output would
        # break training (autograd keeps that output for exp's gradient)
        magnitude = log_mag.clamp(max=4.605170185988092).exp_()  # (b, n, c); ln 100
        spec = torch.polar(magnitude, phase)  # (b, n, c) complex
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=-1).mul_(self.window)  # (b, n, w)
        wav = overlap_add(frames, self.hop)  # (b, (n - 1)·hop + w)
        keep = slice(self.trim, wav.shape[-1] - self.trim)
        envelope = window_envelope(self.window, self.hop, frames.shape[1])  # (s + 2·trim,)
        return wav[:, keep].div_(envelope[keep])


def overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Sum frames (b, n, w) placed every ``hop`` samples: (b, (n - 1)·hop + w).

    The frame is cut into r = ceil(w / hop) chunks of ``hop`` samples; chunk j of frame t lands
    in output block t + j, so one copy and r - 1 shifted adds of (b, n, hop) do the whole sum.
    """
    b, n, w = frames.shape
    r = -(-w // hop)
    if r * hop != w:
        frames = F.pad(frames, (0, r * hop - w))
    chunks = frames.reshape(b, n, r, hop)
    out = frames.new_empty(b, n + r - 1, hop)
    out[:, :n] = chunks[:, :, 0]
    out[:, n:] = 0.0
    for j in range(1, r):
        out[:, j : j + n] += chunks[:, :, j]
    return out.reshape(b, (n + r - 1) * hop)[:, : (n - 1) * hop + w]


def window_envelope(window: torch.Tensor, hop: int, frames: int) -> torch.Tensor:
    """Σ_t window²(i - t·hop) over ``frames`` frames: ((frames - 1)·hop + w,).

    Equals ``overlap_add(window² repeated frames times)``, built from the r hop-sized blocks
    q_j of w² alone: output block k sums q_j for j in [k - frames + 1, k] ∩ [0, r), which is
    a difference of two cumulative sums of q, so the cost does not grow with the batch.
    """
    w = window.shape[0]
    r = -(-w // hop)
    squares = F.pad(window.square(), (0, r * hop - w)).reshape(r, hop)  # (r, hop)
    cumulative = F.pad(squares.cumsum(0), (0, 0, 1, 0))  # (r + 1, hop), row j = Σ_{<j}
    k = torch.arange(frames + r - 1, device=window.device)  # output blocks
    upper = (k + 1).clamp(max=r)
    lower = (k - frames + 1).clamp(min=0, max=r)
    blocks = cumulative[upper] - cumulative[lower]  # (frames + r - 1, hop)
    return blocks.reshape(-1)[: (frames - 1) * hop + w]


class Vocos(PretrainedVocoder):
    """Log-mel (b, n, f) -> waveform (b, s) in [-1, 1]-ish float32, s = ``config.num_samples(n)``.

    ``mel`` is laid out like flowvox's sequences and data batches, frames before bins. The
    front-end ``flowvox.audio.MelSpectrogram`` returns (b, f, n): transpose it first.
    """

    family = "vocos"
    config_class = VocosConfig

    def __init__(self, config: VocosConfig | None = None):
        super().__init__()
        self.config = config or VocosConfig()
        self.backbone = VocosBackbone(self.config)
        self.head = ISTFTHead(self.config)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        f = self.config.mel.n_mels
        if mel.dim() != 3 or mel.shape[-1] != f:
            raise FlowvoxError(
                f"vocos input of shape {tuple(mel.shape)}: "
                f"expected a log-mel (batch, frames, {f}); "
                "a (batch, bins, frames) mel needs .transpose(1, 2)"
            )
        return self.head(self.backbone(mel))
