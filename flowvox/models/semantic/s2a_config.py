"""Configuration of the semantic-to-acoustic model (S2A) and the token -> mel frame map.

S2A is the infilling DiT of F5-TTS with the text replaced by semantic tokens: a frozen
``SemanticTokenizer``'s codes at ``token_rate`` (25 Hz) are embedded and repeated to the mel
frame rate of the model's mel preset, ``frames_per_token`` = sample_rate / hop / token_rate
mel frames per token (vocos24k: 24000 / 256 / 25 = 3.75; whisper16k: 100 / 25 = 4). Mel
frame j (its STFT window centred at j · hop / sample_rate seconds) reads token

    k(j) = min(⌊j · hop · token_rate / sample_rate⌋, m − 1)       (m: the tokens there are)

so each token covers the frames of its own 40 ms. Presets are written here, as the other
semantic models' are: an S2A model's shape comes with its weights.
"""
# j: mel frame index, k: token index, m: semantic tokens

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import torch
from torch import Tensor

from flowvox.audio.mel import MelConfig, as_mel_config
from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily
from flowvox.utils.config import PresetConfig, apply_overrides

S2A_PRESETS: dict[str, dict[str, Any]] = {
    # CPU smoke tests: ≈ 0.2M parameters.
    "tiny": dict(dim=64, depth=2, heads=2, dim_head=32, ff_mult=2.0, token_dim=32,
                 conv_layers=1),
    # The corpus run (configs/s2a-small.yaml): ≈ 18.5M parameters, half F5 Small's width
    # (768) at under half its depth (18); not trained yet.
    "small": dict(dim=384, depth=8, heads=6, dim_head=64, ff_mult=2.0, token_dim=256,
                  conv_layers=2),
}  # fmt: skip


@dataclass
class S2AConfig(PresetConfig):
    """An F5-layout infilling DiT over mel frames, conditioned on upsampled semantic tokens.

    Tokens: ``nn.Embedding`` of ``codebook_size`` + 1 rows (the last, the tokenizer's mask
    code, stands for padding and for the dropped tokens of guidance), width ``token_dim``,
    repeated to the mel frames (module docstring), + sinusoid positions and ``conv_layers``
    ConvNeXt-V2 blocks. Input: Linear(cat(x_t, prompt mel, tokens)) + convolutional
    positions. ``depth`` AdaLN-zero ``DiTBlock``s (``dim``, ``heads`` × ``dim_head``, RoPE).
    Training: a span of ``frac_lengths_mask`` of each utterance is infilled, the rest is the
    voice prompt; per sample the prompt is dropped with ``audio_drop_prob`` and prompt and
    tokens together with ``cond_drop_prob``. ``guidance`` is the default CFG weight of the
    F5 form v = v_c + w (v_c − v_u) (0: off). ``codebook_size`` and ``token_rate`` are the
    frozen tokenizer's (the task fills them in).
    """

    PRESET_FAMILY: ClassVar[str] = "s2a"
    PRESETS: ClassVar[tuple[str, ...]] = tuple(S2A_PRESETS)

    dim: int = 384
    depth: int = 8
    heads: int = 6
    dim_head: int = 64
    ff_mult: float = 2.0
    dropout: float = 0.0
    token_dim: int = 256
    conv_layers: int = 2
    mel: MelConfig | str = "vocos24k"
    max_frames: int = 2816  # mel frames of prompt + generated speech: 30 s of vocos24k
    # the frozen tokenizer's (filled in by the task from data.tokenizer)
    codebook_size: int = 512
    token_rate: float = 25.0
    # training objective and guidance
    frac_lengths_mask: tuple[float, float] = (0.7, 1.0)
    audio_drop_prob: float = 0.3
    cond_drop_prob: float = 0.2
    sigma_min: float = 0.0
    guidance: float = 2.0

    def __post_init__(self) -> None:
        self.mel = as_mel_config(self.mel)
        self.frac_lengths_mask = tuple(float(f) for f in self.frac_lengths_mask)

        def bad(key: str, why: str) -> FlowvoxError:
            return FlowvoxError(f"s2a config {key}={getattr(self, key)!r}: {why}")

        for key in ("dim", "depth", "heads", "dim_head", "token_dim", "max_frames",
                    "codebook_size"):  # fmt: skip
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        if self.conv_layers < 0:
            raise bad("conv_layers", "must be >= 0")
        if self.dim_head % 2:
            raise bad("dim_head", "must be even (RoPE rotates channel pairs)")
        if self.dim % 16:
            raise bad("dim", "must be a multiple of 16 (the position convolution has 16 groups)")
        if self.token_dim % 2:
            raise bad("token_dim", "must be even (sinusoid positions pair cos and sin)")
        if not (math.isfinite(self.token_rate) and self.token_rate > 0):
            raise bad("token_rate", "must be > 0 (the tokenizer's tokens per second)")
        lo, hi = self.frac_lengths_mask
        if not 0.0 <= lo <= hi <= 1.0:
            raise bad("frac_lengths_mask", "must be (low, high) with 0 <= low <= high <= 1")
        for key in ("audio_drop_prob", "cond_drop_prob", "dropout"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise bad(key, "must lie in [0, 1]")
        if not 0.0 <= self.sigma_min < 1.0:
            raise bad("sigma_min", "must lie in [0, 1)")
        if not (math.isfinite(self.guidance) and self.guidance >= 0):
            raise bad("guidance", "must be a finite weight >= 0 (0: off)")

    @property
    def mel_dim(self) -> int:
        return self.mel.n_mels

    @property
    def mask_code(self) -> int:
        """The code of padding and of dropped tokens: one past the codebook."""
        return self.codebook_size

    @property
    def frames_per_token(self) -> float:
        """Mel frames per semantic token: sample_rate / hop / token_rate (3.75 for vocos24k)."""
        return self.mel.sample_rate / self.mel.hop_length / self.token_rate

    def mel_frames(self, tokens: int) -> int:
        """Mel frames S2A generates for ``tokens`` tokens: round(tokens · frames_per_token)."""
        return max(1, round(tokens * self.frames_per_token))

    def token_index(self, frames: int, tokens: int) -> Tensor:
        """(frames,) int64: the token k(j) each mel frame j reads (module docstring)."""
        if tokens < 1:
            raise FlowvoxError("no semantic tokens to read; give at least one code")
        j = torch.arange(frames, dtype=torch.float64)
        k = torch.floor(j * self.mel.hop_length * self.token_rate / self.mel.sample_rate)
        return k.long().clamp(max=tokens - 1)

    @classmethod
    def preset(cls, name: str, overrides: Sequence[str] = ()) -> Self:
        """``"tiny"`` or ``"small"`` (see ``S2A_PRESETS``), ``overrides`` as in ``--set``."""
        if name not in S2A_PRESETS:
            raise FlowvoxError(
                f"unknown s2a preset {name!r}; choose one of {', '.join(S2A_PRESETS)}"
            )
        return cls.from_dict(apply_overrides(S2A_PRESETS[name], overrides))


# The stamp of its model folders (no vocab file: it reads semantic tokens, not text).
S2A_FAMILY = ModelFamily("s2a", "s2a", "a semantic-to-acoustic (S2A) model", S2AConfig)
