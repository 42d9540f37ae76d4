"""FastPitch (Łańcucki 2021): the non-generative, MSE-trained baseline of the aligned family.

    h = FFT_enc(ids)                       (b, l, e) attention + conv-FFN stack over tokens
    log d̂ = P_d(h),  p̂ = P_p(h),  ê = P_e(h)      conv stacks per token (b, l) each
    h' = h + Conv_p(p) + Conv_e(e)         pitch / energy embedded and added per token
    x = FFT_dec(expand(h', d))            (b, n, e) length regulation, stack over frames
    ŷ = W_o x                              (b, n, f) mel

Alignment: FastPitch 1.1 learns it with an attention aligner (CTC forward-sum + beta-binomial
prior). Here, as in ``flowvox.models.aligned.model`` (Matcha), durations come from MAS on the
unit Gaussian log N(y_j; μ_i, I) between mel frames y_j and a learned per-token projection
μ = W_μ h of the encoder output, trained by the prior loss; no extra module, exact per item,
and the same code path as the flow model.

Targets, per token i (frames j of token i under the MAS durations d):
  pitch  p_i = (log p̄_i - pitch_mean) / pitch_std,  p̄_i = mean F0 over the token's voiced
         frames (0 when it has none: p_i = 0);   energy e_i = (ē_i - energy_mean) / energy_std,
         ē_i = mean over the token's frames of the frame energy ``flowvox.audio.pitch.energy``.
Training feeds the true p, e to the embeddings (teacher forcing); inference the predicted ones.

Losses: mel = Σ_valid (ŷ - y)² / (frames · f);  duration = masked MSE of log d̂ vs log d;
pitch, energy = masked MSE per token;  prior = Matcha's prior on μ;
total = mel + w_prior prior + w_d duration + w_p pitch + w_e energy.
The duration predictor reads the detached encoder output (Matcha); pitch and energy
predictors do not (FastPitch). ``predict_prosody`` exposes the per-token pitch so a flow
decoder can later be conditioned on it.
"""
# b: batch, l: tokens, n: frames, f: mel bins, e: encoder channels

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from flowvox.audio.pitch import average_per_token, energy
from flowvox.errors import FlowvoxError
from flowvox.models.fastpitch.config import FASTPITCH_FAMILY, FastPitchConfig
from flowvox.models.loading import PretrainedModel
from flowvox.nn.attention import RotaryEmbedding
from flowvox.nn.convnext import conv1d_channels_last
from flowvox.nn.duration import (
    DurationPredictor,
    duration_loss,
    durations_from_log,
    expand_by_durations,
)
from flowvox.nn.mas import alignment_log_likelihood, monotonic_alignment_search, prior_loss
from flowvox.nn.masks import lengths_to_mask
from flowvox.nn.text_encoder import EncoderLayer, TextEncoder, TextEncoderConfig, intersperse_padded


@dataclass(frozen=True)
class EncodedTokens:
    mu: Tensor  # (b, l, f) aligner means, 0 at padding
    hidden: Tensor  # (b, l, e) encoder output
    mask: Tensor  # (b, l) True on real tokens
    lengths: Tensor  # (b,) tokens per item (blanks included)


@dataclass(frozen=True)
class Prosody:
    """Per-token normalised pitch and energy (b, l), 0 at padding (energy 0 when unused)."""

    pitch: Tensor
    energy: Tensor


@dataclass(frozen=True)
class DecodedMel:
    mel: Tensor  # (b, n, f), 0 past each item
    mask: Tensor  # (b, n) True on real frames


@dataclass(frozen=True)
class FastPitchLoss:
    """loss = mel + w_prior prior + w_d duration + w_p pitch + w_e energy (0-d each)."""

    loss: Tensor
    mel: Tensor
    prior: Tensor
    duration: Tensor
    pitch: Tensor
    energy: Tensor
    durations: Tensor  # (b, l) MAS durations
    targets: Prosody  # the per-token targets
    prediction: Tensor  # (b, n, f) the predicted mel


@dataclass(frozen=True)
class FastPitchSynthesis:
    """mel (b, n, f), 0 past each item; durations (b, l); mask (b, n) True on real frames;
    prosody the per-token (normalised) pitch and energy that were embedded."""

    mel: Tensor
    durations: Tensor
    mask: Tensor
    prosody: Prosody


def masked_mse(pred: Tensor, target: Tensor, mask: Tensor) -> Tensor:
    """Σ_mask (pred - target)² / (#mask · trailing size); pred, target (b, k, ...), mask (b, k)."""
    m = mask.reshape(*mask.shape, *([1] * (pred.dim() - mask.dim()))).to(pred.dtype)
    per = pred[0, 0].numel() if pred.dim() > 2 else 1
    return ((pred - target).pow(2) * m).sum() / (m.sum() * per).clamp_min(1.0)


