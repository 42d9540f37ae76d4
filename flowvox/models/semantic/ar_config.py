"""Configuration of the autoregressive text-to-semantic baseline (WhisperSpeech's T2S).

The model reads UTF-8 bytes (encoder) and writes semantic token ids (causal decoder) of a
``SemanticTokenizer`` with ``codebook_size`` codes, at ``token_rate`` tokens per second.
Decoder vocabulary: the codes 0 .. K − 1, then PAD = K (the tokenizer's mask code, so a
padded batch of generated ids dequantises as it stands), BOS = K + 1, EOS = K + 2.
Characters per second (cps) condition the decoder as in WhisperSpeech:
bin = min(⌊cps / ``cps_max`` · ``cps_bins``⌋, ``cps_bins`` − 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily
from flowvox.utils.config import PresetConfig, apply_overrides

BYTE_PAD = 256  # the encoder's padding byte; its vocabulary is the 256 bytes + this
WHISPERSPEECH_CPS = 15.0  # WhisperSpeech's default cps, used when a config has no median

AR_PRESETS: dict[str, dict[str, Any]] = {
    # CPU smoke tests: ≈ 0.2M parameters.
    "tiny": dict(dim=64, encoder_depth=2, decoder_depth=2, heads=2, ffn_dim=256,
                 max_text_bytes=256, max_tokens=256),
    # The corpus run (configs/t2s-ar-small.yaml): ≈ 11.5M parameters, the width of the
    # semantic tokenizer's small decoder (256 wide, 4 heads, MLP 1024) at 6 blocks a side
    # (WhisperSpeech's T2S layout, Whisper-base depth), as many parameters as the
    # flow-matching T2S small (≈ 11.5M: 6 DiT blocks + a 3-layer byte encoder).
    "small": dict(dim=256, encoder_depth=6, decoder_depth=6, heads=4, ffn_dim=1024,
                  max_text_bytes=512, max_tokens=752),
}  # fmt: skip


@dataclass
class ARConfig(PresetConfig):
    """An encoder–decoder transformer, bytes -> semantic ids (Whisper's pre-LN blocks).

    Encoder: byte embedding (257 rows) + sinusoid positions (``max_text_bytes``),
    ``encoder_depth`` pre-LN self-attention blocks, LayerNorm. Decoder: token embedding
    (K + 3 rows) + learned positions (``max_tokens``: BOS + codes) + cps embedding
    (``cps_bins`` rows), ``decoder_depth`` blocks of causal self-attention, cross-attention
    to the encoder and MLP, LayerNorm, logits through the tied token embedding.
    ``default_cps``: the cps used when a caller gives none (the training data's median,
    filled in by task ``t2s_ar``; None: WhisperSpeech's 15). ``charset``: the characters of
    the training texts, sorted (filled in by the task), so that a text of unseen characters
    only is refused.
    """

    PRESET_FAMILY: ClassVar[str] = "t2s_ar"
    PRESETS: ClassVar[tuple[str, ...]] = tuple(AR_PRESETS)

    dim: int = 256
    encoder_depth: int = 6
    decoder_depth: int = 6
    heads: int = 4
    ffn_dim: int = 1024
    max_text_bytes: int = 512
    max_tokens: int = 752  # decoder positions: BOS + up to 751 codes (30 s at 25 Hz)
    codebook_size: int = 512
    token_rate: float = 25.0
    cps_bins: int = 32
    cps_max: float = 20.0
    default_cps: float | None = None
    charset: str | None = None  # characters of the training texts (None: not recorded)
    dropout: float = 0.0
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> FlowvoxError:
            return FlowvoxError(f"t2s_ar config {key}={getattr(self, key)!r}: {why}")

        for key in ("dim", "heads", "ffn_dim", "max_text_bytes", "codebook_size", "cps_bins"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        for key in ("encoder_depth", "decoder_depth"):
            if getattr(self, key) < 0:
                raise bad(key, "must be >= 0")
        if self.dim % self.heads:
            raise bad("heads", f"must divide dim={self.dim}")
        if self.dim % 2:
            raise bad("dim", "must be even (sinusoid positions pair sin and cos)")
        if self.max_tokens < 2:
            raise bad("max_tokens", "must be at least 2 (BOS and one code)")
        for key in ("token_rate", "cps_max"):
            if not getattr(self, key) > 0:
                raise bad(key, "must be > 0")
        if self.default_cps is not None and not self.default_cps > 0:
            raise bad("default_cps", "must be > 0 (or null: WhisperSpeech's 15)")
        if not 0.0 <= self.dropout < 1.0:
            raise bad("dropout", "must lie in [0, 1)")

    @property
    def pad(self) -> int:
        """Padding id = the tokenizer's mask code K."""
        return self.codebook_size

    @property
    def bos(self) -> int:
        return self.codebook_size + 1

    @property
    def eos(self) -> int:
        return self.codebook_size + 2

    @property
    def vocab_size(self) -> int:
        """K codes + PAD + BOS + EOS."""
        return self.codebook_size + 3

    @property
    def inference_cps(self) -> float:
        """The cps of a caller that gives none: ``default_cps``, else WhisperSpeech's 15."""
        return WHISPERSPEECH_CPS if self.default_cps is None else self.default_cps

    def unknown_characters(self, text: str) -> set[str]:
        """The characters of ``text`` (blanks aside) never seen in training (none: empty)."""
        if self.charset is None:
            return set()
        return {ch for ch in text if not ch.isspace()} - set(self.charset)

    @classmethod
    def preset(cls, name: str, overrides: Sequence[str] = ()) -> Self:
        """``"tiny"`` or ``"small"`` (see ``AR_PRESETS``); ``overrides`` as in ``--set``."""
        if name not in AR_PRESETS:
            raise FlowvoxError(
                f"unknown t2s_ar preset {name!r}; choose one of {', '.join(AR_PRESETS)}"
            )
        return cls.from_dict(apply_overrides(AR_PRESETS[name], overrides))


# The stamp of its model folders (byte text: no vocab file).
AR_FAMILY = ModelFamily("t2s_ar", "t2s_ar", "an autoregressive text-to-semantic model", ARConfig)
