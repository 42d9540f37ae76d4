"""Duration-aligned flow-matching TTS (Matcha-TTS alignment, VoiceBox-style prompt infilling).

Text ids (blanks interspersed) -> transformer text encoder -> per-token mel means μ (b, l, f).

Training, per batch (all random numbers from one generator):
  1. durations d = MAS(log N(y_j; μ_i, I)) under no_grad (``flowvox.nn.mas``); μ̃ = μ expanded
     along d to frames (b, n, f).
  2. prior loss  = mean ½((y - μ̃)² + log 2π) over real (frame, channel);
     duration loss = masked MSE of log d̂ (predictor on the detached encoder output) vs log d.
  3. flow loss: a span of 70-100 % of each utterance is hidden; cond = y with the span zeroed;
     x_t = (1 - (1 - σ) t) x_0 + t y, u = y - (1 - σ) x_0 (σ = 1e-4 OT-CFM, 0 rectified);
     loss = Σ (v_θ(x_t, cond, μ̃, t) - u)² over the span (or all frames) / (frames · f).
     Per sample the prompt is dropped with p = ``audio_drop_prob`` and prompt and text
     (μ̃ = 0) together with p = ``cond_drop_prob``: the unconditional velocity for guidance.
     A speaker vector g (``cond_dim`` > 0) enters the encoder and the decoder's time
     embedding; the decoder's copy is zeroed with the prompt.
  total = flow + prior_weight · prior + duration_weight · duration.

Inference (``synthesize``): encoder once; durations predicted (or given; an audio prompt's
own tokens are aligned to it by MAS); μ̃ fixed; ODE from noise with F5 guidance
v = v_c + w (v_c - v_u), conditional and unconditional rows as one doubled batch; a
guidance-distilled model (``guidance_embed``) takes w as an input instead: v = v_θ(x, w), one
batch of b rows per step; a shortcut model (``step_embed``) is also told the Euler step size
d = 1/nfe of its uniform grid (``flowvox.models.aligned.shortcut``). The decoder: ``decoder.py``.
"""
# b: batch, l: tokens (blanks included), n: frames, f: mel bins, d: decoder channels,
# e: encoder channels, c: global condition channels (speaker embedding)

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.flow import (
    F5Guidance,
    OTCFMPath,
    flow_matching_loss,
    guided_velocity,
    sample_time,
    solve,
    time_grid,
)
from flowvox.models.aligned.config import ALIGNED_FAMILY, AlignedTTSConfig
from flowvox.models.aligned.decoder import FrameDecoder
from flowvox.models.loading import PretrainedModel
from flowvox.nn.duration import (
    DurationPredictor,
    duration_loss,
    durations_from_log,
    expand_by_durations,
)
from flowvox.nn.mas import alignment_log_likelihood, monotonic_alignment_search, prior_loss
from flowvox.nn.masks import lengths_to_mask, random_span_mask
from flowvox.nn.text_encoder import TextEncoder, intersperse_padded


@dataclass(frozen=True)
class EncodedText:
    mu: Tensor  # (b, l, f) per-token mel means, 0 at padding
    hidden: Tensor  # (b, l, e) encoder output (input of the duration predictor)
    mask: Tensor  # (b, l) True on real tokens
    lengths: Tensor  # (b,) tokens per item, blanks included


@dataclass(frozen=True)
class AlignedDraw:
    """Random choices of one training step: span_mask (b, n) bool, x_0 (b, n, f), t (b,),
    drop_audio and drop_text (b,) bool."""

    span_mask: Tensor
    x_0: Tensor
    t: Tensor
    drop_audio: Tensor
    drop_text: Tensor


@dataclass(frozen=True)
class AlignedLoss:
    """loss = flow + w_p prior + w_d duration (0-d each); durations (b, l) from MAS."""

    loss: Tensor
    flow: Tensor
    prior: Tensor
    duration: Tensor
    durations: Tensor
    draw: AlignedDraw


