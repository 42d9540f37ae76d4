"""Configuration of the flow-matching text-to-semantic model (T2S-FM) and its length rule.

The model generates N × d PRE-VQ semantic embeddings of a frozen ``SemanticTokenizer`` (d =
the tokenizer's ``dim``, N frames at its ``token_rate``, 25 Hz) from the text's UTF-8 bytes.
N comes from the words-per-second rule

    N = round(token_rate · (offset_seconds + words / words_per_second)),  words = len(text.split())

whose two numbers are fitted on the training data (least squares of seconds on words; the
task fills them in when they are None) and stored in the config; a user may override them.
Presets are written here, as the tokenizer's are: a T2S model's shape comes with its weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily
from flowvox.utils.config import PresetConfig, apply_overrides

TEXT_NULL = 256  # the text id of the unconditional (dropped) text; bytes are 0 .. 255
TEXT_VOCAB = 257

T2S_PRESETS: dict[str, dict[str, Any]] = {
    # CPU smoke tests: ≈ 0.3M parameters.
    "tiny": dict(dim=64, depth=2, heads=2, dim_head=32, ff_mult=2.0, text_dim=64,
                 text_depth=1, text_heads=2, text_ffn_dim=128),
    # The corpus run (configs/t2s-fm-small.yaml): ≈ 11.5M parameters, the width of the small
    # tokenizer, so that a CPU trains it on the synthetic corpus in about a day.
    "small": dict(dim=256, depth=6, heads=4, dim_head=64, ff_mult=2.0, text_dim=256,
                  text_depth=3, text_heads=4, text_ffn_dim=512),
}  # fmt: skip


@dataclass
class T2SFlowConfig(PresetConfig):
    """A DiT over N semantic frames, cross-attending to a byte-level text encoder.

    Text: UTF-8 bytes (ids 0 .. 255; ``TEXT_NULL`` 256 is the dropped text of classifier-free
    guidance), at most ``max_text_bytes``, through ``flowvox.nn.TextEncoder`` (``text_dim``,
    ``text_depth`` post-norm layers, conv prenet, RoPE) projected to ``dim``. DiT: ``depth``
    ``flowvox.nn.DiTBlock``s (adaLN-zero from the time, RoPE self-attention) each followed by
    cross-attention to the text; width ``dim``, ``heads`` × ``dim_head``. Both streams also
    get a "progress" feature (position / length) so that frames can find their bytes.

    Flow: the OT path with ``sigma_min``, x_1 = (emb − emb_mean) / emb_std (per-channel
    statistics of the training embeddings, buffers of the model); text dropped per sample
    with probability ``cfg_drop_prob``; ``guidance`` is the default CFG weight w of sampling
    (u = u_u + w (u_c − u_u), 1 = off). ``emb_dim``, ``codebook_size`` and ``token_rate``
    are the frozen tokenizer's; ``charset`` holds every character of the training texts
    (None: any), so a line with none of them is refused at generation.
    """

    PRESET_FAMILY: ClassVar[str] = "t2s_fm"
    PRESETS: ClassVar[tuple[str, ...]] = tuple(T2S_PRESETS)

    dim: int = 256
    depth: int = 6
    heads: int = 4
    dim_head: int = 64
    ff_mult: float = 2.0
    dropout: float = 0.0
    text_dim: int = 256
    text_depth: int = 3
    text_heads: int = 4
    text_ffn_dim: int = 512
    max_text_bytes: int = 400
    max_frames: int = 750  # longest N: 30 s at 25 Hz
    # the frozen tokenizer's (filled in by the task from data.tokenizer)
    emb_dim: int = 256
    codebook_size: int = 512
    token_rate: float = 25.0
    # flow and guidance
    sigma_min: float = 1e-4
    cfg_drop_prob: float = 0.1
    guidance: float = 2.0
    # length rule (fitted on the training data when None) and the characters seen in training
    words_per_second: float | None = None
    offset_seconds: float | None = None
    charset: str | None = None

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> FlowvoxError:
            return FlowvoxError(f"t2s_fm config {key}={getattr(self, key)!r}: {why}")

        positive = (
            "dim", "depth", "heads", "dim_head", "text_dim", "text_heads", "text_ffn_dim",
            "max_text_bytes", "max_frames", "emb_dim", "codebook_size",
        )  # fmt: skip
        for key in positive:
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        if self.text_depth < 0:
            raise bad("text_depth", "must be >= 0")
        if self.dim_head % 2:
            raise bad("dim_head", "must be even (RoPE rotates channel pairs)")
        if self.text_dim % self.text_heads or (self.text_dim // self.text_heads) % 2:
            raise bad("text_dim", "must split into text_heads heads of even width")
        if self.dim % self.heads:
            raise bad("heads", f"must divide dim={self.dim} (the cross-attention's heads)")
        if not self.token_rate > 0:
            raise bad("token_rate", "must be > 0 (the tokenizer's frames per second)")
        if not 0.0 <= self.sigma_min < 1.0:
            raise bad("sigma_min", "must lie in [0, 1); e.g. 1e-4")
        for key in ("cfg_drop_prob", "dropout"):
            if not 0.0 <= getattr(self, key) < 1.0:
                raise bad(key, "must lie in [0, 1)")
        if not (math.isfinite(self.guidance) and self.guidance >= 0):
            raise bad("guidance", "must be a finite weight >= 0 (1: off)")
        if self.words_per_second is not None and not (
            math.isfinite(self.words_per_second) and self.words_per_second > 0
        ):
            raise bad("words_per_second", "must be > 0 (read English: about 2.5)")
        if self.offset_seconds is not None and not (
            math.isfinite(self.offset_seconds) and self.offset_seconds >= 0
        ):
            raise bad("offset_seconds", "must be >= 0 seconds")
        if self.charset is not None and not self.charset:
            raise bad("charset", "must hold at least one character, or be None (any)")

    def frames_for_text(self, text: str, words_per_second: float | None = None) -> int:
        """N of ``text`` by the words-per-second rule (module docstring); at least 1.
        ``words_per_second`` overrides the config's."""
        wps = self.words_per_second if words_per_second is None else words_per_second
        if wps is None:
            raise FlowvoxError(
                "this T2S model has no words_per_second; set model.words_per_second (read "
                "English: about 2.5) or pass --words-per-second"
            )
        if not (math.isfinite(wps) and wps > 0):
            raise FlowvoxError(f"words_per_second={wps}: must be > 0 (read English: about 2.5)")
        seconds = (self.offset_seconds or 0.0) + len(text.split()) / wps
        return max(1, round(self.token_rate * seconds))

    def unknown_characters(self, text: str) -> set[str]:
        """The characters of ``text`` (blanks aside) never seen in training (none: empty)."""
        if self.charset is None:
            return set()
        return {ch for ch in text if not ch.isspace()} - set(self.charset)

    @classmethod
    def preset(cls, name: str, overrides: Sequence[str] = ()) -> Self:
        """``"tiny"`` or ``"small"`` (see ``T2S_PRESETS``), ``overrides`` as in ``--set``."""
        if name not in T2S_PRESETS:
            raise FlowvoxError(
                f"unknown t2s_fm preset {name!r}; choose one of {', '.join(T2S_PRESETS)}"
            )
        return cls.from_dict(apply_overrides(T2S_PRESETS[name], overrides))


