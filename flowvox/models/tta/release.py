"""AudioLDM's released parts, read from local folders in diffusers / transformers layout.

# b: batch, n: mel frames, f: mel bins (64), s: samples (n · 160)
- ``load_diffusers_vae(folder)``: a ``vae/`` folder of diffusers' ``AutoencoderKL``
  (config.json + diffusion_pytorch_model.safetensors or .bin) -> ``MelVAE``, same weights.
- ``load_speecht5_hifigan(folder)``: a ``vocoder/`` folder of transformers'
  ``SpeechT5HifiGan`` (config.json + model.safetensors or pytorch_model.bin) ->
  ``SpeechT5Vocoder``: flowvox's ``HiFiGAN`` (mel preset lafma16k) behind the optional
  input normalisation (mel - mean) / scale that SpeechT5HifiGan has and HiFiGAN has not.

Neither package is imported: the folders are read with json, safetensors, and
``torch.load(weights_only=True)`` (nothing else is unpickled). Unknown block types and
configs that do not fit are one-line ``FlowvoxError``s.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from flowvox.audio.mel import get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.models.tta.vae import MelVAE
from flowvox.models.tta.vae_config import MelVAEConfig
from flowvox.nn.state_dict import check_state_dict
from flowvox.utils.json_files import read_json_object
from flowvox.vocoders.hifigan import HiFiGAN, HiFiGANConfig

VAE_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
VOCODER_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
MEL_PRESET = "lafma16k"
DIFFUSERS_SCALING_DEFAULT = 0.18215  # AutoencoderKL's scaling_factor when config.json has none
# The names diffusers < 0.15 gave the mid-block attention (diffusers renames them on load).
_OLD_ATTENTION = {".query.": ".to_q.", ".key.": ".to_k.", ".value.": ".to_v.",
                  ".proj_attn.": ".to_out.0."}  # fmt: skip
# SpeechT5HifiGan keys -> flowvox HiFiGAN keys (old-style weight norm -> parametrizations).
_VOCODER_RENAMES = {".weight_g": ".parametrizations.weight.original0",
                    ".weight_v": ".parametrizations.weight.original1"}  # fmt: skip


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path, "a released folder needs its config.json")


def _read_weights(folder: Path, names: tuple[str, ...]) -> dict[str, torch.Tensor]:
    """The first of ``names`` present in ``folder``: safetensors, or a tensor-only torch file."""
    for name in names:
        path = folder / name
        if not path.is_file():
            continue
        try:
            if name.endswith(".safetensors"):
                return load_file(path, device="cpu")
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (SafetensorError, pickle.UnpicklingError, RuntimeError, OSError, ValueError) as err:
            first = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise FlowvoxError(f"{path}: not a readable weights file ({first})") from err
        if not isinstance(state, dict) or not all(
            isinstance(v, torch.Tensor) for v in state.values()
        ):
            raise FlowvoxError(f"{path}: expected a state dict of tensors")
        return state
    raise FlowvoxError(f"{folder}: no weights file; expected one of {', '.join(names)}")


def _expect(path: Path, data: dict[str, Any], key: str, allowed: tuple[Any, ...]) -> None:
    value = data.get(key, allowed[0])
    if value not in allowed:
        raise FlowvoxError(
            f"{path}: {key}={value!r} is not supported by flowvox's mel VAE (expected "
            f"{' or '.join(repr(a) for a in allowed)})"
        )


def vae_config_from_diffusers(path: Path, data: dict[str, Any]) -> MelVAEConfig:
    """The ``MelVAEConfig`` of a diffusers AutoencoderKL config.json (only the AudioLDM
    layout: DownEncoderBlock2D / UpDecoderBlock2D, silu, mid attention, quant convs)."""
    _expect(path, data, "_class_name", ("AutoencoderKL",))
    for key, kind in (("down_block_types", "DownEncoderBlock2D"),
                      ("up_block_types", "UpDecoderBlock2D")):  # fmt: skip
        unknown = sorted({t for t in data.get(key, [kind]) if t != kind})
        if unknown:
            raise FlowvoxError(
                f"{path}: {key} {unknown} unknown; flowvox's mel VAE has only {kind}"
            )
    _expect(path, data, "act_fn", ("silu",))
    for key in ("mid_block_add_attention", "use_quant_conv", "use_post_quant_conv"):
        _expect(path, data, key, (True,))
    for key in ("latents_mean", "latents_std", "shift_factor"):
        _expect(path, data, key, (None, 0.0))
    widths = tuple(data.get("block_out_channels", (64,)))
    for key in ("down_block_types", "up_block_types"):
        if key in data and len(data[key]) != len(widths):
            raise FlowvoxError(
                f"{path}: {len(data[key])} {key} for {len(widths)} block_out_channels"
            )
    scaling = data.get("scaling_factor")
    try:
        return MelVAEConfig(
            in_channels=int(data.get("in_channels", 3)),
            out_channels=int(data.get("out_channels", 3)),
            latent_channels=int(data.get("latent_channels", 4)),
            block_out_channels=widths,
            layers_per_block=int(data.get("layers_per_block", 1)),
            norm_num_groups=int(data.get("norm_num_groups", 32)),
            scaling_factor=float(DIFFUSERS_SCALING_DEFAULT if scaling is None else scaling),
            mel=MEL_PRESET,
        )
    except FlowvoxError as err:
        raise FlowvoxError(f"{path}: {err}") from err


def load_diffusers_vae(folder: str | os.PathLike) -> MelVAE:
    """A released AudioLDM ``vae/`` folder (diffusers AutoencoderKL) as a ``MelVAE`` with the
    same weights and ``scaling_factor``, in eval mode on the CPU."""
    folder = Path(folder)
    config_path = folder / "config.json"
    config = vae_config_from_diffusers(config_path, _read_json(config_path))
    state = {}
    for key, value in _read_weights(folder, VAE_WEIGHTS).items():
        if ".attentions." in key:
            for old, new in _OLD_ATTENTION.items():
                key = key.replace(old, new)
            if value.dim() == 4:  # 1×1 conv projections of old checkpoints -> linear
                value = value[:, :, 0, 0]
        state[key] = value
    model = MelVAE(config)
    check_state_dict(model, state, f"{folder} (AutoencoderKL)", "pass the vae/ folder whole")
    model.load_state_dict(state)
    return model.eval()


class SpeechT5Vocoder(nn.Module):
    """transformers' SpeechT5HifiGan in flowvox: log-mel (b, n, f) -> waveform (b, s).

    wav = hifigan((mel − mean) / scale) when ``normalize_before``, else hifigan(mel);
    ``mean`` and ``scale`` are (f,) buffers (AudioLDM's vocoder does not normalise).
    s = n · hop + ``hifigan.config.extra_samples``, exactly as SpeechT5HifiGan gives: a stage
    with k − u odd yields n_i · u + 1 samples (AudioLDM: u = 5, k = 16, so s = 160 n + 32;
    AudioLDM's pipeline cuts the waveform to the asked length afterwards, as flowvox's
    ``HiFiGAN.forward`` does).
    """

    def __init__(self, hifigan: HiFiGAN, normalize_before: bool):
        super().__init__()
        self.hifigan = hifigan
        self.normalize_before = normalize_before
        f = hifigan.config.mel.n_mels
        self.register_buffer("mean", torch.zeros(f))
        self.register_buffer("scale", torch.ones(f))

    @property
    def sample_rate(self) -> int:
        return self.hifigan.config.mel.sample_rate

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        if self.normalize_before:
            mel = (mel - self.mean) / self.scale  # (b, n, f)
        return self.hifigan.forward_full(mel)  # (b, s): the release's full length

    def to_hifigan(self) -> HiFiGAN:
        """The flowvox ``HiFiGAN`` alone (to save as a vocoder folder; its ``forward`` gives
        exactly n · hop samples); refused when the release normalises its input, which a
        HiFiGAN folder cannot hold."""
        if self.normalize_before:
            raise FlowvoxError(
                "this SpeechT5HifiGan has normalize_before=true, which a flowvox HiFiGAN folder "
                "cannot store yet; use the SpeechT5Vocoder itself"
            )
        return self.hifigan


def hifigan_config_from_speecht5(path: Path, data: dict[str, Any]) -> HiFiGANConfig:
    """The flowvox ``HiFiGANConfig`` (mel preset lafma16k) of a SpeechT5HifiGanConfig."""
    mel = get_mel_preset(MEL_PRESET)
    n_mels, rate = data.get("model_in_dim", 80), data.get("sampling_rate", 16000)
    if n_mels != mel.n_mels or rate != mel.sample_rate:
        raise FlowvoxError(
            f"{path}: model_in_dim={n_mels}, sampling_rate={rate} do not fit mel preset "
            f"{MEL_PRESET!r} ({mel.n_mels} bins, {mel.sample_rate} Hz); only AudioLDM-style "
            "16 kHz 64-bin vocoders load here"
        )
    rates = tuple(data.get("upsample_rates", (4, 4, 4, 4)))
    kernels = tuple(data.get("upsample_kernel_sizes", (8, 8, 8, 8)))
    if len(rates) != len(kernels):
        raise FlowvoxError(f"{path}: upsample_rates and upsample_kernel_sizes differ in length")
    try:
        config = HiFiGANConfig(
            mel=mel,
            resblock="1",
            upsample_rates=rates,
            upsample_kernel_sizes=kernels,
            upsample_initial_channel=int(data.get("upsample_initial_channel", 512)),
            resblock_kernel_sizes=tuple(data.get("resblock_kernel_sizes", (3, 7, 11))),
            resblock_dilation_sizes=tuple(
                tuple(d) for d in data.get("resblock_dilation_sizes", [[1, 3, 5]] * 3)
            ),
            leaky_slope=float(data.get("leaky_relu_slope", 0.1)),
            final_leaky_slope=0.01,  # SpeechT5HifiGan: F.leaky_relu's default before conv_post
        )
    except FlowvoxError as err:
        raise FlowvoxError(f"{path}: {err}") from err
    return config


def load_speecht5_hifigan(folder: str | os.PathLike) -> SpeechT5Vocoder:
    """A released AudioLDM ``vocoder/`` folder (transformers SpeechT5HifiGan) as a
    ``SpeechT5Vocoder`` with the same weights, in eval mode on the CPU.

    Keys map ``upsampler.i`` -> ``ups.i``; weights saved plain (weight norm removed, as
    transformers saves by default) load into a HiFiGAN with weight norm removed; weights
    saved with weight norm (``parametrizations.weight.original0/1`` or ``weight_g/v``) keep it.
    """
    folder = Path(folder)
    config_path = folder / "config.json"
    data = _read_json(config_path)
    config = hifigan_config_from_speecht5(config_path, data)
    vocoder = SpeechT5Vocoder(HiFiGAN(config), bool(data.get("normalize_before", True)))
    state = {}
    for key, value in _read_weights(folder, VOCODER_WEIGHTS).items():
        if key.startswith("upsampler."):
            key = "ups." + key[len("upsampler.") :]
        for old, new in _VOCODER_RENAMES.items():
            if key.endswith(old):
                key = key[: -len(old)] + new
        state[key if key in ("mean", "scale") else f"hifigan.{key}"] = value
    if "hifigan.conv_pre.weight" in state:  # saved without weight norm
        vocoder.hifigan.remove_weight_norm()
    check_state_dict(
        vocoder, state, f"{folder} (SpeechT5HifiGan)", "pass the vocoder/ folder whole"
    )
    vocoder.load_state_dict(state)
    return vocoder.eval()
