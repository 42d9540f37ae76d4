"""Sound from a caption: latent text-to-audio (LAFMA) = caption -> latents -> mel -> waveform.

# b: batch, c: latent channels, t: latent frames, f: latent bins, n: mel frames, s: samples
A sound-model folder is a ``LatentFlow`` model folder (family "tta": model.safetensors,
config.json, vocab if any) with two folders inside it (or config.json top-level "vae" /
"vocoder" paths relative to it):

    vae/        a ``MelVAE`` folder (family "tta_vae"); its ``mel`` preset is the audio's mel
    vocoder/    a vocoder folder for that mel (else Griffin-Lim, with a warning)

config.json may also hold "default_seconds" (10.24) and "max_seconds" (30.0): the longest
sound it makes; the DiT has no fixed length, so this bounds memory and time, not the network.

Seconds become mel frames n = round(seconds · rate / hop / r) · r (r the VAE's down factor,
4: 40 ms steps at 16 kHz, hop 160), latent frames n / r, and n · hop samples of audio.
Guidance is LAFMA's u = u_u + w (u_c - u_u): ``cfg`` w = 1 is off (one network pass), 0
ignores the caption (unconditional sound), LAFMA uses 3. Row i's noise comes from its own
seed and every stage runs per row or on equal-length rows, so a row's sound does not depend
on its batch.

    gen = SoundGenerator.from_pretrained("runs/tta/sound")
    wav, sr = gen.generate("a dog barks twice", seconds=5, seed=0)
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from flowvox.audio.mel import MelConfig, MelSpectrogram, get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.infer.model_dir import named_vocoder
from flowvox.infer.vocode import vocode_mels
from flowvox.models.loading import CONFIG_FILE, describe_folder, load_model_dir, read_config_json
from flowvox.models.tta.config import TTA_FAMILY
from flowvox.models.tta.model import LatentFlow
from flowvox.models.tta.text import caption_batch
from flowvox.models.tta.vae import MelVAE, load_vae
from flowvox.vocoders.io import resolve_vocoder

LOG = logging.getLogger("flowvox.infer")
BUNDLED_SOUND_DIR = Path(__file__).resolve().parent.parent / "sound_model"
DEFAULT_SECONDS, MAX_SECONDS = 10.24, 30.0
SEED_RANGE = 2**31 - 1


@dataclass(frozen=True)
class StageTimes:
    """Compute seconds by stage: caption encoding + flow sampling, VAE decode, vocoder."""

    flow: float = 0.0
    vae: float = 0.0
    vocoder: float = 0.0

    @property
    def total(self) -> float:
        return self.flow + self.vae + self.vocoder

    def __add__(self, other: StageTimes) -> StageTimes:
        return StageTimes(
            self.flow + other.flow, self.vae + other.vae, self.vocoder + other.vocoder
        )

    def summary(self, audio_seconds: float) -> str:
        """'RTF 0.120 (flow 0.080, VAE 0.020, vocoder 0.020)': compute s per audio s."""
        a = max(audio_seconds, 1e-9)
        return (
            f"RTF {self.total / a:.3f} (flow {self.flow / a:.3f}, VAE {self.vae / a:.3f}, "
            f"vocoder {self.vocoder / a:.3f})"
        )


@dataclass(frozen=True)
class Sound:
    """One sound: ``wav`` (s,) float32 in [-1, 1] at ``sample_rate``; the ``seed`` of its
    noise; ``times`` of its batch. Unpacks as ``wav, sr = sound``."""

    wav: np.ndarray
    sample_rate: int
    seed: int
    times: StageTimes

    def __iter__(self) -> Iterator:
        return iter((self.wav, self.sample_rate))

    @property
    def seconds(self) -> float:
        return len(self.wav) / self.sample_rate


def check_caption(caption: str, where: str = "CAPTION") -> str:
    """The caption stripped; refused when empty or with nothing readable (no letter/digit)."""
    if not isinstance(caption, str) or not caption.strip():
        raise FlowvoxError(f"{where} is empty; describe the sound, e.g. 'a dog barks twice'")
    if not any(ch.isalnum() for ch in caption):
        raise FlowvoxError(
            f"{where} {caption.strip()[:40]!r} has nothing readable (no letter or digit); "
            "describe the sound in words"
        )
    return caption.strip()


def check_sampling(seconds: float | None, steps: int, cfg: float) -> None:
    """Refuse seconds <= 0, steps < 1, cfg < 0 (each a one-line ``FlowvoxError``)."""
    if seconds is not None and not (math.isfinite(seconds) and seconds > 0):
        raise FlowvoxError(f"seconds={seconds}: give a positive length, e.g. 10.24")
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise FlowvoxError(f"steps={steps}: give at least 1 flow step (LAFMA uses 10)")
    if not (math.isfinite(cfg) and cfg >= 0):
        raise FlowvoxError(f"cfg={cfg}: give a guidance weight >= 0 (1: off, LAFMA: 3)")


def _named_folder(folder: Path, key: str, what: str) -> Path | None:
    """``folder/<key>/`` when it has a config.json, else config.json's top-level ``key``."""
    if (folder / key / CONFIG_FILE).is_file():
        return folder / key
    named = read_config_json(folder / CONFIG_FILE).get(key)
    if named is None:
        return None
    if not isinstance(named, str) or not (folder / named).is_dir():
        raise FlowvoxError(f"{folder / CONFIG_FILE}: {key}={named!r} is not a {what} folder")
    return folder / named