def fit_length_rule(words: Sequence[int], seconds: Sequence[float]) -> tuple[float, float]:
    """(words_per_second, offset_seconds) of seconds ≈ offset + words / wps by least squares;
    through the origin (offset 0, wps = Σ words / Σ seconds) when the fit's offset would be
    negative or its slope not positive (e.g. every item has the same word count)."""
    if not words or len(words) != len(seconds):
        raise FlowvoxError("no training item to measure the speaking rate from")
    n = len(words)
    mean_w, mean_s = sum(words) / n, sum(seconds) / n
    var_w = sum((w - mean_w) ** 2 for w in words)
    cov = sum((w - mean_w) * (s - mean_s) for w, s in zip(words, seconds, strict=True))
    if var_w > 0 and cov > 0:
        slope = cov / var_w  # seconds per word
        offset = mean_s - slope * mean_w
        if offset >= 0:
            return 1.0 / slope, offset
    if sum(seconds) <= 0 or sum(words) <= 0:
        raise FlowvoxError("the training items hold no words or no audio; cannot fit the rate")
    return sum(words) / sum(seconds), 0.0


# The stamp of its model folders (no vocab file: byte text).
T2S_FM_FAMILY = ModelFamily(
    "t2s_fm", "t2s_fm", "a flow-matching text-to-semantic model", T2SFlowConfig
)
