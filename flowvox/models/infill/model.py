"""Infilling TTS (F5-TTS / E2-TTS): the model wrapper and its span-infilling objective.

Training: for each utterance a random contiguous span covering 70-100 % of its frames is
hidden; the model sees the rest as the audio prompt ``cond`` plus the full text, and learns
the velocity that carries noise x_0 to the mel x_1 on the rectified path, the loss counting
the hidden span only. Per sample, the audio prompt is dropped with p = 0.3 and prompt and
text together with p = 0.2, which trains the unconditional velocity for guidance. With
``cond_dim`` > 0 a speaker d-vector g joins the time embedding, dropped with the prompt.

Inference: ``encode_text`` once per generation, then ``forward`` at every ODE step; for
guidance run conditional and unconditional rows as one doubled batch (``encode_text_cfg``).
The backbone sits under ``transformer.`` like F5's, so official keys map by dropping
``ema_model.``.
"""
# b: batch, n: mel frames, f: mel bins, l: text tokens, c: text channels

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.flow import OTCFMPath, flow_matching_loss, sample_time
from flowvox.models.infill.config import INFILL_FAMILY, InfillTTSConfig
from flowvox.models.infill.dit import DiT
from flowvox.models.infill.e2 import E2Backbone
from flowvox.models.infill.embed import Flags, TextCache, flags_for
from flowvox.models.loading import PretrainedModel
from flowvox.nn.masks import lengths_to_mask, random_span_mask


@dataclass(frozen=True)
class TrainingDraw:
    """Every random choice of one training step (fix it to reproduce a loss exactly).

    span_mask: (b, n) bool, frames to infill (inside each valid length).
    x_0: (b, n, f) noise. t: (b,) times. drop_audio, drop_text: (b,) bool CFG dropout.
    """

    span_mask: Tensor
    x_0: Tensor
    t: Tensor
    drop_audio: Tensor
    drop_text: Tensor


@dataclass(frozen=True)
class LossOutput:
    """loss: 0-d, mean squared velocity error over span frames × mel bins.
    pred, target: (b, n, f) predicted and true velocity. cond: (b, n, f) the audio prompt
    (span zeroed, before dropout). span_frames: 0-d int, frames the loss counted.
    draw: the random choices used."""

    loss: Tensor
    pred: Tensor
    target: Tensor
    cond: Tensor
    span_frames: Tensor
    draw: TrainingDraw