def _seconds_setting(data: dict, key: str, default: float, path: Path) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise FlowvoxError(f"{path}: {key}={value!r} must be a positive number of seconds")
    return float(value)


class SoundGenerator:
    """Captions -> sounds with a ``LatentFlow``, its ``MelVAE`` and a vocoder for the VAE's mel
    (see the module docstring); ``from_pretrained`` reads a sound-model folder."""

    def __init__(
        self,
        model: LatentFlow,
        tokenizer,
        vae: MelVAE,
        vocoder: nn.Module,
        default_seconds: float = DEFAULT_SECONDS,
        max_seconds: float = MAX_SECONDS,
    ) -> None:
        self.model, self.tokenizer, self.vae = model.eval(), tokenizer, vae.eval()
        self.vocoder = vocoder.eval()
        self.mel: MelConfig = get_mel_preset(vae.config.mel)
        self.default_seconds, self.max_seconds = default_seconds, max_seconds
        c, f, r = model.config.latent_channels, model.config.latent_freq, self.down_factor
        if (vae.config.latent_channels, vae.config.n_mels // r) != (c, f):
            raise FlowvoxError(
                f"the mel VAE makes latents ({vae.config.latent_channels}, T, "
                f"{vae.config.n_mels // r}) but the model generates ({c}, T, {f}); pair the "
                "model with the VAE it was trained on"
            )
        self.scale = float(model.config.scaling_factor)  # what the flow was trained with
        if not math.isclose(self.scale, vae.config.scaling_factor, rel_tol=1e-4):
            LOG.warning(
                "the model was trained with latent scaling %s but the VAE says %s; using the "
                "model's", self.scale, vae.config.scaling_factor,
            )  # fmt: skip

    @classmethod
    def from_pretrained(
        cls,
        folder: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        vocoder: str | os.PathLike | nn.Module | None = None,
    ) -> SoundGenerator:
        """Load a sound-model folder (None: the bundled ``flowvox/sound_model/``); ``vocoder``
        overrides the folder's (a vocoder folder, "griffin-lim" or a module)."""
        if folder is None:
            if not (BUNDLED_SOUND_DIR / "model.safetensors").is_file():
                raise FlowvoxError(
                    "no sound model is bundled with this flowvox yet; pass a sound-model folder "
                    "(flowvox sound --model DIR, or SoundGenerator.from_pretrained('DIR'))"
                )
            folder = BUNDLED_SOUND_DIR
        folder = Path(folder)
        if not folder.is_dir():
            raise FlowvoxError(f"sound model {str(folder)!r}: no such folder; pass --model DIR")
        path = folder / CONFIG_FILE
        data = read_config_json(path)
        if not TTA_FAMILY.holds(data):
            raise FlowvoxError(
                f"{folder}: {describe_folder(data)} is not a sound model (family 'tta'); pass "
                "a latent text-to-audio folder (a speech model speaks with `flowvox speak`)"
            )
        vae_dir = _named_folder(folder, "vae", "mel VAE")
        if vae_dir is None:
            raise FlowvoxError(f'{folder}: no vae/ folder (and no "vae" in {CONFIG_FILE})')
        vae = load_vae(vae_dir, device)
        mel = get_mel_preset(vae.config.mel)
        if vocoder is None:
            vocoder = named_vocoder(folder)
            if vocoder is None:
                LOG.warning(
                    "sound model %s names no vocoder: using Griffin-Lim for mel %r (low "
                    "quality; put a vocoder folder in %s)", folder, mel.name, folder / "vocoder",
                )  # fmt: skip
        voc = resolve_vocoder(vocoder, mel, device, acoustic_name=f"mel VAE {vae_dir}")
        loaded = load_model_dir(folder, LatentFlow, device)
        default = _seconds_setting(data, "default_seconds", DEFAULT_SECONDS, path)
        longest = _seconds_setting(data, "max_seconds", MAX_SECONDS, path)
        return cls(loaded.model, loaded.tokenizer, vae, voc, min(default, longest), longest)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def sample_rate(self) -> int:
        return self.mel.sample_rate

    @property
    def down_factor(self) -> int:
        """Mel frames per latent frame (the VAE's down-sampling factor r)."""
        return self.vae.config.downsample_factor

    def mel_spectrogram(self, wav: np.ndarray) -> torch.Tensor:
        """The VAE's log-mel (n, m) of a mono wav at ``sample_rate``, cut to a multiple of r
        frames (at least r): what the VAE encodes (copy synthesis, the training data)."""
        if getattr(self, "_mel_of", None) is None:
            self._mel_of = MelSpectrogram(self.mel).to(self.device)
        samples = torch.as_tensor(np.asarray(wav, dtype=np.float32), device=self.device)
        with torch.inference_mode():
            mel = self._mel_of(samples).T  # (n, m)
        r = self.down_factor
        if mel.shape[0] < r:
            raise FlowvoxError(f"a clip of {len(wav)} samples is shorter than {r} mel frames")
        return mel[: mel.shape[0] - mel.shape[0] % r]

    def mel_frames(self, seconds: float | None = None) -> int:
        """Mel frames for ``seconds`` (None: the model default), a multiple of r (>= r)."""
        seconds = self.default_seconds if seconds is None else seconds
        check_sampling(seconds, 1, 1.0)
        if seconds > self.max_seconds:
            raise FlowvoxError(
                f"seconds={seconds}: this sound model makes at most {self.max_seconds:g} s; "
                "ask for less (or generate pieces)"
            )
        r = self.down_factor
        return max(r, round(seconds * self.sample_rate / self.mel.hop_length / r) * r)

    def generate(
        self,
        caption: str,
        seconds: float | None = None,
        steps: int = 10,
        cfg: float = 3.0,
        seed: int | None = None,
    ) -> Sound:
        """One sound for ``caption``; ``wav, sr = gen.generate(...)``. ``seed`` None draws one
        (kept in ``Sound.seed``)."""
        return self.generate_batch([caption], seconds, steps, cfg, seed)[0]

    def generate_batch(
        self,
        captions: Sequence[str],
        seconds: float | None = None,
        steps: int = 10,
        cfg: float = 3.0,
        seed: int | None = None,
        seeds: Sequence[int] | None = None,
    ) -> list[Sound]:
        """Sounds of equal length for ``captions`` as one padded batch (each ``Sound.times``
        is the batch's); caption i's noise from ``seeds[i]`` (default ``seed + i``), so it
        gets the sound it gets alone."""
        if isinstance(captions, str) or not captions:
            raise FlowvoxError("generate_batch takes a non-empty list of captions")
        captions = [check_caption(c, f"caption {i + 1}") for i, c in enumerate(captions)]
        check_sampling(seconds, steps, cfg)
        if seeds is None:
            base = secrets.randbelow(SEED_RANGE) if seed is None else seed
            seeds = [base + i for i in range(len(captions))]
        if len(seeds) != len(captions):
            raise FlowvoxError(f"{len(seeds)} seeds for {len(captions)} captions; give one each")
        n = self.mel_frames(seconds)
        samples = n * self.mel.hop_length
        t0 = _now(self.device)
        ids, mask = self._tokenize(captions)
        out = self.model.sample(ids, mask, n // self.down_factor, steps, cfg, seeds=list(seeds))
        t1 = _now(self.device)
        with torch.inference_mode():
            mels = self.vae.decode(out.latents / self.scale)  # (b, n, m): equal-length rows
        t2 = _now(self.device)
        wavs = vocode_mels(self.vocoder, list(mels.float()))  # one call per mel
        times = StageTimes(t1 - t0, t2 - t1, _now(self.device) - t2)
        fit = [_fit(w, samples) for w in wavs]
        return [Sound(w, self.sample_rate, int(s), times) for w, s in zip(fit, seeds, strict=True)]

    def _tokenize(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (b, l), mask (b, l) with the model's tokenizer (T5's own for a T5 encoder)."""
        limit = self.model.config.max_caption_tokens
        if self.model.t5 is not None:
            return self.model.t5.tokenize(captions, limit)
        all_unknown = getattr(self.tokenizer, "all_unknown", None)
        for caption in captions:
            if all_unknown is not None and all_unknown(caption):
                raise FlowvoxError(
                    f"caption {caption[:40]!r}: none of its characters is in the model's vocab"
                )
        return caption_batch(self.tokenizer.encode, captions, limit)


def _fit(wav: np.ndarray, samples: int) -> np.ndarray:
    """``wav`` cut or zero-padded to ``samples``, clipped to [-1, 1], float32."""
    wav = np.asarray(wav, dtype=np.float32)[:samples]
    wav = np.pad(wav, (0, samples - len(wav)))
    return np.clip(wav, -1.0, 1.0)


def _now(device: torch.device) -> float:
    """perf_counter after the device's queued work is done (CUDA is synchronised)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
