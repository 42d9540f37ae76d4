"""Configuration of the duration-aligned flow-matching TTS model (Matcha / VoiceBox style).

Presets live in ``flowvox/configs/aligned/<name>.yaml`` (tiny, small); each file holds the
fields of :class:`AlignedTTSConfig` at its top level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from flowvox.audio.mel import MelConfig, as_mel_config
from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily
from flowvox.nn.duration import DurationPredictorConfig
from flowvox.nn.text_encoder import TextEncoderConfig
from flowvox.utils.config import PresetConfig

ALIGNED_PRESETS: tuple[str, ...] = ("tiny", "small")


@dataclass
class AlignedTTSConfig(PresetConfig):
    """Text encoder (Matcha's), duration predictor, DiT flow decoder and training objective.

    ``text_vocab_size`` is the tokenizer's vocab size; with ``add_blank`` the encoder has one
    more row, id ``text_vocab_size``, the blank interspersed between tokens (Glow-TTS).
    ``max_frames`` bounds a synthesized utterance.

    ``cond_dim`` > 0 (256: resemblyzer's d-vector, ``flowvox.audio.dvector``) conditions the
    model on a global speaker vector g besides the audio prompt: W_e g is added to every
    token's features before the encoder's transformer layers, so the per-token means μ, the
    prior and the durations (the predictor reads the encoder output) follow the speaker;
    and W_g g is added to the decoder's time embedding c, which modulates every DiT block
    (adaLN) and the output norm, the route DiT gives a global label. g is zeroed wherever
    the audio prompt is dropped (classifier-free guidance: the unconditional row has no
    prompt, no text and no speaker; the encoder, run once per batch, keeps it). The trainer
    conditions an utterance on the d-vector of another utterance of its speaker
    (``flowvox.data.dvectors``), the Synthesizer on the reference clip's. 0 (the default)
    adds no weight: a model without it is unchanged.

    ``guidance_embed`` makes the decoder take the F5 guidance weight w as an input (guidance
    distillation, Meng et al. 2023; ``flowvox.models.aligned.distill``): c = TimeEmb(t) +
    GuidanceEmb(w) (+ W_g g), GuidanceEmb the time MLP over a sinusoid of w with its last
    layer zero-initialised (so a student loaded from its teacher starts as the teacher's
    conditional model), and ``synthesize(cfg=w)`` makes ONE decoder call per ODE step instead
    of the doubled conditional/unconditional batch. False (the default) adds no weight.

    ``step_embed`` makes the decoder also take the step size d in [0, 1] (shortcut models,
    Frans et al. 2024; ``flowvox.models.aligned.shortcut``): c gains StepEmb(d), the same
    kind of zero-initialised MLP, d = 0 being the instantaneous velocity; ``synthesize`` then
    takes Euler steps on the uniform grid and tells the decoder d = 1/nfe, so 1 or 2 steps
    make a sample. False (the default) adds no weight.
    """

    PRESET_FAMILY: ClassVar[str] = "aligned"
    PRESETS: ClassVar[tuple[str, ...]] = ALIGNED_PRESETS

    text_vocab_size: int | None = None
    add_blank: bool = True
    # text encoder (flowvox.nn.text_encoder)
    enc_dim: int = 192
    enc_depth: int = 6
    enc_heads: int = 2
    enc_ffn_dim: int = 768
    enc_ffn_kernel: int = 3
    prenet_layers: int = 3
    # duration predictor (flowvox.nn.duration), on the detached encoder output
    dur_hidden_dim: int = 256
    dur_kernel: int = 3
    dur_layers: int = 2
    # flow decoder: DiT over frames
    dim: int = 512
    depth: int = 12
    heads: int = 8
    dim_head: int = 64
    ff_mult: float = 2.0
    dropout: float = 0.1
    cond_dim: int = 0  # width of the speaker d-vector g (256), 0: none
    guidance_embed: bool = False  # w is a decoder input (a guidance-distilled student)
    step_embed: bool = False  # the step size d is a decoder input (a shortcut student)
    mel: MelConfig | str = "vocos24k"
    tokenizer: str = "char"  # "char" (vocab file), "byte", or "phoneme:<language>" (espeak-ng)
    vocab_file: str | None = "vocab.txt"  # relative to the checkpoint directory
    max_frames: int = 4096  # longest utterance synthesize() makes (frames)
    # training objective
    path: Literal["otcfm", "rectified"] = "otcfm"
    sigma_min: float = 1e-4  # OT-CFM only (Matcha: 1e-4); rectified is sigma_min = 0
    frac_lengths_mask: tuple[float, float] = (0.7, 1.0)  # hidden span, fraction of frames
    audio_drop_prob: float = 0.3  # drop the audio prompt (per sample)
    cond_drop_prob: float = 0.2  # drop audio prompt and text together (per sample)
    loss_on: Literal["span", "all"] = "span"  # frames the flow loss counts
    prior_weight: float = 1.0
    duration_weight: float = 1.0

    def __post_init__(self) -> None:
        self.mel = as_mel_config(self.mel)
        self.frac_lengths_mask = tuple(float(f) for f in self.frac_lengths_mask)
        self._check()

    def _check(self) -> None:
        def bad(key: str, why: str) -> FlowvoxError:
            return FlowvoxError(f"aligned config {key}={getattr(self, key)!r}: {why}")

        for key in ("enc_dim", "enc_depth", "enc_heads", "dim", "depth", "heads", "dim_head"):
            if getattr(self, key) < 1:
                raise bad(key, "must be at least 1")
        if self.dim_head % 2:
            raise bad("dim_head", "must be even (RoPE rotates channel pairs)")
        if self.dim % 16:
            raise bad("dim", "must be a multiple of 16 (the position convolution has 16 groups)")
        if self.text_vocab_size is not None and self.text_vocab_size < 1:
            raise bad("text_vocab_size", "must be at least 1 (the tokenizer's vocab size)")
        if self.cond_dim < 0 or self.max_frames < 1:
            raise bad("cond_dim" if self.cond_dim < 0 else "max_frames", "must be positive")
        if self.path not in ("otcfm", "rectified"):
            raise bad("path", "use 'otcfm' or 'rectified'")
        if self.loss_on not in ("span", "all"):
            raise bad("loss_on", "use 'span' or 'all'")
        lo, hi = self.frac_lengths_mask
        if not 0.0 <= lo <= hi <= 1.0:
            raise bad("frac_lengths_mask", "must be (low, high) with 0 <= low <= high <= 1")
        for key in ("audio_drop_prob", "cond_drop_prob", "dropout"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise bad(key, "must lie in [0, 1]")
        if not 0.0 <= self.sigma_min < 1.0:
            raise bad("sigma_min", "must lie in [0, 1)")
        if self.tokenizer not in ("char", "byte") and not self.tokenizer.startswith("phoneme:"):
            raise bad("tokenizer", "use 'char' (vocab file), 'byte' or 'phoneme:<language>'")
        self.encoder_config()  # the encoder checks its own shape

    @property
    def mel_dim(self) -> int:
        """Mel bins of the model's input and output (100 for vocos24k)."""
        return self.mel.n_mels

    @property
    def effective_sigma_min(self) -> float:
        """σ of the path actually used: ``sigma_min`` for OT-CFM, 0 for rectified."""
        return self.sigma_min if self.path == "otcfm" else 0.0

    @property
    def blank_id(self) -> int | None:
        """Id of the interspersed blank (one past the tokenizer's ids), None without blanks."""
        return self.require_vocab() if self.add_blank else None

    def require_vocab(self) -> int:
        """``text_vocab_size``, or a clear error when it has not been set."""
        if self.text_vocab_size is None:
            raise FlowvoxError(
                "aligned config text_vocab_size is unset: set it to the tokenizer's vocab size "
                "(e.g. --set text_vocab_size=N, or config.replace(text_vocab_size=len(vocab)))"
            )
        return self.text_vocab_size

    def encoder_config(self) -> TextEncoderConfig:
        vocab = (self.text_vocab_size or 1) + int(self.add_blank)
        return TextEncoderConfig(
            vocab_size=vocab,
            out_dim=self.mel_dim,
            dim=self.enc_dim,
            depth=self.enc_depth,
            heads=self.enc_heads,
            ffn_dim=self.enc_ffn_dim,
            ffn_kernel=self.enc_ffn_kernel,
            prenet_layers=self.prenet_layers,
            dropout=self.dropout,
            cond_dim=self.cond_dim,
        )

    def duration_config(self) -> DurationPredictorConfig:
        return DurationPredictorConfig(
            in_dim=self.enc_dim,
            hidden_dim=self.dur_hidden_dim,
            kernel_size=self.dur_kernel,
            layers=self.dur_layers,
            dropout=self.dropout,
        )


# The stamp of its model folders; a format-0 config.json of bare fields is known by the last.
ALIGNED_FAMILY = ModelFamily(
    "aligned",
    "aligned_tts",
    "an aligned TTS model",
    AlignedTTSConfig,
    ("dur_hidden_dim", "enc_dim"),
)
