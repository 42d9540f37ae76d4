"""An independent HiFi-GAN generator built from the published architecture description.

# b: batch, f: mel bins, s: samples, d: channels
Written from the paper (Kong et al. 2020, sec. 2.1 and appendix A) and the released
config_v{1,2,3}.json semantics, not from flowvox: conv_pre (k 7) → for each upsample stage:
leaky ReLU(0.1) → ConvTranspose1d(k_u, stride u, padding (k_u − u)/2, halving channels) →
multi-receptive-field fusion (mean of one residual block per kernel size) → leaky ReLU →
conv_post (k 7, one channel) → tanh. Residual block "1": per dilation,
x + conv(lrelu(conv_dil(lrelu(x)))); block "2": per dilation, x + conv_dil(lrelu(x)).
The released generator applies torch's default leaky slope (0.01) before conv_post.
Weight norm is the old ``torch.nn.utils.weight_norm`` so the state dict carries
``weight_g``/``weight_v`` exactly as the public ``g_XXXXXXXX`` files do.
"""

import warnings

import torch
import torch.nn.functional as F
from torch import nn

PUBLISHED_CONFIGS = {
    "v1": {
        "resblock": "1",
        "upsample_rates": [8, 8, 2, 2],
        "upsample_kernel_sizes": [16, 16, 4, 4],
        "upsample_initial_channel": 512,
        "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    },
    "v2": {
        "resblock": "1",
        "upsample_rates": [8, 8, 2, 2],
        "upsample_kernel_sizes": [16, 16, 4, 4],
        "upsample_initial_channel": 128,
        "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    },
    "v3": {
        "resblock": "2",
        "upsample_rates": [8, 8, 4],
        "upsample_kernel_sizes": [16, 16, 8],
        "upsample_initial_channel": 256,
        "resblock_kernel_sizes": [3, 5, 7],
        "resblock_dilation_sizes": [[1, 2], [2, 6], [3, 12]],
    },
}


def _wn(module: nn.Module) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return nn.utils.weight_norm(module)


def _same_conv(channels: int, kernel: int, dilation: int) -> nn.Module:
    pad = (kernel * dilation - dilation) // 2
    return _wn(nn.Conv1d(channels, channels, kernel, 1, dilation=dilation, padding=pad))


class ReferenceResBlock(nn.Module):
    def __init__(self, kind: str, channels: int, kernel: int, dilations: list[int]):
        super().__init__()
        self.kind = kind
        if kind == "1":
            self.convs1 = nn.ModuleList([_same_conv(channels, kernel, d) for d in dilations])
            self.convs2 = nn.ModuleList([_same_conv(channels, kernel, 1) for _ in dilations])
        else:
            self.convs = nn.ModuleList([_same_conv(channels, kernel, d) for d in dilations])

    def forward(self, x):
        if self.kind == "1":
            for i in range(len(self.convs1)):
                h = self.convs1[i](F.leaky_relu(x, 0.1))
                h = self.convs2[i](F.leaky_relu(h, 0.1))
                x = h + x
        else:
            for conv in self.convs:
                x = conv(F.leaky_relu(x, 0.1)) + x
        return x


class ReferenceGenerator(nn.Module):
    """(b, 80, n) mel → (b, 1, n · hop) waveform, as in the released inference script."""

    def __init__(self, h: dict, n_mels: int = 80):
        super().__init__()
        self.h = h
        ch = h["upsample_initial_channel"]
        self.conv_pre = _wn(nn.Conv1d(n_mels, ch, 7, 1, padding=3))
        self.ups = nn.ModuleList()
        for i, (u, k) in enumerate(
            zip(h["upsample_rates"], h["upsample_kernel_sizes"], strict=True)
        ):
            c_in, c_out = ch // 2**i, ch // 2 ** (i + 1)
            self.ups.append(_wn(nn.ConvTranspose1d(c_in, c_out, k, u, padding=(k - u) // 2)))
        self.resblocks = nn.ModuleList()
        for i in range(len(self.ups)):
            c = ch // 2 ** (i + 1)
            for k, d in zip(h["resblock_kernel_sizes"], h["resblock_dilation_sizes"], strict=True):
                self.resblocks.append(ReferenceResBlock(h["resblock"], c, k, d))
        self.conv_post = _wn(nn.Conv1d(ch // 2 ** len(self.ups), 1, 7, 1, padding=3))

    def forward(self, x):
        nk = len(self.h["resblock_kernel_sizes"])
        x = self.conv_pre(x)
        for i, up in enumerate(self.ups):
            x = up(F.leaky_relu(x, 0.1))
            outs = torch.stack([self.resblocks[i * nk + j](x) for j in range(nk)])
            x = outs.mean(dim=0)
        x = F.leaky_relu(x)  # default slope 0.01, as released
        return torch.tanh(self.conv_post(x))


def build_reference(version: str, seed: int = 0) -> ReferenceGenerator:
    """A random generator whose every tensor (g, v, bias) is drawn at random.

    The gains g are drawn independently of ‖v‖, so a loader that dropped or swapped g and v
    would produce a different waveform.
    """
    torch.manual_seed(seed)
    gen = ReferenceGenerator(PUBLISHED_CONFIGS[version])
    with torch.no_grad():
        for name, param in gen.named_parameters():
            if name.endswith("weight_v"):
                param.normal_(0.0, 1.0)
            elif name.endswith("weight_g"):
                param.uniform_(0.5, 1.5)  # weight rows of norm ≈ 1: activations stay O(1)
            else:
                param.uniform_(-0.1, 0.1)
    return gen.eval()
