"""Training-time samples of an infilling TTS model: mel images, audio, an attention map.

For one utterance (mel x_1 of n frames, its text): the first ``prompt_fraction`` of the
frames is the audio prompt, the rest is generated from noise x_0 ~ N(0, I) (fixed seed, so
samples at different steps are comparable) with ``nfe`` Euler steps on a sway grid and F5
guidance v = v_c + w (v_c - v_u) (conditional and unconditional rows as one doubled batch);
the prompt frames are then copied back, as at inference.

The attention picture is the first attention layer's frame-to-frame map (softmax(q kᵀ/√e),
mean over heads) of the conditional row at the last solver step. F5/E2 have no
text-to-frame attention: text enters as per-frame features at the input, so this map shows
which frames (prompt or generated) each generated frame reads, not a text alignment.
"""
# b: batch, n: mel frames, f: mel bins, l: text tokens, h: heads, e: head channels

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.flow import F5Guidance, solve, time_grid
from flowvox.models.infill.model import InfillTTS
from flowvox.nn.attention import Attention
from flowvox.vocoders.griffin_lim import GriffinLim, GriffinLimConfig


@dataclass
class MediaConfig:
    """What ``log_media`` generates (the ``media`` section of an infill_tts run file)."""

    nfe: int = 8  # Euler steps
    cfg: float = 2.0  # F5 guidance weight w (0: off)
    sway: float = -1.0  # sway coefficient of the time grid
    prompt_fraction: float = 0.3  # leading frames kept as the audio prompt
    seed: int = 0  # noise x_0
    griffin_lim_iters: int = 32  # 0: no audio
    attention: bool = True  # log the first attention layer's map


@dataclass
class MediaSample:
    """generated: (n, f) mel, prompt frames copied from the truth; attention: (n, n) or None;
    prompt_frames: frames of the prompt."""

    generated: Tensor
    attention: Tensor | None
    prompt_frames: int


def sample_for_media(
    model: InfillTTS, mel: Tensor, text_ids: Tensor, config: MediaConfig, spk: Tensor | None = None
) -> MediaSample:
    """Infill ``mel`` (n, f) after its first ``prompt_fraction`` with text ``text_ids`` (1, l)
    (and speaker d-vector ``spk`` (1, k) for a model with ``cond_dim`` > 0)."""
    n, f = mel.shape
    device = mel.device
    prompt = max(1, min(n - 1, int(round(config.prompt_fraction * n))))
    cond = torch.zeros(1, n, f, device=device)
    cond[:, :prompt] = mel[None, :prompt]  # (1, n, f)
    gen = torch.Generator().manual_seed(config.seed)
    x_0 = torch.randn(1, n, f, generator=gen).to(device)  # (1, n, f)
    guidance = F5Guidance(config.cfg)
    rows = 1 if guidance.is_off else 2
    cache = model.encode_text(text_ids, n) if rows == 1 else model.encode_text_cfg(text_ids, n)
    drop_audio = torch.arange(rows, device=device) >= 1  # (rows,) the second row unconditional
    conds = cond.expand(rows, n, f)
    spks = None if spk is None else spk.expand(rows, -1)  # (rows, k), dropped in row 2
    grid = time_grid(config.nfe, "sway", config.sway).to(device)
    capture = _AttentionCapture(model) if config.attention else None

    def velocity(x: Tensor, t: Tensor) -> Tensor:
        v = model(x.expand(rows, n, f), conds, cache, t.expand(rows), None, drop_audio, spk=spks)
        return guidance.combine(v[:1], v[1:])  # (1, n, f)

    try:
        x_1 = solve(velocity, x_0, grid, "euler").x  # (1, n, f)
    finally:
        attention = capture.close() if capture is not None else None
    generated = x_1[0].clone()
    generated[:prompt] = mel[:prompt]
    return MediaSample(generated=generated, attention=attention, prompt_frames=prompt)


def log_infill_media(
    model: InfillTTS,
    mel: Tensor,
    text_ids: Tensor,
    config: MediaConfig,
    sink,
    spk: Tensor | None = None,
) -> MediaSample:
    """Write to ``sink`` (a ``flowvox.train.MediaSink``): image ``mel/true_top_generated_bottom``
    (2f, n), scalar ``media/infill_l1`` (mean |generated - truth| over generated frames),
    audio ``audio/generated`` and ``audio/true`` (Griffin-Lim), image ``attention/block0``."""
    sample = sample_for_media(model, mel, text_ids, config, spk)
    gen, p = sample.generated, sample.prompt_frames
    sink.image("mel/true_top_generated_bottom", torch.cat([gen.T, mel.T]).float().cpu())
    sink.scalar("media/infill_l1", float((gen[p:] - mel[p:]).abs().mean()))
    if sample.attention is not None:
        sink.image("attention/block0", sample.attention.flip(0).float().cpu())  # query 0 on top
    if config.griffin_lim_iters > 0:
        mel_config = model.config.mel
        vocoder = GriffinLim(GriffinLimConfig(mel=mel_config, n_iter=config.griffin_lim_iters))
        vocoder = vocoder.to(mel.device)
        wavs = vocoder(torch.stack([gen, mel]).float()).clamp(-1.0, 1.0).cpu()  # (2, s)
        sink.audio("audio/generated", wavs[0], mel_config.sample_rate)
        sink.audio("audio/true", wavs[1], mel_config.sample_rate)
    return sample


class _AttentionCapture:
    """Forward pre-hook on the model's first ``Attention``: keeps the attention map of the
    first row of its most recent call."""

    def __init__(self, model: InfillTTS):
        self.attn = next((m for m in model.modules() if isinstance(m, Attention)), None)
        self.last: Tensor | None = None
        self.handle = None
        if self.attn is not None:
            self.signature = inspect.signature(self.attn.forward)
            self.handle = self.attn.register_forward_pre_hook(self._hook, with_kwargs=True)

    def _hook(self, module: Attention, args: tuple, kwargs: dict) -> None:
        bound = self.signature.bind(*args, **kwargs)
        x, rope = bound.arguments["x"][:1], bound.arguments.get("rope")  # (1, n, d)
        q, k, _ = module.qkv(x, rope)  # (1, h, n, e)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (1, h, n, n)
        self.last = scores.softmax(-1).mean(1)[0]  # (n, n)

    def close(self) -> Tensor | None:
        if self.handle is not None:
            self.handle.remove()
        return self.last