class InfillTTS(PretrainedModel):
    """F5-TTS (``backbone="dit"``) or E2-TTS (``"e2"``) infilling model; see the module doc."""

    family = INFILL_FAMILY
    token_rows = {"transformer.text_embed.text_embed.weight": 1}  # row 0: the filler

    def __init__(self, config: InfillTTSConfig) -> None:
        super().__init__()
        self.config = config
        backbone = DiT if config.backbone == "dit" else E2Backbone
        self.transformer = backbone(config)

    def encode_text(
        self,
        text_ids: Tensor,
        n: int,
        mask: Tensor | None = None,
        drop_text: Flags = False,
    ) -> TextCache:
        """Text features for n mel frames, reusable across ODE steps.

        text_ids: (b, l) int64 ids padded with -1 (see ``pad_token_ids``).
        mask: (b, n) bool, True on real frames (batches of different lengths), or None.
        drop_text: bool or (b,) bool, rows encoded without text (unconditional).
        """
        if text_ids.ndim != 2 or text_ids.dtype not in (torch.int64, torch.int32):
            raise FlowvoxError("text_ids must be a (b, l) integer tensor padded with -1")
        b = text_ids.shape[0]
        drop = flags_for(drop_text, b, text_ids.device)
        embed = self.transformer.text_embed(
            text_ids, n, drop, mask, self.config.hide_padding
        )  # (b, n, c)
        if drop is None:
            drop = torch.zeros(b, dtype=torch.bool, device=text_ids.device)
        return TextCache(embed=embed, drop_text=drop)

    def encode_text_cfg(self, text_ids: Tensor, n: int, mask: Tensor | None = None) -> TextCache:
        """Cache for a doubled guidance batch: the b conditional rows, then the same b rows
        with text dropped (2b, n, c). Pair it with ``drop_audio_cond`` True on the last b."""
        rows = torch.cat([text_ids, text_ids])
        both = None if mask is None else torch.cat([mask, mask])
        b = text_ids.shape[0]
        drop = torch.arange(2 * b, device=text_ids.device) >= b  # (2b,)
        return self.encode_text(rows, n, both, drop)

    def forward(
        self,
        x_t: Tensor,
        cond_mel: Tensor,
        text: Tensor | TextCache,
        t: Tensor,
        mask: Tensor | None = None,
        drop_audio_cond: Flags = False,
        drop_text: Flags = False,
        spk: Tensor | None = None,
    ) -> Tensor:
        """Velocity (b, n, f) at the noisy mel x_t (b, n, f) and times t (b,).

        cond_mel: (b, n, f) the audio prompt, zero where the model must generate.
        text: (b, l) ids padded with -1, or a ``TextCache`` from ``encode_text`` (then the
            text dropout is already in the cache and ``drop_text`` must stay False).
        mask: (b, n) bool, True on real frames, or None when no row is padded (faster).
        drop_audio_cond / drop_text: bool or (b,) bool per-sample condition dropout.
        spk: (b, k) speaker d-vectors, exactly when ``cond_dim`` > 0; zeroed on the rows
            whose audio prompt is dropped.
        """
        b, n, f = x_t.shape
        if f != self.config.mel_dim or cond_mel.shape != x_t.shape:
            raise FlowvoxError(
                f"x_t {tuple(x_t.shape)} and cond_mel {tuple(cond_mel.shape)} must both be "
                f"(b, n, {self.config.mel_dim}) for this model's mel preset"
            )
        if t.shape != (b,):
            raise FlowvoxError(f"t has shape {tuple(t.shape)}; pass one time per sample: ({b},)")
        if isinstance(text, TextCache):
            if drop_text is not False:
                raise FlowvoxError("drop_text is fixed in the TextCache; pass it to encode_text")
            cache = text
        else:
            cache = self.encode_text(text, n, mask, drop_text)
        if cache.embed.shape[:2] != (b, n):
            raise FlowvoxError(
                f"text cache covers {tuple(cache.embed.shape[:2])} (b, n) but x_t has ({b}, {n}); "
                "encode the text for the same batch and length"
            )
        k = self.config.cond_dim
        if k and (spk is None or spk.shape != (b, k)):
            given = "none" if spk is None else tuple(spk.shape)
            raise FlowvoxError(
                f"spk {given}: this model takes a speaker d-vector per row, ({b}, {k})"
            )
        if not k and spk is not None:
            raise FlowvoxError("spk: this model takes no speaker vector (cond_dim=0); drop spk")
        drop_audio = flags_for(drop_audio_cond, b, x_t.device)
        if spk is None:  # the backbone is called as it was before speaker vectors
            return self.transformer(x_t, cond_mel, cache.embed, t, mask, drop_audio)
        return self.transformer(x_t, cond_mel, cache.embed, t, mask, drop_audio, spk)

    def draw_training(
        self, mel_lengths: Tensor, n: int, generator: torch.Generator, dtype: torch.dtype
    ) -> TrainingDraw:
        """Draw span, noise, time and CFG dropout for a batch, all from ``generator``."""
        cfg, b, device = self.config, mel_lengths.shape[0], mel_lengths.device
        gen_device = generator.device
        span = random_span_mask(mel_lengths, n, cfg.frac_lengths_mask, generator)
        span &= lengths_to_mask(mel_lengths, n)
        x_0 = torch.randn(b, n, cfg.mel_dim, generator=generator, device=gen_device, dtype=dtype)
        if cfg.time_sampling == "uniform":
            t = sample_time(b, generator, device=gen_device, dtype=dtype)
        else:  # logit-normal: sigmoid of a standard normal
            t = torch.randn(b, generator=generator, device=gen_device, dtype=dtype).sigmoid()
        u_audio = torch.rand(b, generator=generator, device=gen_device)
        u_both = torch.rand(b, generator=generator, device=gen_device)
        drop_text = u_both < cfg.cond_drop_prob  # (b,)
        drop_audio = (u_audio < cfg.audio_drop_prob) | drop_text  # (b,)
        return TrainingDraw(
            span_mask=span,
            x_0=x_0.to(device),
            t=t.to(device),
            drop_audio=drop_audio.to(device),
            drop_text=drop_text.to(device),
        )

    def loss(
        self,
        mel: Tensor,
        mel_lengths: Tensor,
        text_ids: Tensor,
        generator: torch.Generator,
        spk: Tensor | None = None,
    ) -> LossOutput:
        """Span-infilling flow-matching loss of a batch.

        mel: (b, n, f) log-mels padded past ``mel_lengths`` (b,); text_ids: (b, l) padded with
        -1. The random choices come from ``generator`` (see ``draw_training``). spk: (b, k)
        speaker d-vectors (``cond_dim`` > 0).
        """
        self._check_batch(mel, mel_lengths, text_ids)
        draw = self.draw_training(mel_lengths, mel.shape[1], generator, mel.dtype)
        return self._loss(mel, mel_lengths, text_ids, draw, spk)

    def loss_with_draw(
        self,
        mel: Tensor,
        mel_lengths: Tensor,
        text_ids: Tensor,
        draw: TrainingDraw,
        spk: Tensor | None = None,
    ) -> LossOutput:
        """The loss for given random choices.

        x_t = (1 - (1 - σ) t) x_0 + t x_1,  u = x_1 - (1 - σ) x_0   (x_1 = mel, σ = sigma_min)
        cond = mel with the span zeroed;  loss = Σ_span (v - u)² / (span frames · f).
        """
        self._check_batch(mel, mel_lengths, text_ids)
        return self._loss(mel, mel_lengths, text_ids, draw, spk)

    def _loss(
        self,
        mel: Tensor,
        mel_lengths: Tensor,
        text_ids: Tensor,
        draw: TrainingDraw,
        spk: Tensor | None = None,
    ) -> LossOutput:
        valid = lengths_to_mask(mel_lengths, mel.shape[1])  # (b, n)
        path = OTCFMPath(sigma_min=self.config.sigma_min).sample(draw.x_0, mel, draw.t)
        cond = mel.masked_fill(draw.span_mask[..., None], 0.0)  # (b, n, f)
        drops = (draw.drop_audio, draw.drop_text)
        pred = self(path.x_t, cond, text_ids, draw.t, valid, *drops, spk)  # (b, n, f)
        counted = draw.span_mask & valid  # (b, n)
        loss = flow_matching_loss(pred, path.u_t, counted)
        return LossOutput(
            loss=loss,
            pred=pred,
            target=path.u_t,
            cond=cond,
            span_frames=counted.sum(),
            draw=draw,
        )

    def _check_batch(self, mel: Tensor, mel_lengths: Tensor, text_ids: Tensor) -> None:
        if mel.ndim != 3 or mel.shape[2] != self.config.mel_dim:
            raise FlowvoxError(
                f"mel has shape {tuple(mel.shape)}; expected (b, n, {self.config.mel_dim}) "
                f"for mel preset {self.config.mel.name!r}"
            )
        b, n = mel.shape[:2]
        if mel_lengths.shape != (b,) or text_ids.ndim != 2 or text_ids.shape[0] != b:
            raise FlowvoxError(
                f"mel_lengths {tuple(mel_lengths.shape)} and text_ids {tuple(text_ids.shape)} "
                f"must be ({b},) and ({b}, l) for a mel batch of {b}"
            )
        if bool(((mel_lengths < 1) | (mel_lengths > n)).any()):
            raise FlowvoxError(f"mel_lengths must lie in 1 .. {n} (the padded mel length)")
