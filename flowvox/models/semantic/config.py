"""Configuration of the semantic tokenizer (a Whisper-like ASR with a VQ bottleneck).

Frame rates with the ``whisper16k`` mel (16 kHz, hop 160): mel 100 Hz -> conv stem stride 2
-> encoder 50 Hz -> mean-pool ``pool`` (2) -> semantic embeddings and tokens at 25 Hz, as
WhisperSpeech. The presets are written here, not as YAML: a tokenizer's shape comes with its
weights, so the presets only name the two shapes trained from scratch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

from flowvox.audio.mel import MelConfig, get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily
from flowvox.utils.config import PresetConfig, apply_overrides

BYTE_VOCAB = 258  # text tokens "byte": UTF-8 bytes 0 .. 255, then SOT 256 and EOT 257
SOT, EOT = 256, 257

SEMANTIC_PRESETS: dict[str, dict[str, Any]] = {
    # CPU smoke tests and tiny runs: ≈ 0.3M parameters.
    "tiny": dict(
        dim=64, encoder_depth=2, decoder_depth=2, encoder_heads=2, decoder_heads=2,
        encoder_ffn_dim=256, decoder_ffn_dim=256, codebook_dim=32, vq_post_depth=1,
        max_text_tokens=256,
    ),
    # The corpus run (configs/semantic-small.yaml): ≈ 9M parameters, Whisper-base-like widths
    # at fewer layers, so that a CPU trains it on the synthetic corpus in about a day.
    "small": dict(
        dim=256, encoder_depth=6, decoder_depth=4, encoder_heads=4, decoder_heads=4,
        encoder_ffn_dim=1024, decoder_ffn_dim=1024, codebook_dim=64, vq_post_depth=2,
        max_text_tokens=448,
    ),
}  # fmt: skip


@dataclass
class SemanticConfig(PresetConfig):
    """A Whisper-layout encoder–decoder with a cosine VQ between them.

    Encoder: conv(n_mels -> dim, k3) GELU, conv(dim -> dim, k3, stride 2) GELU, + sinusoid
    positions (``max_frames`` rows at 50 Hz), ``encoder_depth`` pre-LN blocks, LayerNorm.
    Pool: mean over ``pool`` frames -> the semantic embedding (b, n, dim) at 25 Hz.
    VQ: Linear(dim -> ``codebook_dim``), nearest of ``codebook_size`` codes by cosine
    similarity, Linear(codebook_dim -> dim), ``vq_post_depth`` pre-LN blocks; code
    ``codebook_size`` is the mask (padding) code. Decoder: token + learned position
    embeddings (``max_text_tokens``), ``decoder_depth`` blocks of causal self-attention,
    cross-attention to the embeddings and MLP, LayerNorm, logits through the tied token
    embedding. ``text_tokens`` "byte": UTF-8 bytes + SOT + EOT (``text_vocab_size`` 258);
    "whisper": Whisper's own BPE ids (a loaded Whisper; flowvox has no tokenizer for them).
    """

    PRESET_FAMILY: ClassVar[str] = "semantic"
    PRESETS: ClassVar[tuple[str, ...]] = tuple(SEMANTIC_PRESETS)

    mel: str = "whisper16k"
    dim: int = 256
    encoder_depth: int = 6
    decoder_depth: int = 4
    encoder_heads: int = 4
    decoder_heads: int = 4
    encoder_ffn_dim: int = 1024
    decoder_ffn_dim: int = 1024
    max_frames: int = 1500  # encoder positions at 50 Hz: 30 s
    max_text_tokens: int = 448  # decoder positions (SOT + text + EOT)
    text_tokens: Literal["byte", "whisper"] = "byte"
    text_vocab_size: int = BYTE_VOCAB
    pool: int = 2
    codebook_size: int = 512
    codebook_dim: int = 64
    vq_post_depth: int = 1
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> FlowvoxError:
            return FlowvoxError(f"semantic config {key}={getattr(self, key)!r}: {why}")

        positive = (
            "dim", "encoder_heads", "decoder_heads", "encoder_ffn_dim", "decoder_ffn_dim",
            "max_frames", "max_text_tokens", "pool", "codebook_size", "codebook_dim",
        )  # fmt: skip
        for key in positive:
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        for key in ("encoder_depth", "decoder_depth", "vq_post_depth"):
            if getattr(self, key) < 0:
                raise bad(key, "must be >= 0")
        for key in ("encoder_heads", "decoder_heads"):
            if self.dim % getattr(self, key):
                raise bad(key, f"must divide dim={self.dim}")
        if self.dim % 2:
            raise bad("dim", "must be even (sinusoid positions pair sin and cos)")
        if self.text_tokens == "byte" and self.text_vocab_size != BYTE_VOCAB:
            raise bad("text_vocab_size", f"byte text tokens need {BYTE_VOCAB} (256 bytes + 2)")
        if self.max_text_tokens < 3:
            raise bad("max_text_tokens", "must be at least 3 (SOT, one token, EOT)")
        if not 0.0 <= self.dropout < 1.0:
            raise bad("dropout", "must lie in [0, 1)")
        get_mel_preset(self.mel)  # a clear error for an unknown preset

    @property
    def mel_config(self) -> MelConfig:
        return get_mel_preset(self.mel)

    @property
    def n_mels(self) -> int:
        return self.mel_config.n_mels

    @property
    def mask_code(self) -> int:
        """The code of padding / masked positions: one past the codebook."""
        return self.codebook_size

    @property
    def token_rate(self) -> float:
        """Semantic tokens per second: sample_rate / hop / 2 / pool (25 with whisper16k)."""
        mel = self.mel_config
        return mel.sample_rate / mel.hop_length / 2 / self.pool

    def encoder_frames(self, mel_frames: int) -> int:
        """50 Hz frames of the conv stem for ``mel_frames`` mel frames: ceil(n / 2)."""
        return (mel_frames + 1) // 2

    def token_frames(self, mel_frames: int) -> int:
        """Semantic tokens for ``mel_frames`` mel frames: ceil(ceil(n / 2) / pool)."""
        return -(-self.encoder_frames(mel_frames) // self.pool)

    @classmethod
    def preset(cls, name: str, overrides: Sequence[str] = ()) -> Self:
        """``"tiny"`` or ``"small"`` (see ``SEMANTIC_PRESETS``); ``overrides`` are
        ``key=value`` strings as in ``--set``."""
        if name not in SEMANTIC_PRESETS:
            raise FlowvoxError(
                f"unknown semantic preset {name!r}; choose one of {', '.join(SEMANTIC_PRESETS)}"
            )
        return cls.from_dict(apply_overrides(SEMANTIC_PRESETS[name], overrides))


# The stamp of its model folders. No vocab file (byte tokens), so load_model reads them.
SEMANTIC_FAMILY = ModelFamily("semantic", "semantic", "a semantic tokenizer", SemanticConfig)
