"""Configuration of the mel VAE (AudioLDM's AutoencoderKL over log-mels) and its presets.

The presets are written here, not as YAML: a VAE's shape comes with its weights (a released
``vae/`` folder or a flowvox model folder), so the presets only name the two shapes in use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from flowvox.audio.mel import get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.models.loading import ModelFamily
from flowvox.utils.config import PresetConfig, apply_overrides

VAE_PRESETS: dict[str, dict[str, Any]] = {
    # AudioLDM / LAFMA: ×4 down in time and frequency, (b, 1, 1024, 64) -> (b, 8, 256, 16).
    "audioldm": dict(block_out_channels=(128, 256, 512), layers_per_block=2, norm_num_groups=32),
    # The same ×4 compression (so a tiny latent model pairs with it) at ~0.2M parameters.
    "tiny": dict(block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=8),
}


@dataclass
class MelVAEConfig(PresetConfig):
    """An AutoencoderKL (diffusers' layout) over a log-mel seen as a one-channel image
    (b, 1, n, f): n frames as height, f mel bins as width.

    The encoder has one down block per entry of ``block_out_channels`` (``layers_per_block``
    resnets each; every block but the last halves n and f), a mid block (resnet, one-head
    self-attention over all n·f positions, resnet) and a conv to 2·``latent_channels``
    (mean, log-variance). The decoder mirrors it with ``layers_per_block`` + 1 resnets per
    up block. ``scaling_factor`` s scales latents for the generator: z_gen = s · z (a
    released checkpoint stores its own, AudioLDM ≈ 0.92). ``mel`` names the mel preset the
    VAE was trained on.
    """

    PRESET_FAMILY: ClassVar[str] = "tta_vae"
    PRESETS: ClassVar[tuple[str, ...]] = tuple(VAE_PRESETS)

    in_channels: int = 1
    out_channels: int = 1
    latent_channels: int = 8
    block_out_channels: tuple[int, ...] = (128, 256, 512)
    layers_per_block: int = 2
    norm_num_groups: int = 32
    scaling_factor: float = 1.0
    mel: str = "lafma16k"

    def __post_init__(self) -> None:
        self.block_out_channels = tuple(self.block_out_channels)
        if self.in_channels != 1 or self.out_channels != 1:
            raise FlowvoxError(
                f"mel VAE in_channels={self.in_channels}, out_channels={self.out_channels}: "
                "a mel VAE reads and writes one channel; set both to 1"
            )
        if not self.block_out_channels:
            raise FlowvoxError("mel VAE block_out_channels is empty; give one width per block")
        bad = [c for c in self.block_out_channels if c % self.norm_num_groups]
        if bad:
            raise FlowvoxError(
                f"mel VAE block_out_channels {list(self.block_out_channels)}: {bad} not divisible "
                f"by norm_num_groups={self.norm_num_groups}; pick widths that are"
            )
        if self.latent_channels < 1 or self.layers_per_block < 1 or self.scaling_factor <= 0:
            raise FlowvoxError(
                "mel VAE latent_channels and layers_per_block must be >= 1 and scaling_factor > 0"
            )
        mel = get_mel_preset(self.mel)
        if mel.n_mels % self.downsample_factor:
            raise FlowvoxError(
                f"mel VAE: mel preset {self.mel!r} has {mel.n_mels} bins, not divisible by the "
                f"VAE's down-sampling factor {self.downsample_factor}; use fewer blocks"
            )

    @property
    def downsample_factor(self) -> int:
        """How much the latent is smaller than the mel along n and f: 2^(blocks - 1)."""
        return 2 ** (len(self.block_out_channels) - 1)

    @property
    def n_mels(self) -> int:
        """Mel bins of the mel preset (the width f of the VAE's input)."""
        return get_mel_preset(self.mel).n_mels

    @classmethod
    def preset(cls, name: str, overrides: Sequence[str] = ()) -> Self:
        """``"audioldm"`` or ``"tiny"`` (see ``VAE_PRESETS``); ``overrides`` are
        ``key=value`` strings as in ``--set``."""
        if name not in VAE_PRESETS:
            raise FlowvoxError(
                f"unknown tta_vae preset {name!r}; choose one of {', '.join(VAE_PRESETS)}"
            )
        return cls.from_dict(apply_overrides(VAE_PRESETS[name], overrides))


# The stamp of its model folders. The VAE has no tokenizer, so MelVAE.from_pretrained
# (vae.load_vae) reads it with loading.load_model, not load_model_dir.
TTA_VAE_FAMILY = ModelFamily("tta_vae", "tta_vae", "a mel VAE", MelVAEConfig)
