"""ConvNeXt blocks (Liu et al. 2022) for 1D sequences, as used by the Vocos backbone.

# b: batch, n: frames, d: channels, h: hidden channels of the pointwise MLP, k: kernel taps
Sequences enter and leave as (b, n, d) and stay in that memory layout: the depthwise
convolution runs as a channels-last 2D convolution over a (b, d, 1, n) view of the same memory,
which on CPU is several times faster than Conv1d on a (b, d, n) copy and needs no transposes.
F5-TTS's text encoder uses the ConvNeXt-V2 variant (GRN instead of layer scale), which lives
beside this one in ``flowvox.nn.convnext_v2``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from flowvox.nn.fused_linear import PackedLinear, fused_linear


def conv1d_channels_last(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """Apply ``conv`` (stride 1, "same" padding) along n of x (b, n, d_in) -> (b, n, d_out).

    Same numbers as ``conv(x.transpose(1, 2)).transpose(1, 2)``; the input is read in place as
    a channels-last (b, d_in, 1, n) image and the output comes back contiguous in (b, n, d_out).
    """
    y = F.conv2d(
        x.transpose(1, 2).unsqueeze(2),  # (b, d_in, 1, n) view, channels-last memory
        conv.weight.unsqueeze(2),  # (d_out, d_in / groups, 1, k)
        conv.bias,
        padding=(0, conv.padding[0]),
        dilation=(1, conv.dilation[0]),
        groups=conv.groups,
    )  # (b, d_out, 1, n), channels-last memory
    return y.squeeze(2).transpose(1, 2)  # (b, n, d_out), contiguous


class ConvNeXtBlock(nn.Module):
    """One ConvNeXt block with layer scale on a (b, n, d) sequence.

    y = x + γ ⊙ (W₂ GELU(W₁ LN(dwconv(x)) + b₁) + b₂)

    dwconv is depthwise along n (kernel ``kernel_size``, zero "same" padding), LN a LayerNorm
    over d (eps 1e-6), W₁: d → h and W₂: h → d the pointwise convolutions stored as Linear
    layers, GELU the exact (erf) one and γ a learned per-channel scale starting at
    ``layer_scale_init`` (``None``: no γ). Parameter names ``dwconv``, ``norm``, ``pwconv1``,
    ``pwconv2``, ``gamma`` are those of the released Vocos weights.
    """

    def __init__(
        self,
        dim: int,
        hidden_dim: int,
        kernel_size: int = 7,
        layer_scale_init: float | None = None,
        eps: float = 1e-6,
    ):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"ConvNeXtBlock kernel_size {kernel_size}: use an odd size")
        self.dwconv = nn.Conv1d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=eps)
        self.pwconv1 = nn.Linear(dim, hidden_dim)
        self.pwconv2 = nn.Linear(hidden_dim, dim)
        if layer_scale_init is None:
            self.gamma = None
        else:
            self.gamma = nn.Parameter(torch.full((dim,), float(layer_scale_init)))
        # oneDNN copies of the pointwise weights for inference (not in the state dict)
        self.packed = (PackedLinear(), PackedLinear())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(b, n, d) -> (b, n, d).

        Outside autograd on CPU the MLP runs as two fused oneDNN linears: W₁ with GELU, and
        W₂ with γ folded in and the residual add fused (see ``flowvox.nn.fused_linear``);
        elsewhere the same formula step by step.
        """
        h = self.norm(conv1d_channels_last(x, self.dwconv))  # (b, n, d)
        w1, b1 = self.pwconv1.weight, self.pwconv1.bias
        h = fused_linear(h, w1, b1, "gelu", packed=self.packed[0])  # (b, n, h)
        w2, b2 = self.pwconv2.weight, self.pwconv2.bias
        return fused_linear(h, w2, b2, residual=x, scale=self.gamma, packed=self.packed[1])
