"""Configuration of the FastPitch model (the non-generative, MSE-trained baseline).

Presets live in ``flowvox/configs/fastpitch/<name>.yaml`` (tiny, small); each file holds the
fields of :class:`FastPitchConfig` at its top level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from flowvox.audio.mel import MelConfig, as_mel_config
from flowvox.audio.pitch import PitchConfig
from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily
from flowvox.nn.duration import DurationPredictorConfig
from flowvox.nn.text_encoder import TextEncoderConfig
from flowvox.utils.config import PresetConfig

FASTPITCH_PRESETS: tuple[str, ...] = ("tiny", "small")


@dataclass
class FastPitchConfig(PresetConfig):
    """FFT encoder over tokens, duration / pitch / energy predictors, FFT decoder over frames.

    ``pitch_mean`` / ``pitch_std`` standardise log F0 (log Hz over voiced frames) and
    ``energy_mean`` / ``energy_std`` the frame energy (``flowvox.audio.pitch.energy``); the
    trainer measures them on the training set and stores them here, so an exported model
    carries its own normalisation. ``pitch_method`` etc. say how targets were extracted.
    """

    PRESET_FAMILY: ClassVar[str] = "fastpitch"
    PRESETS: ClassVar[tuple[str, ...]] = FASTPITCH_PRESETS

    text_vocab_size: int | None = None
    add_blank: bool = False  # FastPitch has no blanks; True intersperses them (Glow-TTS)
    # FFT encoder over tokens (flowvox.nn.text_encoder: attention + conv FFN, post-norm)
    enc_dim: int = 384
    enc_depth: int = 6
    enc_heads: int = 2
    enc_ffn_dim: int = 1536
    ffn_kernel: int = 3
    prenet_layers: int = 0
    # FFT decoder over frames
    dec_depth: int = 6
    dec_heads: int = 2
    dec_ffn_dim: int = 1536
    # predictors (conv stacks per token, as flowvox.nn.duration)
    pred_hidden_dim: int = 256
    pred_kernel: int = 3
    pred_layers: int = 2
    embed_kernel: int = 3  # Conv1d embedding of pitch / energy into enc_dim
    use_energy: bool = True
    dropout: float = 0.1
    mel: MelConfig | str = "vocos24k"
    tokenizer: str = "char"  # "char" (vocab file), "byte", or "phoneme:<language>" (espeak-ng)
    vocab_file: str | None = "vocab.txt"
    max_frames: int = 4096
    # pitch extraction and normalisation
    pitch_method: str = "yin"
    pitch_fmin: float = 65.0
    pitch_fmax: float = 800.0
    pitch_mean: float = math.log(150.0)
    pitch_std: float = 0.3
    energy_mean: float = 0.0
    energy_std: float = 1.0
    # loss weights: mel + w_prior prior + w_d duration + w_p pitch + w_e energy
    prior_weight: float = 1.0
    duration_weight: float = 1.0
    pitch_weight: float = 0.1
    energy_weight: float = 0.1

    def __post_init__(self) -> None:
        self.mel = as_mel_config(self.mel)
        self._check()

    def _check(self) -> None:
        def bad(key: str, why: str) -> FlowvoxError:
            return FlowvoxError(f"fastpitch config {key}={getattr(self, key)!r}: {why}")

        for key in ("enc_dim", "enc_depth", "enc_heads", "dec_depth", "dec_heads", "max_frames"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        for key in ("enc_heads", "dec_heads"):
            if self.enc_dim % getattr(self, key) or (self.enc_dim // getattr(self, key)) % 2:
                raise bad(key, f"enc_dim {self.enc_dim} / heads must be an even integer")
        for key in ("ffn_kernel", "pred_kernel", "embed_kernel"):
            if getattr(self, key) % 2 != 1:
                raise bad(key, "use an odd kernel size")
        if self.text_vocab_size is not None and self.text_vocab_size < 1:
            raise bad("text_vocab_size", "must be at least 1 (the tokenizer's vocab size)")
        for key in ("pitch_std", "energy_std"):
            if not getattr(self, key) > 0:
                raise bad(key, "must be above 0")
        if not 0.0 <= self.dropout <= 1.0:
            raise bad("dropout", "must lie in [0, 1]")
        if self.tokenizer not in ("char", "byte") and not self.tokenizer.startswith("phoneme:"):
            raise bad("tokenizer", "use 'char' (vocab file), 'byte' or 'phoneme:<language>'")
        self.pitch_config()

    @property
    def mel_dim(self) -> int:
        return self.mel.n_mels

    def require_vocab(self) -> int:
        """``text_vocab_size``, or a clear error when it has not been set."""
        if self.text_vocab_size is None:
            raise FlowvoxError(
                "fastpitch config text_vocab_size is unset: set it to the tokenizer's vocab size "
                "(e.g. config.replace(text_vocab_size=len(vocab)))"
            )
        return self.text_vocab_size

    def pitch_config(self) -> PitchConfig:
        return PitchConfig(self.pitch_method, self.pitch_fmin, self.pitch_fmax)

    def encoder_config(self) -> TextEncoderConfig:
        return TextEncoderConfig(
            vocab_size=(self.text_vocab_size or 1) + int(self.add_blank),
            out_dim=self.mel_dim,
            dim=self.enc_dim,
            depth=self.enc_depth,
            heads=self.enc_heads,
            ffn_dim=self.enc_ffn_dim,
            ffn_kernel=self.ffn_kernel,
            prenet_layers=self.prenet_layers,
            dropout=self.dropout,
        )

    def decoder_config(self) -> TextEncoderConfig:
        """The frame stack reuses the encoder layer; only its width fields matter."""
        return TextEncoderConfig(
            vocab_size=1,
            out_dim=self.mel_dim,
            dim=self.enc_dim,
            depth=self.dec_depth,
            heads=self.dec_heads,
            ffn_dim=self.dec_ffn_dim,
            ffn_kernel=self.ffn_kernel,
            dropout=self.dropout,
        )

    def predictor_config(self, detach: bool) -> DurationPredictorConfig:
        return DurationPredictorConfig(
            in_dim=self.enc_dim,
            hidden_dim=self.pred_hidden_dim,
            kernel_size=self.pred_kernel,
            layers=self.pred_layers,
            dropout=self.dropout,
            detach_input=detach,
        )


# The stamp of its model folders; a format-0 config.json of bare fields is known by the last.
FASTPITCH_FAMILY = ModelFamily(
    "fastpitch", "fastpitch", "a FastPitch model", FastPitchConfig, ("pitch_std", "dec_ffn_dim")
)
