"""Configuration of the infilling TTS models (F5-TTS DiT and E2-TTS) and their presets.

Presets live in ``flowvox/configs/infill/<name>.yaml`` (tiny, small, base, e2_tiny, e2_small,
e2_base); each file holds the fields of :class:`InfillTTSConfig` at its top level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from flowvox.audio.mel import MelConfig, as_mel_config
from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily
from flowvox.utils.config import PresetConfig

INFILL_PRESETS: tuple[str, ...] = ("tiny", "small", "base", "e2_tiny", "e2_small", "e2_base")


@dataclass
class InfillTTSConfig(PresetConfig):
    """Shape of an infilling TTS model, its training objective and its front-ends.

    Defaults are F5-TTS v1_Base. ``version`` "v1" masks filler tokens in the text encoder and
    rotates all attention heads with RoPE; "v0" does neither masking and rotates only the
    first head (F5-TTS v0 and the official E2-TTS). ``hide_padding`` makes padded batches
    exact: padding frames are also hidden from attention keys and from the text encoder's
    GRN statistics (and v0 zeroes them around its ConvNeXt blocks), so each item of a batch
    gets the result it would get alone; False reproduces F5-TTS 1.1.22 (attention attends to
    padding keys, GRN counts padding). ``text_vocab_size`` is the
    tokenizer's vocab size without the filler (the embedding has one more row); the trainer
    sets it from the tokenizer.

    ``cond_dim`` > 0 (256: resemblyzer's d-vector, ``flowvox.audio.dvector``) conditions the
    model on a global speaker vector g besides the audio prompt: W_g g is added to the time
    embedding, the model's one global conditioning vector (the DiT's adaLN input, which
    scales, shifts and gates every block and the output norm: the route DiT gives a class
    label; E2's time token, which every frame attends to). Not to the text features: F5/E2
    have no duration predictor, so the speaker has no durations to steer there. g is zeroed
    wherever the audio prompt is dropped (classifier-free guidance: the unconditional row has
    no prompt, no text and no speaker). The trainer conditions an utterance on the d-vector
    of another utterance of its speaker (``flowvox.data.dvectors``), the Synthesizer on the
    reference clip's. 0 (the default) adds no weight: a model without it is unchanged.
    """

    PRESET_FAMILY: ClassVar[str] = "infill"
    PRESETS: ClassVar[tuple[str, ...]] = INFILL_PRESETS

    backbone: Literal["dit", "e2"] = "dit"
    version: Literal["v1", "v0"] = "v1"
    dim: int = 1024
    depth: int = 22
    heads: int = 16
    dim_head: int = 64
    ff_mult: float = 2.0
    text_dim: int | None = 512  # None: the mel width (E2)
    conv_layers: int = 4  # ConvNeXt-V2 blocks in the text encoder (0: embedding only)
    text_vocab_size: int | None = None
    dropout: float = 0.1
    long_skip: bool = False  # DiT: Linear(cat(last hidden, first hidden)) before the output
    e2_skip: Literal["concat", "add", "none"] = "concat"  # E2: how mirrored layers join
    hide_padding: bool = True
    checkpoint_activations: bool = False
    cond_dim: int = 0  # width of the speaker d-vector g (256), 0: none
    mel: MelConfig | str = "vocos24k"
    tokenizer: str = "char"  # "char" (vocab file), "byte", or "phoneme:<language>"
    vocab_file: str | None = "vocab.txt"  # relative to the checkpoint directory
    # training objective
    frac_lengths_mask: tuple[float, float] = (0.7, 1.0)  # span to infill, fraction of frames
    audio_drop_prob: float = 0.3  # drop the audio prompt (per sample)
    cond_drop_prob: float = 0.2  # drop audio prompt and text together (per sample)
    sigma_min: float = 0.0  # OT-CFM path; 0 is the rectified path F5 uses
    time_sampling: Literal["uniform", "logit_normal"] = "uniform"

    def __post_init__(self) -> None:
        self.mel = as_mel_config(self.mel)
        self.frac_lengths_mask = tuple(float(f) for f in self.frac_lengths_mask)
        self._check()

    def _check(self) -> None:
        def bad(key: str, why: str) -> FlowvoxError:
            return FlowvoxError(f"infill config {key}={getattr(self, key)!r}: {why}")

        for key in ("dim", "depth", "heads", "dim_head"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        if self.dim_head % 2:
            raise bad("dim_head", "must be even (RoPE rotates channel pairs)")
        if self.dim % 16:
            raise bad("dim", "must be a multiple of 16 (the position convolution has 16 groups)")
        if self.backbone == "e2" and self.depth % 2:
            raise bad("depth", "the E2 backbone pairs its layers: use an even depth")
        if self.text_vocab_size is not None and self.text_vocab_size < 1:
            raise bad("text_vocab_size", "must be at least 1 (the tokenizer's vocab size)")
        if self.cond_dim < 0:
            raise bad("cond_dim", "must be 0 (no speaker vector) or its width (256)")
        lo, hi = self.frac_lengths_mask
        if not 0.0 <= lo <= hi <= 1.0:
            raise bad("frac_lengths_mask", "must be (low, high) with 0 <= low <= high <= 1")
        for key in ("audio_drop_prob", "cond_drop_prob", "dropout"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise bad(key, "must lie in [0, 1]")
        if not 0.0 <= self.sigma_min < 1.0:
            raise bad("sigma_min", "must lie in [0, 1)")

    @property
    def mel_dim(self) -> int:
        """Mel bins of the model's input and output (100 for vocos24k)."""
        return self.mel.n_mels

    @property
    def text_width(self) -> int:
        """Channels of the text embedding: ``text_dim``, or the mel width when None."""
        return self.mel_dim if self.text_dim is None else self.text_dim

    @property
    def rope_heads(self) -> int | None:
        """Heads RoPE rotates: None (all) in v1, the first only in v0."""
        return None if self.version == "v1" else 1

    @property
    def mask_fillers(self) -> bool:
        """v1 zeroes filler positions around every ConvNeXt block of the text encoder."""
        return self.version == "v1"

    def require_vocab(self) -> int:
        """``text_vocab_size``, or a clear error when it has not been set."""
        if self.text_vocab_size is None:
            raise FlowvoxError(
                "infill config text_vocab_size is unset: set it to the tokenizer's vocab size "
                "(e.g. --set text_vocab_size=N, or replace(config, text_vocab_size=len(vocab)))"
            )
        return self.text_vocab_size


# The stamp of its model folders; a format-0 config.json of bare fields is known by the last.
INFILL_FAMILY = ModelFamily(
    "infill", "infill_tts", "an infilling TTS model", InfillTTSConfig, ("backbone", "conv_layers")
)
