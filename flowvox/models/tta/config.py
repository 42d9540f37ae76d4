"""Configuration of the latent text-to-audio flow model (LAFMA) and its presets.

Presets live in ``flowvox/configs/tta/<name>.yaml`` (tiny, small); each file holds the
fields of :class:`LatentFlowConfig` at its top level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily
from flowvox.utils.config import PresetConfig

TTA_PRESETS: tuple[str, ...] = ("tiny", "small")


@dataclass
class LatentFlowConfig(PresetConfig):
    """A caption-conditioned generator of mel-VAE latents (b, C, T, F), C = ``latent_channels``,
    F = ``latent_freq``, T free (latent frames; a mel frame count / 4 with the LAFMA VAE).

    Network: a DiT over latent patches of ``patch_time`` × ``patch_freq`` (each patch is
    C·pt·pf numbers -> one token of width ``dim``), each block self-attention (RoPE over the
    time index, a learned embedding per frequency patch), CROSS-attention to the caption,
    then the feed-forward; adaLN-zero from the time (plus the pooled caption with
    ``pooled_caption``). LAFMA uses a U-Net; the DiT is chosen
    here because it reuses ``flowvox.nn`` (attention, RoPE, adaLN blocks, time embedding)
    and keeps padded batches exact: every layer is per token or masked attention, so a row's
    result never depends on the padding another row brings (a U-Net's convolutions and
    down-sampling mix padding into valid frames).

    Objectives (``objective``):
      "flow": x_t = t x_1 + (1 - t) x_0, x_0 ~ N(0, I), t ~ U(``t_min``, 1); the network
          predicts u = x_1 - x_0; the network sees the time as ``time_scale`` · t (LAFMA: 999).
      "diffusion": DDPM with ``diffusion_steps`` steps (``beta_schedule`` linear from
          ``beta_start`` to ``beta_end``, scaled_linear in √β as AudioLDM, or cosine),
          x_k = sqrt(ᾱ_k) x_1 + sqrt(1 - ᾱ_k) ε;
          the network sees the step index k and predicts (``diffusion_prediction``) ε
          (DDPM, AudioLDM, LAFMA's baseline) or v = sqrt(ᾱ_k) ε - sqrt(1 - ᾱ_k) x_1
          (Salimans & Ho 2022: x̂_1 = sqrt(ᾱ_k) x_k - sqrt(1 - ᾱ_k) v never divides by
          sqrt(ᾱ_k), which ε's x̂_1 = (x_k - sqrt(1 - ᾱ_k) ε̂) / sqrt(ᾱ_k) does: at k = 999
          an ε error of 0.1 becomes an x̂_1 error of 8 to 16).

    Captions: ``caption_encoder`` "transformer" (trained with the model, over the ids of
    ``tokenizer``) or "t5" (a frozen T5 encoder from the local folder ``t5_path``, width
    ``t5_dim``). The unconditional caption is the empty caption ""; training replaces a
    sample's caption by it with probability ``cfg_drop_prob`` (per sample).
    ``text_vocab_size`` is the tokenizer's vocab size (the trainer fills it in).
    """

    PRESET_FAMILY: ClassVar[str] = "tta"
    PRESETS: ClassVar[tuple[str, ...]] = TTA_PRESETS

    # latent shape
    latent_channels: int = 8
    latent_freq: int = 16
    # network
    network: Literal["dit"] = "dit"
    dim: int = 384
    depth: int = 12
    heads: int = 6
    dim_head: int = 64
    ff_mult: float = 4.0
    dropout: float = 0.0
    patch_time: int = 1
    patch_freq: int = 4
    time_freq_dim: int = 256  # width of the time sinusoid
    # caption encoder
    caption_encoder: Literal["transformer", "t5"] = "transformer"
    text_dim: int = 256
    text_depth: int = 4
    text_heads: int = 4
    max_caption_tokens: int = 256  # longer captions are cut
    # also add an MLP of the caption's masked mean to the time vector that drives adaLN (as
    # SD3 / Stable Audio add pooled text): a global route a small model learns faster than
    # cross-attention alone
    pooled_caption: bool = False
    t5_path: str | None = None  # a local folder of a T5 encoder (FLAN-T5) for "t5"
    t5_dim: int = 1024  # its hidden width (FLAN-T5-large: 1024)
    tokenizer: str = "byte"  # "byte" (no vocab file) or "char" (vocab file)
    vocab_file: str | None = None
    text_vocab_size: int | None = None
    # objective
    objective: Literal["flow", "diffusion"] = "flow"
    cfg_drop_prob: float = 0.1
    t_min: float = 1e-3
    time_scale: float = 999.0
    diffusion_steps: int = 1000
    beta_schedule: Literal["linear", "scaled_linear", "cosine"] = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    diffusion_prediction: Literal["epsilon", "v"] = "epsilon"
    # the VAE's latent scaling (latents are multiplied by it before the flow sees them)
    scaling_factor: float = 1.0
    # "global": the flow sees the scaled latents z as they are (LAFMA). "per_bin": it sees
    # (z - latent_mean) / latent_std per (channel, latent freq bin), the statistics of the
    # training latents (channel-major lists of C·F numbers; the task measures them).
    latent_norm: Literal["global", "per_bin"] = "global"
    latent_mean: list[float] | None = None
    latent_std: list[float] | None = None

    def __post_init__(self) -> None:
        def bad(key: str, why: str) -> FlowvoxError:
            return FlowvoxError(f"tta config {key}={getattr(self, key)!r}: {why}")

        for key in ("latent_channels", "latent_freq", "dim", "depth", "heads", "dim_head"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        for key in ("patch_time", "patch_freq", "text_dim", "text_heads", "max_caption_tokens"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        if self.dim_head % 2:
            raise bad("dim_head", "must be even (RoPE rotates channel pairs)")
        if self.text_dim % self.text_heads or (self.text_dim // self.text_heads) % 2:
            raise bad("text_dim", "must split into text_heads heads of even width")
        if self.latent_freq % self.patch_freq:
            raise bad("patch_freq", f"must divide latent_freq={self.latent_freq}")
        if self.text_depth < 0:
            raise bad("text_depth", "must be >= 0")
        if self.caption_encoder == "t5" and not self.t5_path:
            raise bad("t5_path", "caption_encoder 't5' needs the folder of a T5 encoder")
        if self.text_vocab_size is not None and self.text_vocab_size < 1:
            raise bad("text_vocab_size", "must be at least 1 (the tokenizer's vocab size)")
        for key in ("cfg_drop_prob", "dropout"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise bad(key, "must lie in [0, 1]")
        if not 0.0 <= self.t_min < 1.0:
            raise bad("t_min", "must lie in [0, 1)")
        if self.diffusion_steps < 2:
            raise bad("diffusion_steps", "must be at least 2")
        if not 0.0 < self.beta_start <= self.beta_end < 1.0:
            raise bad("beta_start", "needs 0 < beta_start <= beta_end < 1")
        if not self.scaling_factor > 0:
            raise bad("scaling_factor", "must be > 0")
        self._check_latent_statistics(bad)

    def _check_latent_statistics(self, bad) -> None:
        """latent_mean / latent_std: both None, or C·F finite numbers (std > 0)."""
        n = self.latent_channels * self.latent_freq
        for key in ("latent_mean", "latent_std"):
            values = getattr(self, key)
            if values is None:
                continue
            if len(values) != n or not all(math.isfinite(v) for v in values):
                raise bad(key, f"must be {n} finite numbers (latent_channels · latent_freq)")
        if self.latent_std is not None and min(self.latent_std) <= 0:
            raise bad("latent_std", "every entry must be > 0")
        if (self.latent_mean is None) != (self.latent_std is None):
            raise bad("latent_mean", "latent_mean and latent_std come together")

    @property
    def has_latent_statistics(self) -> bool:
        """Whether ``latent_norm`` "per_bin" has its measured statistics."""
        return self.latent_mean is not None

    @property
    def patch_dim(self) -> int:
        """Numbers in one latent patch: C · patch_time · patch_freq."""
        return self.latent_channels * self.patch_time * self.patch_freq

    @property
    def caption_dim(self) -> int:
        """Width of the caption encoding the network cross-attends to."""
        return self.t5_dim if self.caption_encoder == "t5" else self.text_dim

    def require_vocab(self) -> int:
        """``text_vocab_size``, or a clear error when it has not been set."""
        if self.text_vocab_size is None:
            raise FlowvoxError(
                "tta config text_vocab_size is unset: set it to the tokenizer's vocab size "
                "(256 for tokenizer 'byte'; --set text_vocab_size=N)"
            )
        return self.text_vocab_size


# The stamp of its model folders; a format-0 config.json of bare fields is known by the last.
TTA_FAMILY = ModelFamily(
    "tta",
    "tta_lfm",
    "a latent text-to-audio model",
    LatentFlowConfig,
    ("latent_channels", "latent_freq", "caption_encoder"),
)
