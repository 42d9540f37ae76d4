"""Latent text-to-audio (LAFMA): a caption-conditioned generator of mel-VAE latents.

Training (``loss``), x_1 = latents (b, C, T, F), x_0 = noise, per-sample caption dropout to
the empty caption "" with p = ``cfg_drop_prob``:
  flow:      t ~ U(t_min, 1), x_t = t x_1 + (1 - t) x_0, loss = |v(x_t, 999 t, c) - (x_1 - x_0)|²
  diffusion: k ~ U{0 .. K-1}, x_k = sqrt(ᾱ_k) x_1 + sqrt(1 - ᾱ_k) ε, loss = |ε̂(x_k, k, c) - ε|²
both averaged over the valid latent frames (``flow_matching_loss``).

The flow models ``normalize(latents)``: the scaled latents themselves (``latent_norm``
"global", LAFMA) or standardised per (channel, freq bin) ("per_bin"); ``sample`` returns
scaled latents either way.

Sampling (``sample``), guidance u = u_u + w (u_c - u_u) (``DiffusersGuidance``; w = 1 off,
LAFMA w = 3), conditional and unconditional rows as one doubled batch:
  flow:      Euler from t = 0 to 1 on a uniform grid of ``steps`` steps.
  diffusion: DDIM (η = 0) over ``steps`` steps k_i = round(linspace(K-1, 0, steps)):
             x̂_1 = (x - sqrt(1 - ᾱ_k) ε̂) / sqrt(ᾱ_k),  x <- sqrt(ᾱ_k') x̂_1 + sqrt(1 - ᾱ_k') ε̂
             with k' the next step (ᾱ = 1 after the last).
Results do not depend on the batch: row i's noise (C, T_i, F) comes from its own CPU
``torch.Generator().manual_seed(seed_i)`` and every layer masks padding.
"""
# b: batch, c: latent channels, t: latent frames, f: latent freq bins, l: caption tokens

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from flowvox.errors import FlowvoxError
from flowvox.flow import (
    DiffusersGuidance,
    RectifiedPath,
    flow_matching_loss,
    guided_velocity,
    solve,
    uniform_grid,
)
from flowvox.models.loading import PretrainedModel
from flowvox.models.tta.config import TTA_FAMILY, LatentFlowConfig
from flowvox.models.tta.network import LatentDiT
from flowvox.models.tta.text import (
    CaptionEncoding,
    T5CaptionEncoder,
    TransformerCaptionEncoder,
    drop_captions,
)
from flowvox.nn.masks import lengths_to_mask


@dataclass(frozen=True)
class TrainingDraw:
    """Every random choice of one step. noise: (b, C, T, F) x_0 (flow) or ε (diffusion).
    time: (b,) t in [t_min, 1] (flow) or the step k as int64 (diffusion). drop: (b,) bool."""

    noise: Tensor
    time: Tensor
    drop: Tensor


@dataclass(frozen=True)
class LossOutput:
    """loss: 0-d masked MSE. pred, target: (b, C, T, F). draw: the random choices used."""

    loss: Tensor
    pred: Tensor
    target: Tensor
    draw: TrainingDraw


@dataclass(frozen=True)
class LatentSample:
    """latents: (b, C, T, F), zero after each row's length. lengths: (b,). nfe: network
    calls (a doubled CFG batch counts once)."""

    latents: Tensor
    lengths: Tensor
    nfe: int