class FrameStack(nn.Module):
    """FFT stack over frames: post-norm attention (RoPE, key padding mask) + conv FFN layers."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.rotary = RotaryEmbedding(cfg.dim // cfg.heads, cfg.rope_base)
        self.layers = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.depth))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """x (b, n, e), mask (b, n) -> (b, n, e), 0 at padding."""
        rope = self.rotary(x.shape[1])
        x = x.masked_fill(~mask[..., None], 0.0)
        for layer in self.layers:
            x = layer(x, rope, mask)
        return x


class ProsodyEmbedding(nn.Module):
    """Conv1d(1 → e, k) over per-token values (b, l) -> (b, l, e), zeros at padding."""

    def __init__(self, dim: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, dim, kernel_size, padding=kernel_size // 2)

    def forward(self, values: Tensor, mask: Tensor) -> Tensor:
        x = values.masked_fill(~mask, 0.0)[..., None]  # (b, l, 1)
        return conv1d_channels_last(x, self.conv).masked_fill(~mask[..., None], 0.0)


class FastPitch(PretrainedModel):
    """See the module docstring."""

    family = FASTPITCH_FAMILY
    token_rows = {"encoder.embed.weight": 0}  # the blank (add_blank) is the last row

    def __init__(self, config: FastPitchConfig) -> None:
        super().__init__()
        config.require_vocab()
        self.config = config
        e = config.enc_dim
        self.encoder = TextEncoder(config.encoder_config())
        self.duration_predictor = DurationPredictor(config.predictor_config(detach=True))
        self.pitch_predictor = DurationPredictor(config.predictor_config(detach=False))
        self.pitch_embed = ProsodyEmbedding(e, config.embed_kernel)
        self.energy_predictor = self.energy_embed = None
        if config.use_energy:
            self.energy_predictor = DurationPredictor(config.predictor_config(detach=False))
            self.energy_embed = ProsodyEmbedding(e, config.embed_kernel)
        self.decoder = FrameStack(config.decoder_config())
        self.proj_out = nn.Linear(e, config.mel_dim)

    # ---------------------------------------------------------------- pieces
    def encode(self, ids: Tensor, lengths: Tensor) -> EncodedTokens:
        """Tokenizer ids (b, l0), lengths (b,) -> ``EncodedTokens`` (blanks added if set)."""
        vocab = self.config.require_vocab()
        if ids.ndim != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise FlowvoxError("text ids must be a (batch, tokens) integer tensor")
        lengths = lengths.to(ids.device, torch.long)
        if lengths.shape != (ids.shape[0],) or bool(
            ((lengths < 1) | (lengths > ids.shape[1])).any()
        ):
            raise FlowvoxError(
                f"text lengths {lengths.tolist()}: one per item, each in 1 .. {ids.shape[1]}"
            )
        ids = ids.long().masked_fill(~lengths_to_mask(lengths, ids.shape[1]), 0)
        if bool(((ids < 0) | (ids >= vocab)).any()):
            raise FlowvoxError(f"token ids must lie in [0, {vocab}): check the tokenizer's vocab")
        if self.config.add_blank:
            padded = intersperse_padded(ids, lengths, blank=vocab)
            ids, lengths = padded.ids, padded.lengths
        out = self.encoder(ids, lengths)
        return EncodedTokens(out.mu, out.hidden, out.mask, lengths)

    @torch.no_grad()
    def align(self, enc: EncodedTokens, mel: Tensor, mel_lengths: Tensor) -> Tensor:
        """MAS durations (b, l) int64 of ``mel`` (b, n, f) under the aligner means."""
        short = mel_lengths.to(enc.lengths.device) < enc.lengths
        if bool(short.any()):
            k = int(short.nonzero()[0, 0])
            raise FlowvoxError(
                f"item {k}: {int(mel_lengths[k])} frames for {int(enc.lengths[k])} tokens; "
                "every token needs a frame: drop such short utterances"
            )
        log_p = alignment_log_likelihood(enc.mu, mel)  # (b, l, n)
        return monotonic_alignment_search(log_p, enc.lengths, mel_lengths).durations

    def prosody_targets(
        self, pitch_frames: Tensor, mel: Tensor, mel_lengths: Tensor, durations: Tensor
    ) -> Prosody:
        """Normalised per-token pitch and energy of F0 frames (b, n) Hz (0 unvoiced) and mel."""
        cfg, mask = self.config, durations > 0  # (b, l)
        hz = average_per_token(pitch_frames.to(mel.dtype), durations)  # (b, l)
        pitch = (hz.clamp_min(1e-5).log() - cfg.pitch_mean) / cfg.pitch_std
        pitch = pitch.masked_fill((hz <= 0) | ~mask, 0.0)
        frame_e = energy(mel).masked_fill(~lengths_to_mask(mel_lengths, mel.shape[1]), 0.0)
        e_tok = average_per_token(frame_e, durations, voiced_only=False)  # (b, l)
        e_tok = ((e_tok - cfg.energy_mean) / cfg.energy_std).masked_fill(~mask, 0.0)
        if not cfg.use_energy:
            e_tok = torch.zeros_like(e_tok)
        return Prosody(pitch, e_tok)

    def predict_prosody(self, enc: EncodedTokens) -> Prosody:
        """Predicted normalised pitch and energy per token (b, l); log Hz = p·std + mean."""
        pitch = self.pitch_predictor(enc.hidden, enc.mask)
        if self.energy_predictor is None:
            return Prosody(pitch, torch.zeros_like(pitch))
        return Prosody(pitch, self.energy_predictor(enc.hidden, enc.mask))

    def decode(
        self, enc: EncodedTokens, prosody: Prosody, durations: Tensor, n: int | None = None
    ) -> DecodedMel:
        """Mel (b, n, f) and frame mask (b, n) from tokens, their prosody and durations."""
        h = enc.hidden + self.pitch_embed(prosody.pitch, enc.mask)  # (b, l, e)
        if self.energy_embed is not None:
            h = h + self.energy_embed(prosody.energy, enc.mask)
        ex = expand_by_durations(h, durations.masked_fill(~enc.mask, 0), n)  # (b, n, e)
        x = self.decoder(ex.x, ex.mask)
        mel = self.proj_out(x).masked_fill(~ex.mask[..., None], 0.0)  # (b, n, f)
        return DecodedMel(mel, ex.mask)

    # ---------------------------------------------------------------- training
    def forward(
        self, mel: Tensor, mel_lengths: Tensor, ids: Tensor, lengths: Tensor, pitch_frames: Tensor
    ) -> FastPitchLoss:
        """All losses: mel (b, n, f) padded past mel_lengths (b,); ids (b, l0), lengths (b,);
        pitch_frames (b, n) F0 in Hz per mel frame, 0 unvoiced."""
        b, n, f = mel.shape
        if f != self.config.mel_dim or mel_lengths.shape != (b,) or pitch_frames.shape != (b, n):
            raise FlowvoxError(
                f"mel {tuple(mel.shape)}, mel_lengths {tuple(mel_lengths.shape)}, pitch "
                f"{tuple(pitch_frames.shape)}: pass (b, n, {self.config.mel_dim}), (b,), (b, n)"
            )
        cfg = self.config
        enc = self.encode(ids, lengths)
        durations = self.align(enc, mel, mel_lengths)  # (b, l)
        valid = lengths_to_mask(mel_lengths, n)  # (b, n)
        prior = prior_loss(expand_by_durations(enc.mu, durations, n).x, mel, valid)
        dur = duration_loss(self.duration_predictor(enc.hidden, enc.mask), durations, enc.mask)
        targets = self.prosody_targets(pitch_frames, mel, mel_lengths, durations)
        predicted = self.predict_prosody(enc)
        pitch = masked_mse(predicted.pitch, targets.pitch, enc.mask)
        energy_loss = masked_mse(predicted.energy, targets.energy, enc.mask)
        pred_mel = self.decode(enc, targets, durations, n).mel
        mel_loss = masked_mse(pred_mel, mel, valid)
        total = mel_loss + cfg.prior_weight * prior + cfg.duration_weight * dur
        total = total + cfg.pitch_weight * pitch + cfg.energy_weight * energy_loss
        return FastPitchLoss(
            total, mel_loss, prior, dur, pitch, energy_loss, durations, targets, pred_mel
        )

    # ---------------------------------------------------------------- inference
    @torch.no_grad()
    def synthesize(
        self,
        ids: Tensor,
        lengths: Tensor,
        speed: float = 1.0,
        pitch_shift: float = 0.0,
        durations: Tensor | None = None,
    ) -> FastPitchSynthesis:
        """Mels for ids (b, l0) with lengths (b,). Durations predicted (divided by ``speed``)
        unless given (b, l) (model tokens, blanks included). ``pitch_shift`` in semitones is
        added to every token's predicted log F0: p += shift · ln 2 / (12 · pitch_std)."""
        enc = self.encode(ids, lengths)
        if durations is None:
            log_dur = self.duration_predictor(enc.hidden, enc.mask)
            durations = durations_from_log(log_dur, enc.mask, speed)  # (b, l)
        elif durations.shape != enc.mask.shape or bool((durations < 0).any()):
            raise FlowvoxError(
                f"durations {tuple(durations.shape)}: pass (b, {enc.mask.shape[1]}) frames ≥ 0 "
                "per model token (blanks included)"
            )
        durations = durations.to(enc.mask.device).long().masked_fill(~enc.mask, 0)
        longest = int(durations.sum(1).max())
        if longest > self.config.max_frames:
            raise FlowvoxError(
                f"the durations need {longest} frames, over max_frames={self.config.max_frames}: "
                "shorten the text, raise speed, or raise max_frames"
            )
        predicted = self.predict_prosody(enc)
        shift = pitch_shift * math.log(2.0) / (12.0 * self.config.pitch_std)
        pitch = (predicted.pitch + shift).masked_fill(~enc.mask, 0.0)
        prosody = Prosody(pitch, predicted.energy)
        out = self.decode(enc, prosody, durations)
        return FastPitchSynthesis(out.mel, durations, out.mask, prosody)

    def pitch_hz(self, pitch: Tensor) -> Tensor:
        """Normalised per-token pitch -> Hz: exp(p · pitch_std + pitch_mean)."""
        return (pitch * self.config.pitch_std + self.config.pitch_mean).exp()