@dataclass(frozen=True)
class AlignedSynthesis:
    """mel (b, n, f), prompt frames copied in, 0 past each item; durations (b, l) frames per
    token; mask (b, n) True on real frames; prompt_frames (b,); nfe model calls made."""

    mel: Tensor
    durations: Tensor
    mask: Tensor
    prompt_frames: Tensor
    nfe: int


class AlignedTTS(PretrainedModel):
    """Text encoder + duration predictor + flow decoder; see the module docstring."""

    family = ALIGNED_FAMILY
    token_rows = {"encoder.embed.weight": 0}  # the blank (add_blank) is the last row

    def __init__(self, config: AlignedTTSConfig) -> None:
        super().__init__()
        config.require_vocab()
        self.config = config
        self.encoder = TextEncoder(config.encoder_config())
        self.duration_predictor = DurationPredictor(config.duration_config())
        self.decoder = FrameDecoder(config)

    # ---------------------------------------------------------------- text and alignment
    def encode(self, ids: Tensor, lengths: Tensor, spk: Tensor | None = None) -> EncodedText:
        """Tokenizer ids (b, l0) (values past ``lengths`` (b,) ignored) -> ``EncodedText``,
        blanks interspersed when ``add_blank`` (l = 2 l0 + 1)."""
        vocab = self.config.require_vocab()
        if ids.ndim != 2 or ids.dtype not in (torch.int64, torch.int32):
            raise FlowvoxError("text ids must be a (batch, tokens) integer tensor")
        lengths = lengths.to(ids.device, torch.long)
        if lengths.shape != (ids.shape[0],) or bool((lengths > ids.shape[1]).any()):
            raise FlowvoxError(f"text lengths {lengths.tolist()} must be one per item, ≤ l")
        if bool((lengths < 1).any()):
            k = int((lengths < 1).nonzero()[0, 0])
            raise FlowvoxError(f"text of item {k} has no tokens: pass a non-empty text")
        c = self.config.cond_dim
        if c > 0 and spk is not None and spk.shape != (ids.shape[0], c):
            raise FlowvoxError(
                f"spk {tuple(spk.shape)}: pass one speaker vector per item, (b, {c})"
            )
        real = lengths_to_mask(lengths, ids.shape[1])  # (b, l0)
        ids = ids.long().masked_fill(~real, 0)
        if bool(((ids < 0) | (ids >= vocab)).any()):
            raise FlowvoxError(f"token ids must lie in [0, {vocab}): check the tokenizer's vocab")
        if self.config.add_blank:
            padded = intersperse_padded(ids, lengths, blank=vocab)
            ids, lengths = padded.ids, padded.lengths
        out = self.encoder(ids, lengths, spk)
        return EncodedText(mu=out.mu, hidden=out.hidden, mask=out.mask, lengths=lengths)

    @torch.no_grad()
    def align(self, enc: EncodedText, mel: Tensor, mel_lengths: Tensor) -> Tensor:
        """MAS durations (b, l) int64 of the frames of ``mel`` (b, n, f); sums to mel_lengths."""
        short = mel_lengths.to(enc.lengths.device) < enc.lengths
        if bool(short.any()):
            k = int(short.nonzero()[0, 0])
            raise FlowvoxError(
                f"item {k}: {int(mel_lengths[k])} frames for {int(enc.lengths[k])} tokens "
                "(blanks included); every token needs a frame: drop such short utterances"
            )
        log_p = alignment_log_likelihood(enc.mu, mel)  # (b, l, n)
        return monotonic_alignment_search(log_p, enc.lengths, mel_lengths).durations

    # ---------------------------------------------------------------- training
    def draw_training(
        self, mel_lengths: Tensor, n: int, generator: torch.Generator, dtype: torch.dtype
    ) -> AlignedDraw:
        """Span, noise, time and per-sample CFG dropout, all from ``generator``."""
        cfg, b, device, gen = self.config, mel_lengths.shape[0], mel_lengths.device, generator
        span = random_span_mask(mel_lengths, n, cfg.frac_lengths_mask, gen)
        span &= lengths_to_mask(mel_lengths, n)
        x_0 = torch.randn(b, n, cfg.mel_dim, generator=gen, device=gen.device, dtype=dtype)
        t = sample_time(b, gen, dtype=dtype)  # (b,)
        drop_text = torch.rand(b, generator=gen, device=gen.device) < cfg.cond_drop_prob
        u_audio = torch.rand(b, generator=gen, device=gen.device)
        drop_audio = (u_audio < cfg.audio_drop_prob) | drop_text  # (b,)
        return AlignedDraw(*(x.to(device) for x in (span, x_0, t, drop_audio, drop_text)))

    def loss(
        self,
        mel: Tensor,
        mel_lengths: Tensor,
        ids: Tensor,
        lengths: Tensor,
        generator: torch.Generator,
        spk: Tensor | None = None,
    ) -> AlignedLoss:
        """All three losses of a batch, random choices drawn from ``generator``."""
        draw = self.draw_training(mel_lengths, mel.shape[1], generator, mel.dtype)
        return self(mel, mel_lengths, ids, lengths, draw, spk)

    def forward(
        self,
        mel: Tensor,
        mel_lengths: Tensor,
        ids: Tensor,
        lengths: Tensor,
        draw: AlignedDraw,
        spk: Tensor | None = None,
    ) -> AlignedLoss:
        """The losses for given random choices (the module call, so DDP syncs gradients).

        mel (b, n, f) padded past mel_lengths (b,); ids (b, l0) with lengths (b,); spk (b, c).
        """
        b, n, f = mel.shape
        if f != self.config.mel_dim or mel_lengths.shape != (b,) or ids.shape[0] != b:
            raise FlowvoxError(
                f"mel {tuple(mel.shape)}, mel_lengths {tuple(mel_lengths.shape)}, ids "
                f"{tuple(ids.shape)}: pass (b, n, {self.config.mel_dim}), (b,), (b, l)"
            )
        enc = self.encode(ids, lengths, spk)
        durations = self.align(enc, mel, mel_lengths)  # (b, l)
        valid = lengths_to_mask(mel_lengths, n)  # (b, n)
        mu_frames = expand_by_durations(enc.mu, durations, n).x  # (b, n, f)
        prior = prior_loss(mu_frames, mel, valid)
        log_dur = self.duration_predictor(enc.hidden, enc.mask)  # (b, l)
        dur = duration_loss(log_dur, durations, enc.mask)
        path = OTCFMPath(self.config.effective_sigma_min).sample(draw.x_0, mel, draw.t)
        cond = mel.masked_fill(draw.span_mask[..., None], 0.0)  # (b, n, f) the prompt
        pred = self.decoder(
            path.x_t, cond, mu_frames, draw.t, valid, draw.drop_audio, draw.drop_text, spk
        )
        counted = draw.span_mask & valid if self.config.loss_on == "span" else valid
        flow = flow_matching_loss(pred, path.u_t, counted)
        total = flow + self.config.prior_weight * prior + self.config.duration_weight * dur
        return AlignedLoss(total, flow, prior, dur, durations, draw)

    # ---------------------------------------------------------------- inference
    @torch.no_grad()
    def synthesize(
        self,
        ids: Tensor,
        lengths: Tensor,
        prompt_mel: Tensor | None = None,
        prompt_frames: Tensor | None = None,
        prompt_tokens: Tensor | None = None,
        *,
        durations: Tensor | None = None,
        spk: Tensor | None = None,
        nfe: int = 10,
        cfg: float = 0.7,
        solver: str = "euler",
        sway: float | None = None,
        speed: float = 1.0,
        generator: torch.Generator | None = None,
        noise: Tensor | None = None,
    ) -> AlignedSynthesis:
        """Mels for texts ids (b, l0) with lengths (b,).

        With an audio prompt, ids start with the prompt's transcript: ``prompt_tokens`` (b,)
        tokenizer ids of it; ``prompt_mel`` (b, p, f) holds ``prompt_frames`` (b,) real
        frames. The prompt's tokens get their MAS durations on the prompt, the rest predicted
        ones (divided by ``speed``); the prompt frames are copied into the output.
        ``durations`` (b, l) (model tokens, blanks included) overrides all of that.
        ``spk`` (b, c): the speaker vectors of a model with ``cond_dim`` > 0 (the reference's
        d-vector), dropped in guidance's unconditional rows.
        ``cfg`` is the F5 weight w (0: off; a ``guidance_embed`` model's input, one decoder
        call per step); ``sway`` None gives a uniform time grid. A ``step_embed`` (shortcut)
        model takes Euler steps on the uniform grid told d = 1/nfe: other solvers and sway are
        a ``FlowvoxError`` (sway 0 is the uniform grid).
        ``noise`` (b, n, f): the ODE's start x_0 instead of a draw from ``generator``; n must
        be the longest total of the durations (reflow pairs pass it with given durations).
        """
        if self.decoder.step_embed is not None and (solver != "euler" or sway not in (None, 0)):
            raise FlowvoxError(
                f"solver={solver!r}, sway={sway}: a shortcut model (step_embed) takes Euler steps "
                "of 1/nfe on a uniform grid; use solver 'euler' and sway 0"
            )
        enc = self.encode(ids, lengths, spk)
        b, device, dtype = ids.shape[0], enc.mu.device, enc.mu.dtype
        prompt = self._prompt(enc, lengths, prompt_mel, prompt_frames, prompt_tokens)
        if durations is None:
            log_dur = self.duration_predictor(enc.hidden, enc.mask)
            durations = durations_from_log(log_dur, enc.mask, speed)  # (b, l)
            if prompt is not None:  # the prompt's tokens keep their MAS durations
                durations = torch.where(prompt > 0, prompt, durations)
        elif durations.shape != enc.mu.shape[:2] or bool((durations < 0).any()):
            raise FlowvoxError(
                f"durations {tuple(durations.shape)}: pass (b, {enc.mu.shape[1]}) frames ≥ 0 per "
                "encoder token (blanks included)"
            )
        durations = durations.long().masked_fill(~enc.mask, 0)
        totals = durations.sum(1)  # (b,)
        if int(totals.max()) > self.config.max_frames:
            raise FlowvoxError(
                f"the durations need {int(totals.max())} frames, over max_frames="
                f"{self.config.max_frames}: shorten the text, raise speed, or raise max_frames"
            )
        ex = expand_by_durations(enc.mu, durations)  # x (b, n, f), mask (b, n)
        n, mask = ex.x.shape[1], ex.mask
        cond = torch.zeros_like(ex.x)
        p_frames = torch.zeros(b, dtype=torch.long, device=device)
        if prompt is not None:
            p_frames = prompt_frames.to(device).long()
            keep = lengths_to_mask(p_frames, n)[..., None]  # (b, n, 1)
            p = min(n, prompt_mel.shape[1])
            cond[:, :p] = prompt_mel[:, :p].to(dtype)
            cond = cond.masked_fill(~keep, 0.0)
        grid = time_grid(nfe, "uniform" if sway is None else "sway", sway or 0.0, dtype=dtype)
        velocity = self.velocity_fn(cond, ex.x, mask, cfg, spk, step=1.0 / nfe)
        gen_device = generator.device if generator is not None else device
        if noise is None:
            x_0 = torch.randn(b, n, self.config.mel_dim, generator=generator, device=gen_device)
        elif noise.shape != (b, n, self.config.mel_dim):
            raise FlowvoxError(
                f"noise {tuple(noise.shape)}: pass (b, n, f) = {(b, n, self.config.mel_dim)}"
            )
        else:
            x_0 = noise
        result = solve(velocity, x_0.to(device, dtype), grid, solver)
        mel = torch.where(lengths_to_mask(p_frames, n)[..., None], cond, result.x)
        mel = mel.masked_fill(~mask[..., None], 0.0)
        return AlignedSynthesis(mel, durations, mask, p_frames, result.nfe)

    def velocity_fn(
        self,
        cond: Tensor,
        mu: Tensor,
        mask: Tensor,
        cfg: float,
        spk: Tensor | None = None,
        step: float = 0.0,
    ) -> Callable[[Tensor, Tensor], Tensor]:
        """v(x, t) of the ODE, x (b, n, f), t (b,), for the prompt ``cond`` and μ̃ ``mu``
        (b, n, f) on ``mask`` (b, n) with speaker vectors ``spk`` (b, c) or None.

        F5 guidance v = v_c + w (v_c - v_u), w = ``cfg``, v_u dropping prompt, text and
        speaker: one decoder call on the doubled batch (2b rows; w = 0: v_c on b rows). A
        ``guidance_embed`` model: v = v_θ(x, cond, μ̃, t, w), one call on b rows. A
        ``step_embed`` model is also told the step size d = ``step`` (0: the instantaneous
        velocity); other models ignore ``step``.
        """
        guidance = F5Guidance(cfg)  # checks w >= 0
        no = torch.zeros(mask.shape[0], dtype=torch.bool, device=mask.device)
        d = None  # (b,) the step size of a step_embed model
        if self.decoder.step_embed is not None:
            d = torch.full(no.shape, float(step), dtype=mu.dtype, device=mu.device)
        if self.decoder.guidance_embed is not None:
            w = torch.full(no.shape, guidance.w, dtype=mu.dtype, device=mu.device)  # (b,)
            return lambda x, t: self.decoder(x, cond, mu, t, mask, no, no, spk, w, d)
        rows = {"cond": cond, "mu": mu, "mask": mask, "drop": no, "spk": spk, "d": d}

        def model_fn(x: Tensor, t: Tensor, c: dict) -> Tensor:
            drop = c["drop"]
            return self.decoder(
                x, c["cond"], c["mu"], t, c["mask"], drop, drop, c["spk"], None, c["d"]
            )

        def velocity(x: Tensor, t: Tensor) -> Tensor:
            return guided_velocity(model_fn, x, t, rows, {**rows, "drop": ~no}, guidance)

        return velocity

    def _prompt(
        self,
        enc: EncodedText,
        lengths: Tensor,
        prompt_mel: Tensor | None,
        prompt_frames: Tensor | None,
        prompt_tokens: Tensor | None,
    ) -> Tensor | None:
        """None, or MAS durations (b, l) of the prompt's tokens on the prompt, 0 elsewhere."""
        given = [v is not None for v in (prompt_mel, prompt_frames, prompt_tokens)]
        if not any(given):
            return None
        if not all(given):
            raise FlowvoxError("an audio prompt needs prompt_mel, prompt_frames and prompt_tokens")
        b, device = enc.mu.shape[0], enc.mu.device
        if prompt_mel.ndim != 3 or prompt_mel.shape[0] != b:
            raise FlowvoxError(f"prompt_mel {tuple(prompt_mel.shape)}: pass (b, p, f), b={b}")
        frames, raw = prompt_frames.to(device).long(), prompt_tokens.to(device).long()
        if bool(((raw < 1) | (raw > lengths.to(device))).any()):
            raise FlowvoxError("prompt_tokens must lie in 1 .. text length (ids start with them)")
        tokens = 2 * raw + 1 if self.config.add_blank else raw  # (b,) blanks included
        if bool(((frames < tokens) | (frames > prompt_mel.shape[1])).any()):
            raise FlowvoxError(
                "prompt_frames must be ≥ the prompt's tokens (blanks included) and ≤ "
                "prompt_mel's length: use a longer prompt or a shorter prompt text"
            )
        k = int(tokens.max())
        mu = enc.mu[:, :k].to(prompt_mel.dtype)  # (b, k, f)
        log_p = alignment_log_likelihood(mu, prompt_mel)  # (b, k, p)
        dur = monotonic_alignment_search(log_p, tokens, frames).durations  # (b, k)
        return torch.nn.functional.pad(dur, (0, enc.mu.shape[1] - k))  # (b, l)
