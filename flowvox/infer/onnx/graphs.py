"""The modules that become ONNX graphs: one guided velocity evaluation, and mel -> waveform.

# b: batch, n: frames, f: mel bins, d: channels, c: frequency bins (n_fft/2 + 1),
# w: window taps, r: hop-sized blocks per window
Each wraps a trained flowvox module and computes the same numbers with operators every
exporter and onnxruntime handle (no complex tensors, no in-place slice writes, no oneDNN
kernels, no size read back into Python):

- ``GuidedVelocity``: the aligned family's ``FrameDecoder`` with F5 guidance inside,
  v = v_c + w (v_c - v_u), both halves as ONE doubled batch exactly as ``AlignedTTS.synthesize``
  builds it (rows b..2b-1 drop prompt and text); w is an input, so one graph serves any cfg.
  A guidance-distilled decoder (``guidance_embed``) takes w itself: ONE pass on b rows.
  ``TorchGuidedVelocity`` is the torch path it replaces, the reference of the checks.
- ``VocosGraph``: the Vocos backbone as it is; the inverse STFT as a matmul with the
  windowed inverse real DFT basis and an overlap-add of padded hop-sized blocks.
- ``HiFiGANGraph``: the generator with weight norm folded into plain weights.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from flowvox.flow import F5Guidance, guided_velocity
from flowvox.models.aligned.model import FrameDecoder
from flowvox.vocoders.hifigan import HiFiGAN
from flowvox.vocoders.vocos.model import Vocos

LOG_MAGNITUDE_CAP = 4.605170185988092  # ln 100, as ISTFTHead


class GuidedVelocity(nn.Module):
    """(x_t, t, cond, mu, mask, cfg) -> guided velocity (b, n, f).

    x_t, cond, mu (b, n, f); t (b,); mask (b, n) bool, True on real frames; cfg () the F5
    weight w. v_c and v_u come from one decoder call on batch 2b; w = 0 returns v_c (the
    unconditional half is still computed: the graph has no branch). A ``guidance_embed``
    decoder: v = v_θ(x_t, cond, mu, t, w), one call on batch b (the same inputs).
    """

    def __init__(self, decoder: FrameDecoder) -> None:
        super().__init__()
        self.decoder = decoder

    def forward(
        self, x_t: Tensor, t: Tensor, cond: Tensor, mu: Tensor, mask: Tensor, cfg: Tensor
    ) -> Tensor:
        b = x_t.shape[0]
        keep = torch.zeros_like(t, dtype=torch.bool)  # (b,)
        if self.decoder.guidance_embed is not None:  # w is the decoder's input
            return self.decoder(x_t, cond, mu, t, mask, keep, keep, None, torch.zeros_like(t) + cfg)
        drop = torch.cat((keep, ~keep))  # (2b,) False: conditional, True: unconditional
        v = self.decoder(
            torch.cat((x_t, x_t)),
            torch.cat((cond, cond)),
            torch.cat((mu, mu)),
            torch.cat((t, t)),
            torch.cat((mask, mask)),
            drop,
            drop,
        )  # (2b, n, f)
        v_c, v_u = v[:b], v[b:]
        return v_c + cfg * (v_c - v_u)


class TorchGuidedVelocity(GuidedVelocity):
    """What the graph replaces, as a reference with the same inputs: ``AlignedTTS.synthesize``'s
    ``guided_velocity`` with ``F5Guidance(cfg)`` (cfg 0: the conditional half alone); a
    ``guidance_embed`` decoder: one call with w = cfg on every row."""

    def forward(
        self, x_t: Tensor, t: Tensor, cond: Tensor, mu: Tensor, mask: Tensor, cfg: Tensor
    ) -> Tensor:
        keep = torch.zeros_like(t, dtype=torch.bool)  # (b,)
        if self.decoder.guidance_embed is not None:
            w = torch.full_like(t, F5Guidance(float(cfg)).w)  # (b,)
            return self.decoder(x_t, cond, mu, t, mask, keep, keep, None, w)
        rows = {"cond": cond, "mu": mu, "mask": mask, "drop": keep}

        def model_fn(x: Tensor, t: Tensor, c: dict) -> Tensor:
            return self.decoder(x, c["cond"], c["mu"], t, c["mask"], c["drop"], c["drop"])

        guidance = F5Guidance(float(cfg))
        return guided_velocity(model_fn, x_t, t, rows, {**rows, "drop": ~keep}, guidance)


def inverse_rdft_basis(n_fft: int, window: Tensor) -> tuple[Tensor, Tensor]:
    """(cos, sin) bases (c, w) with irfft(X) · window = Re X @ cos + Im X @ sin.

    x_k = Σ_m a_m (Re X_m cos(2π m k / N) - Im X_m sin(2π m k / N)), a_0 = a_{N/2} = 1/N and
    2/N otherwise (Hermitian symmetry folded in; the imaginary parts of bins 0 and N/2 drop
    out, as in ``torch.fft.irfft``); built in float64, returned in float32.
    """
    m = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]  # (c, 1)
    k = torch.arange(n_fft, dtype=torch.float64)[None, :]  # (1, w)
    angle = 2 * math.pi * ((m * k) % n_fft) / n_fft  # (c, w), reduced mod N for accuracy
    weight = torch.full_like(m, 2.0 / n_fft)
    weight[0] = weight[-1] = 1.0 / n_fft
    win = window.to(torch.float64)[None, :]
    cos = weight * torch.cos(angle) * win
    sin = -weight * torch.sin(angle) * win
    sin[0] = sin[-1] = 0.0  # sin(0) and sin(π k), exactly
    return cos.float(), sin.float()


def overlap_add_blocks(frames: Tensor, hop: int) -> Tensor:
    """Frames (b, n, w) placed every ``hop`` samples and summed: (b, (n - 1)·hop + w).

    Each frame is cut into r = ⌈w / hop⌉ blocks; block j of every frame, shifted j blocks
    down the output (a pad), is added in order j = 0 .. r-1, as ``vocos.model.overlap_add``
    does. Only constant pads and slices, so any exporter keeps n dynamic.
    """
    w = frames.shape[-1]
    r = -(-w // hop)
    extra = r * hop - w
    if extra:
        frames = F.pad(frames, (0, extra))
    blocks = frames.unflatten(-1, (r, hop))  # (b, n, r, hop)
    out = F.pad(blocks[:, :, 0], (0, 0, 0, r - 1))  # (b, n + r - 1, hop)
    for j in range(1, r):
        out = out + F.pad(blocks[:, :, j], (0, 0, j, r - 1 - j))
    out = out.flatten(1)  # (b, (n + r - 1)·hop)
    return out[:, :-extra] if extra else out


class VocosGraph(nn.Module):
    """Log-mel (b, n, f) -> waveform (b, s), the numbers of ``Vocos.forward``.

    [log|X|, φ] = W·backbone(mel) + b; X = min(exp log|X|, 100) e^{iφ}; frames = Re X @ cos +
    Im X @ sin (``inverse_rdft_basis``, window included); overlap-add divided by the
    overlap-added squared window, trimmed as ``ISTFTHead`` trims.
    """

    def __init__(self, vocos: Vocos) -> None:
        super().__init__()
        head = vocos.head
        self.backbone = vocos.backbone
        self.out = head.out
        self.hop, self.trim = head.hop, head.trim
        cos, sin = inverse_rdft_basis(head.n_fft, head.window)
        self.register_buffer("cos", cos, persistent=False)  # (c, w)
        self.register_buffer("sin", sin, persistent=False)  # (c, w)
        self.register_buffer("window_sq", head.window.square(), persistent=False)  # (w,)

    def forward(self, mel: Tensor) -> Tensor:
        x = self.backbone(mel)  # (b, n, d)
        log_mag, phase = self.out(x).chunk(2, dim=-1)  # (b, n, c) each
        magnitude = log_mag.clamp(max=LOG_MAGNITUDE_CAP).exp()
        frames = (magnitude * phase.cos()) @ self.cos + (magnitude * phase.sin()) @ self.sin
        wav = overlap_add_blocks(frames, self.hop)  # (b, (n - 1)·hop + w)
        squares = torch.ones_like(frames[:1]) * self.window_sq  # (1, n, w)
        envelope = overlap_add_blocks(squares, self.hop)  # (1, (n - 1)·hop + w)
        if self.trim:
            wav, envelope = wav[:, self.trim : -self.trim], envelope[:, self.trim : -self.trim]
        return wav / envelope


class HiFiGANGraph(nn.Module):
    """Log-mel (b, n, f) -> waveform (b, n·hop), the numbers of ``HiFiGAN.forward``, on a copy
    whose weight norm is folded into plain weights."""

    def __init__(self, hifigan: HiFiGAN) -> None:
        super().__init__()
        # a new module, not a deepcopy: a copy shares the parametrized classes with the
        # original, and removing weight norm from it would strip the original's weights
        self.generator = HiFiGAN(hifigan.config)
        self.generator.load_state_dict(hifigan.state_dict())
        self.generator.remove_weight_norm().eval()
        self.extra = hifigan.config.extra_samples

    def forward(self, mel: Tensor) -> Tensor:
        wav = self.generator.forward_full(mel)  # (b, n·hop + extra)
        return wav[:, : -self.extra] if self.extra else wav


def vocoder_graph(vocoder: nn.Module) -> nn.Module | None:
    """The graph module of a neural vocoder (Vocos, HiFi-GAN); None for anything else
    (Griffin-Lim stays in torch)."""
    if isinstance(vocoder, Vocos):
        return VocosGraph(vocoder).eval()
    if isinstance(vocoder, HiFiGAN):
        return HiFiGANGraph(vocoder).eval()
    return None
