"""HiFi-GAN generator (Kong et al. 2020), V1/V2/V3, named so the public checkpoints load.

# b: batch, n: mel frames, f: mel bins, d: channels, s: samples
The generator maps a log-mel (b, n, f) to a waveform (b, s) with s = n · hop, hop being the
product of the upsample rates (256 for the 22.05 kHz presets, 160 for the 16 kHz ones).
Inside, convolutions run on (b, d, s). Stage i is a transposed conv of rate u and kernel k
with padding ⌊(k − u)/2⌋: n_i samples -> n_i · u when k − u is even, n_i · u + 1 when it is
odd (AudioLDM's vocoder: u = 5, k = 16), the extra sample at the end. The full output then
has n · hop + ``config.extra_samples`` samples (AudioLDM: 160 n + 32); ``forward`` keeps
its first n · hop, which equal transformers' SpeechT5HifiGan's first n · hop (AudioLDM's
pipeline cuts its waveform the same way); ``forward_full`` returns them all.

Module names follow the public jik876/hifi-gan generator: ``conv_pre``,
``ups.{i}``, ``resblocks.{i·K + j}.convs1/convs2.{k}`` (resblock "1") or ``.convs.{k}``
(resblock "2"), ``conv_post``. Weight norm uses ``torch.nn.utils.parametrizations``, so our
keys read ``….parametrizations.weight.original0`` (gain g) and ``original1`` (direction v)
where a release checkpoint has ``….weight_g`` and ``….weight_v``.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from einops import rearrange
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from flowvox.audio.mel import MelConfig, as_mel_config, get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.nn.state_dict import check_state_dict
from flowvox.vocoders.folder import PretrainedVocoder


@dataclass
class HiFiGANConfig:
    """Generator shape. Stage i upsamples by ``upsample_rates[i]`` with a transposed conv of
    kernel ``upsample_kernel_sizes[i]`` and halves the channels (initial d → d/2 → d/4 …); each
    stage then averages one residual block per (kernel size, dilations) pair.
    """

    mel: MelConfig = field(default_factory=lambda: get_mel_preset("hifigan22k"))
    resblock: str = "1"  # "1": two convs per dilation (convs1, convs2); "2": one (convs)
    upsample_rates: tuple[int, ...] = (8, 8, 2, 2)
    upsample_kernel_sizes: tuple[int, ...] = (16, 16, 4, 4)
    upsample_initial_channel: int = 512
    resblock_kernel_sizes: tuple[int, ...] = (3, 7, 11)
    resblock_dilation_sizes: tuple[tuple[int, ...], ...] = ((1, 3, 5), (1, 3, 5), (1, 3, 5))
    leaky_slope: float = 0.1
    # The release applies leaky ReLU with torch's default slope 0.01 just before conv_post.
    final_leaky_slope: float = 0.01

    def __post_init__(self) -> None:
        self.mel = as_mel_config(self.mel)
        self.upsample_rates = tuple(self.upsample_rates)
        self.upsample_kernel_sizes = tuple(self.upsample_kernel_sizes)
        self.resblock_kernel_sizes = tuple(self.resblock_kernel_sizes)
        self.resblock_dilation_sizes = tuple(tuple(d) for d in self.resblock_dilation_sizes)
        if self.resblock not in ("1", "2"):
            raise FlowvoxError(f"hifigan resblock {self.resblock!r}: use '1' or '2'")
        if len(self.upsample_rates) != len(self.upsample_kernel_sizes):
            raise FlowvoxError("hifigan: upsample_rates and upsample_kernel_sizes differ in length")
        if len(self.resblock_kernel_sizes) != len(self.resblock_dilation_sizes):
            raise FlowvoxError(
                "hifigan: resblock_kernel_sizes and resblock_dilation_sizes differ in length"
            )
        for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes, strict=True):
            if k < u:
                raise FlowvoxError(
                    f"hifigan: upsample kernel {k} is shorter than its rate {u}; "
                    "use a kernel of at least the rate (HiFi-GAN: k = 2u)"
                )
        if math.prod(self.upsample_rates) != self.mel.hop_length:
            raise FlowvoxError(
                f"hifigan: upsample_rates {list(self.upsample_rates)} multiply to "
                f"{math.prod(self.upsample_rates)} but mel preset {self.mel.name!r} has hop "
                f"{self.mel.hop_length}; make their product equal the hop"
            )
        if self.upsample_initial_channel % 2 ** len(self.upsample_rates):
            raise FlowvoxError(
                "hifigan: upsample_initial_channel must be divisible by 2 ** len(upsample_rates)"
            )

    @property
    def extra_samples(self) -> int:
        """Samples past n · hop in the full output: e ← e · u + (k − u) mod 2 per stage."""
        extra = 0
        for u, k in zip(self.upsample_rates, self.upsample_kernel_sizes, strict=True):
            extra = extra * u + (k - u) % 2
        return extra

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples as lists, mel as its full dict)."""
        data = asdict(self)
        data["mel"] = self.mel.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> HiFiGANConfig:
        """Inverse of ``to_dict``; ``mel`` may also be a preset name. Unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FlowvoxError(f"hifigan config: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**data)

    @classmethod
    def preset(cls, name: str, mel: MelConfig | str | None = None) -> HiFiGANConfig:
        """The published generator ``v1`` (13.9M params), ``v2`` (0.93M) or ``v3`` (1.46M)
        (mel default hifigan22k), or the 16 kHz ``audioldm16k`` (AudioLDM's vocoder shape)
        and ``audioldm16k-small`` (mel default lafma16k); ``mel`` replaces the default."""
        if name not in HIFIGAN_PRESETS:
            known = ", ".join(HIFIGAN_PRESETS)
            raise FlowvoxError(f"unknown hifigan preset {name!r}; choose one of {known}")
        spec = {"mel": "hifigan22k", **HIFIGAN_PRESETS[name]}
        return cls(**{**spec, "mel": mel if mel is not None else spec["mel"]})


# Published configs (config_v1.json, config_v2.json, config_v3.json of jik876/hifi-gan),
# then the 16 kHz lafma16k shapes (hop 160 = 5·4·2·2·2).
HIFIGAN_PRESETS: dict[str, dict] = {
    "v1": dict(resblock="1", upsample_initial_channel=512),
    "v2": dict(resblock="1", upsample_initial_channel=128),
    "v3": dict(
        resblock="2",
        upsample_rates=(8, 8, 4),
        upsample_kernel_sizes=(16, 16, 8),
        upsample_initial_channel=256,
        resblock_kernel_sizes=(3, 5, 7),
        resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
    ),
    # AudioLDM's vocoder (SpeechT5HifiGan in its vocoder/ folder), ≈ 55M parameters.
    "audioldm16k": dict(
        mel="lafma16k",
        resblock="1",
        upsample_rates=(5, 4, 2, 2, 2),
        upsample_kernel_sizes=(16, 16, 8, 4, 4),
        upsample_initial_channel=1024,
    ),
    # The same stages at V2's width (128): ≈ 0.9M parameters, trainable on a CPU.
    "audioldm16k-small": dict(
        mel="lafma16k",
        resblock="1",
        upsample_rates=(5, 4, 2, 2, 2),
        upsample_kernel_sizes=(16, 16, 8, 4, 4),
        upsample_initial_channel=128,
    ),
}


def _conv(d_in: int, d_out: int, kernel: int, dilation: int = 1) -> nn.Module:
    """Weight-normed 'same' Conv1d, (b, d_in, s) -> (b, d_out, s); weights ~ N(0, 0.01)."""
    conv = nn.Conv1d(d_in, d_out, kernel, dilation=dilation, padding=dilation * (kernel - 1) // 2)
    nn.init.normal_(conv.weight, 0.0, 0.01)
    return weight_norm(conv)


class ResBlock1(nn.Module):
    """x ← x + conv2(lrelu(conv1_dil(lrelu(x)))) for each dilation; (b, d, s) -> (b, d, s)."""

    def __init__(self, dim: int, kernel: int, dilations: tuple[int, ...], slope: float):
        super().__init__()
        self.slope = slope
        self.convs1 = nn.ModuleList(_conv(dim, dim, kernel, dil) for dil in dilations)
        self.convs2 = nn.ModuleList(_conv(dim, dim, kernel) for _ in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        act = nn.functional.leaky_relu
        for conv1, conv2 in zip(self.convs1, self.convs2, strict=True):
            x = x + conv2(act(conv1(act(x, self.slope)), self.slope))
        return x


class ResBlock2(nn.Module):
    """x ← x + conv_dil(lrelu(x)) for each dilation; (b, d, s) -> (b, d, s)."""

    def __init__(self, dim: int, kernel: int, dilations: tuple[int, ...], slope: float):
        super().__init__()
        self.slope = slope
        self.convs = nn.ModuleList(_conv(dim, dim, kernel, dil) for dil in dilations)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = x + conv(nn.functional.leaky_relu(x, self.slope))
        return x


class HiFiGAN(PretrainedVocoder):
    """Log-mel (b, n, f) -> waveform (b, n · hop) in [-1, 1] (see the module docstring)."""

    family = "hifigan"
    config_class = HiFiGANConfig

    def __init__(self, config: HiFiGANConfig):
        super().__init__()
        self.config = config
        cfg = config
        dim = cfg.upsample_initial_channel
        self.conv_pre = weight_norm(nn.Conv1d(cfg.mel.n_mels, dim, 7, padding=3))
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        block = ResBlock1 if cfg.resblock == "1" else ResBlock2
        for rate, kernel in zip(cfg.upsample_rates, cfg.upsample_kernel_sizes, strict=True):
            up = nn.ConvTranspose1d(dim, dim // 2, kernel, rate, padding=(kernel - rate) // 2)
            nn.init.normal_(up.weight, 0.0, 0.01)
            self.ups.append(weight_norm(up))
            dim //= 2
            for k, dilations in zip(
                cfg.resblock_kernel_sizes, cfg.resblock_dilation_sizes, strict=True
            ):
                self.resblocks.append(block(dim, k, dilations, cfg.leaky_slope))
        self.conv_post = _conv(dim, 1, 7)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (b, n, f) -> waveform (b, n · hop): ``forward_full``'s first n · hop."""
        return self.forward_full(mel)[:, : mel.shape[1] * self.config.mel.hop_length]

    def forward_full(self, mel: torch.Tensor) -> torch.Tensor:
        """Log-mel (b, n, f) -> every generated sample (b, n · hop + config.extra_samples)."""
        cfg = self.config
        if mel.dim() != 3 or mel.shape[-1] != cfg.mel.n_mels:
            raise FlowvoxError(
                f"hifigan input: expected a log-mel of shape (batch, frames, {cfg.mel.n_mels}), "
                f"got {tuple(mel.shape)}"
            )
        num_kernels = len(cfg.resblock_kernel_sizes)
        x = self.conv_pre(rearrange(mel, "b n f -> b f n"))  # (b, d, n)
        for i, up in enumerate(self.ups):
            x = up(nn.functional.leaky_relu(x, cfg.leaky_slope))  # (b, d/2, s_i · u_i)
            blocks = self.resblocks[i * num_kernels : (i + 1) * num_kernels]
            total = blocks[0](x)
            for block in blocks[1:]:
                total = total + block(x)
            x = total / num_kernels  # multi-receptive-field fusion: mean over kernels
        x = nn.functional.leaky_relu(x, cfg.final_leaky_slope)
        wav = torch.tanh(self.conv_post(x))  # (b, 1, s)
        return wav.squeeze(1)

    def remove_weight_norm(self) -> HiFiGAN:
        """Fold g · v / ‖v‖ into plain weights (faster inference); returns self."""
        # under no_grad/inference_mode the folded weight would come out as a plain tensor
        with torch.inference_mode(False), torch.enable_grad():
            for module in self.modules():
                if parametrize.is_parametrized(module, "weight"):
                    parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
        return self


_RELEASE_TO_OURS = {
    ".weight_g": ".parametrizations.weight.original0",
    ".weight_v": ".parametrizations.weight.original1",
}


def _rename(state: dict[str, torch.Tensor], table: dict[str, str]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        for old, new in table.items():
            if key.endswith(old):
                key = key[: -len(old)] + new
                break
        out[key] = value
    return out


def release_state_dict(model: HiFiGAN) -> dict[str, dict[str, torch.Tensor]]:
    """Our weights in the release layout ``{"generator": {…weight_g, …weight_v, …bias}}``."""
    ours_to_release = {new: old for old, new in _RELEASE_TO_OURS.items()}
    return {"generator": _rename(model.state_dict(), ours_to_release)}


def _guess_preset(state: dict[str, torch.Tensor]) -> str:
    """Pick v1/v2/v3 from conv_pre's width and the residual block layout."""
    pre = state.get("conv_pre.weight_v", state.get("conv_pre.weight"))
    if pre is None:
        raise FlowvoxError("hifigan checkpoint has no conv_pre weight; is it a HiFi-GAN generator?")
    resblock = "2" if any(k.startswith("resblocks.0.convs.") for k in state) else "1"
    for name, spec in HIFIGAN_PRESETS.items():
        if spec["upsample_initial_channel"] == pre.shape[0] and spec["resblock"] == resblock:
            return name
    raise FlowvoxError(
        f"hifigan checkpoint (width {pre.shape[0]}, resblock {resblock}) matches no preset; "
        "pass its HiFiGANConfig as config="
    )


def load_hifigan_release(path: str | Path, config: HiFiGANConfig | str | None = None) -> HiFiGAN:
    """Load a jik876/hifi-gan generator file (``{"generator": state_dict}``, e.g. g_02500000).

    The file is read with ``torch.load(weights_only=True)`` (no arbitrary unpickling).
    ``config`` is a ``HiFiGANConfig``, a preset name, or None to infer v1/v2/v3 from the
    weights. Old-style weight-norm keys (``weight_g``/``weight_v``) map to our parametrized
    ones; a file whose weight norm was removed (plain ``weight``) loads into a model with
    weight norm removed. Returns the generator in eval mode on the CPU.
    """
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"{path}: no such HiFi-GAN checkpoint file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise FlowvoxError(
            f"{path}: not a tensor-only torch file ({str(err).splitlines()[0]}); "
            "pass the released generator file (g_XXXXXXXX)"
        ) from err
    if isinstance(data, dict) and isinstance(data.get("generator"), dict):
        data = data["generator"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise FlowvoxError(f"{path}: expected {{'generator': state_dict}} or a state dict")
    if config is None:
        config = _guess_preset(data)
    if isinstance(config, str):
        config = HiFiGANConfig.preset(config)
    model = HiFiGAN(config)
    state = _rename(data, _RELEASE_TO_OURS)
    if "conv_pre.weight" in state:  # weight norm already folded in the file
        model.remove_weight_norm()
    check_state_dict(
        model,
        state,
        f"{path} (HiFi-GAN resblock {config.resblock}, width {config.upsample_initial_channel})",
        "pass the matching config=",
    )
    model.load_state_dict(state)
    return model.eval()