def diffusion_alphas_cumprod(config: LatentFlowConfig) -> Tensor:
    """ᾱ_k = Π_{j<=k} (1 - β_j), (K,) float64.

    linear: β = linspace(beta_start, beta_end, K) (DDPM).
    scaled_linear: β = linspace(√beta_start, √beta_end, K)² (latent diffusion's "linear";
    AudioLDM/LAFMA use 0.0015 and 0.0195, K = 1000: ᾱ_K = 1.4e-4, where DDPM's 1e-4..0.02
    linear ends at 4.0e-5; DDIM's first x̂₀ divides the ε error by √ᾱ_K: 0.012 or 0.0064).
    cosine: β_k = min(1 - g(k+1) / g(k), 0.999), g(k) = cos²((k/K + s) / (1 + s) · π/2),
    s = 0.008 (Nichol & Dhariwal).
    """
    k = config.diffusion_steps
    if config.beta_schedule == "linear":
        betas = torch.linspace(config.beta_start, config.beta_end, k, dtype=torch.float64)
    elif config.beta_schedule == "scaled_linear":
        root = torch.linspace(config.beta_start**0.5, config.beta_end**0.5, k, dtype=torch.float64)
        betas = root**2
    else:
        s = 0.008
        steps = torch.arange(k + 1, dtype=torch.float64) / k
        g = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2  # (K + 1,)
        betas = (1 - g[1:] / g[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0)


def latent_statistics(config: LatentFlowConfig) -> tuple[Tensor, Tensor]:
    """The per-bin mean and std (1, C, 1, F) of ``latent_norm`` "per_bin"; 0 and 1 for
    "global" (the flow sees the scaled latents unchanged)."""
    c, f = config.latent_channels, config.latent_freq
    if config.latent_norm == "global":
        return torch.zeros(1, c, 1, f), torch.ones(1, c, 1, f)
    if not config.has_latent_statistics:
        raise FlowvoxError(
            "tta config latent_norm 'per_bin' has no latent_mean / latent_std; the training "
            "task measures them from the data (or set latent_norm: global)"
        )
    mean = torch.tensor(config.latent_mean, dtype=torch.float32).reshape(1, c, 1, f)
    std = torch.tensor(config.latent_std, dtype=torch.float32).reshape(1, c, 1, f)
    return mean, std


class LatentFlow(PretrainedModel):
    """Caption -> latent generator; see the module docstring."""

    family = TTA_FAMILY

    def __init__(self, config: LatentFlowConfig) -> None:
        super().__init__()
        self.config = config
        self.network = LatentDiT(config)
        self.t5: T5CaptionEncoder | None = None  # not a Module: kept out of the state dict
        if config.caption_encoder == "t5":  # frozen, read from its own folder
            self.t5 = T5CaptionEncoder(config.t5_path)
            self.caption_encoder = None
        else:
            self.caption_encoder = TransformerCaptionEncoder(
                config.require_vocab(), config.text_dim, config.text_depth, config.text_heads
            )
        alphas = diffusion_alphas_cumprod(config).float()
        self.register_buffer("alphas_cumprod", alphas, persistent=False)  # (K,)
        mean, std = latent_statistics(config)  # (1, C, 1, F) each, from the config
        self.register_buffer("latent_mean", mean, persistent=False)
        self.register_buffer("latent_std", std, persistent=False)

    def normalize(self, latents: Tensor) -> Tensor:
        """Scaled VAE latents (b, C, T, F) -> what the flow models (``latent_norm``)."""
        return (latents - self.latent_mean.to(latents)) / self.latent_std.to(latents)

    def denormalize(self, x: Tensor) -> Tensor:
        """The inverse of ``normalize``: flow samples (b, C, T, F) -> scaled VAE latents."""
        return x * self.latent_std.to(x) + self.latent_mean.to(x)

    def _apply(self, fn, recurse: bool = True):
        """``.to(device)``, ``.double()`` and the like move the frozen T5 too (it sits outside
        the module tree so that its weights stay out of the state dict)."""
        super()._apply(fn, recurse)
        if self.t5 is not None:
            self.t5.model._apply(fn)
        return self

    @property
    def empty_ids(self) -> tuple[int, ...]:
        """The ids of the empty caption "", the unconditional caption."""
        encoder = self.t5 if self.t5 is not None else self.caption_encoder
        return tuple(encoder.empty_ids)

    def encode_caption(self, ids: Tensor, mask: Tensor) -> CaptionEncoding:
        """ids (b, l), mask (b, l) -> features (b, l', d_c), mask (b, l')."""
        if self.t5 is not None:
            return self.t5.encode(ids, mask)
        return self.caption_encoder.encode(ids, mask.bool())

    # ------------------------------------------------------------------ training
    def draw_training(
        self, latents: Tensor, generator: torch.Generator | None = None
    ) -> TrainingDraw:
        """Noise, times and caption dropout from ``generator`` (on its device)."""
        b, device = latents.shape[0], latents.device
        gen_device = generator.device if generator is not None else torch.device("cpu")
        noise = torch.randn(latents.shape, generator=generator, device=gen_device)
        if self.config.objective == "flow":
            t_min = self.config.t_min
            u = torch.rand(b, generator=generator, device=gen_device)
            time = t_min + (1 - t_min) * u  # (b,) in [t_min, 1)
        else:
            k = self.config.diffusion_steps
            time = torch.randint(0, k, (b,), generator=generator, device=gen_device)
        drop = torch.rand(b, generator=generator, device=gen_device) < self.config.cfg_drop_prob
        return TrainingDraw(noise.to(device, latents.dtype), time.to(device), drop.to(device))

    def loss(
        self,
        latents: Tensor,
        lengths: Tensor,
        caption_ids: Tensor,
        caption_mask: Tensor,
        generator: torch.Generator | None = None,
        draw: TrainingDraw | None = None,
    ) -> LossOutput:
        """Objective of ``config.objective`` on latents (b, C, T, F) with valid frames
        ``lengths`` (b,), captions ids (b, l) / mask (b, l); ``draw`` fixes the randomness."""
        self._check_latents(latents)
        if caption_ids.shape[0] != latents.shape[0] or lengths.shape != (latents.shape[0],):
            raise FlowvoxError("latents, lengths and captions must have the same batch size")
        if int(lengths.min()) < 1 or int(lengths.max()) > latents.shape[2]:
            raise FlowvoxError(f"lengths must lie in [1, {latents.shape[2]}] latent frames")
        draw = draw or self.draw_training(latents, generator)
        frame_mask = lengths_to_mask(lengths.to(latents.device), latents.shape[2])  # (b, t)
        ids, mask = drop_captions(caption_ids, caption_mask, draw.drop, self.empty_ids)
        caption = self.encode_caption(ids.to(latents.device), mask.to(latents.device))
        latents = self.normalize(latents)
        if self.config.objective == "flow":
            path = RectifiedPath().sample(draw.noise, latents, draw.time.to(latents.dtype))
            x, target = path.x_t, path.u_t  # u = x_1 - x_0
            tau = self.config.time_scale * draw.time.to(latents.dtype)
        else:
            ab = self.alphas_cumprod[draw.time].to(latents.dtype)[:, None, None, None]
            x = ab.sqrt() * latents + (1 - ab).sqrt() * draw.noise  # (b, c, t, f)
            target, tau = draw.noise, draw.time.to(latents.dtype)
            if self.config.diffusion_prediction == "v":
                target = ab.sqrt() * draw.noise - (1 - ab).sqrt() * latents
        pred = self.network(x, tau, caption.x, caption.mask, frame_mask)  # (b, c, t, f)
        valid = frame_mask[:, None, :, None].expand(pred.shape)
        return LossOutput(flow_matching_loss(pred, target, valid), pred, target, draw)

    # ------------------------------------------------------------------ sampling
    @torch.inference_mode()
    def sample(
        self,
        caption_ids: Tensor,
        caption_mask: Tensor,
        frames: int | Sequence[int] | Tensor,
        steps: int = 10,
        cfg: float = 3.0,
        seed: int = 0,
        seeds: Sequence[int] | None = None,
    ) -> LatentSample:
        """Latents for captions ids (b, l) / mask (b, l), ``frames`` latent frames per row
        (one int for all, or (b,)); row i's noise from ``seeds[i]`` (default seed + i)."""
        b = caption_ids.shape[0]
        if b < 1:
            raise FlowvoxError("no captions given; pass one caption per sound to generate")
        if steps < 1:
            raise FlowvoxError(f"steps={steps} must be at least 1 (LAFMA uses 10)")
        if not (cfg >= 0 and math.isfinite(cfg)):
            raise FlowvoxError(f"cfg={cfg} must be a finite weight >= 0 (1: off; LAFMA: 3)")
        lengths = torch.as_tensor(frames, dtype=torch.long).reshape(-1)
        if lengths.numel() not in (1, b):
            raise FlowvoxError(f"{lengths.numel()} frame counts for {b} captions; pass 1 or {b}")
        lengths = lengths.expand(b).clone()  # (b,)
        if int(lengths.min()) < 1:
            raise FlowvoxError(f"frames={frames}: every row needs at least 1 latent frame")
        seeds = list(seeds) if seeds is not None else [seed + i for i in range(b)]
        if len(seeds) != b:
            raise FlowvoxError(f"{len(seeds)} seeds for {b} captions; pass one seed per caption")
        device = next(self.network.parameters()).device
        x = self._initial_noise(lengths, seeds).to(device)  # (b, c, t, f)
        frame_mask = lengths_to_mask(lengths, x.shape[2]).to(device)  # (b, t)
        ids, mask = caption_ids.to(device), caption_mask.to(device).bool()
        cond = self.encode_caption(ids, mask)
        empty = drop_captions(ids, mask, torch.ones(b, dtype=torch.bool), self.empty_ids)
        uncond = self.encode_caption(*empty)
        guidance = DiffusersGuidance(cfg)

        def model_fn(x_in: Tensor, tau: Tensor, c: tuple[Tensor, ...]) -> Tensor:
            return self.network(x_in, tau, c[0], c[1], c[2])

        def guided(x_in: Tensor, tau: Tensor) -> Tensor:
            c_cond, c_uncond = (cond.x, cond.mask, frame_mask), (uncond.x, uncond.mask, frame_mask)
            return guided_velocity(model_fn, x_in, tau, c_cond, c_uncond, guidance)

        if self.config.objective == "flow":
            scale = self.config.time_scale
            grid = uniform_grid(steps).to(device)
            result = solve(lambda x_t, t: guided(x_t, scale * t), x, grid, "euler")
            x, nfe = result.x, result.nfe
        else:
            x, nfe = self._ddim(guided, x, steps)
        x = self.denormalize(x).masked_fill(~frame_mask[:, None, :, None], 0.0)
        return LatentSample(latents=x, lengths=lengths.to(device), nfe=nfe)

    def _ddim(self, eps_fn, x: Tensor, steps: int) -> tuple[Tensor, int]:
        """DDIM, η = 0, from pure noise x (b, c, t, f) over ``steps`` steps (module doc)."""
        k_total = self.config.diffusion_steps
        if steps > k_total:
            raise FlowvoxError(f"steps={steps} exceeds the {k_total} diffusion steps")
        ks = torch.linspace(k_total - 1, 0, steps).round().long().tolist()
        ab = self.alphas_cumprod
        for i, k in enumerate(ks):
            a_k = ab[k].to(x.dtype)
            a_next = ab[ks[i + 1]].to(x.dtype) if i + 1 < steps else x.new_tensor(1.0)
            tau = torch.full((x.shape[0],), float(k), device=x.device, dtype=x.dtype)
            out = eps_fn(x, tau)  # ε̂ or v̂ (config.diffusion_prediction)
            if self.config.diffusion_prediction == "v":
                x_1 = a_k.sqrt() * x - (1 - a_k).sqrt() * out  # the predicted data
                eps = (1 - a_k).sqrt() * x + a_k.sqrt() * out
            else:
                eps = out
                x_1 = (x - (1 - a_k).sqrt() * eps) / a_k.sqrt()
            x = a_next.sqrt() * x_1 + (1 - a_next).sqrt() * eps
        return x, len(ks)

    def _initial_noise(self, lengths: Tensor, seeds: Sequence[int]) -> Tensor:
        """(b, C, T, F) noise: row i holds randn(C, T_i, F) from seeds[i], zeros after."""
        c, f = self.config.latent_channels, self.config.latent_freq
        x = torch.zeros(len(seeds), c, int(lengths.max()), f)
        for i, (n, s) in enumerate(zip(lengths.tolist(), seeds, strict=True)):
            x[i, :, :n] = torch.randn(c, n, f, generator=torch.Generator().manual_seed(int(s)))
        return x

    def _check_latents(self, latents: Tensor) -> None:
        c, f = self.config.latent_channels, self.config.latent_freq
        if latents.ndim != 4 or latents.shape[1] != c or latents.shape[3] != f:
            raise FlowvoxError(
                f"latents have shape {tuple(latents.shape)}; expected (b, {c}, T, {f})"
            )
