"""Copy synthesis of the ground-truth clips through a sound model's own parts.

# s: samples, n: mel frames, m: mel bins, c: latent channels, t: latent frames, f: latent bins
Two systems judged beside the generated ones, so a generated clip's failures can be told
from what the VAE and the vocoder lose on their own:

    "copy: vocoder"        clip -> the VAE's log-mel -> the vocoder
    "copy: VAE + vocoder"  clip -> log-mel -> VAE encode (posterior mean) -> decode -> vocoder

For the VAE system each clip's reconstruction error ``mean |decode(encode(mel)) - mel|``
(log-mel, natural log, over the clip's n' = n - n mod r frames) is kept in
``<folder>/mel_l1.json``; the system's figure is the mean over its clips. Clips already
written are kept (a rerun does only what is missing).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from flowvox.audio.io import load_audio, save_audio
from flowvox.infer.vocode import vocode_mels
from flowvox.utils.atomic import atomic_write_text

if TYPE_CHECKING:  # the generator's module loads models; the run module passes one in
    from flowvox.infer.sound import SoundGenerator

COPY_VOCODER, COPY_VAE = "copy: vocoder", "copy: VAE + vocoder"
COPY_FOLDERS = {COPY_VOCODER: "copy_vocoder", COPY_VAE: "copy_vae"}
MEL_L1 = "mel_l1.json"


def copy_synthesise(
    gen: SoundGenerator, clips: dict[int, Path], folder: Path, through_vae: bool
) -> float | None:
    """Write ``folder/<index:06d>.wav`` for every clip path of ``clips`` (manifest index ->
    audio) not yet there; returns the mean VAE mel L1 over all of them (None without the
    VAE)."""
    folder.mkdir(parents=True, exist_ok=True)
    l1_path = folder / MEL_L1
    l1: dict[str, float] = (
        json.loads(l1_path.read_text(encoding="utf-8")) if l1_path.is_file() else {}
    )
    for index, audio in clips.items():
        out = folder / f"{index:06d}.wav"
        if out.is_file() and (not through_vae or str(index) in l1):
            continue
        clip = load_audio(audio, gen.sample_rate)
        mel = gen.mel_spectrogram(clip.wav)  # (n, m), n a multiple of r
        with torch.inference_mode():
            if through_vae:
                recon = gen.vae.decode(gen.vae.encode(mel[None]).mode())[0]  # (n, m)
                l1[str(index)] = float((recon - mel).abs().mean())
                mel = recon
        audio_out = vocode_mels(gen.vocoder, [mel.float()])[0]
        samples = len(clip.wav)
        audio_out = np.pad(audio_out[:samples], (0, max(0, samples - len(audio_out))))
        save_audio(out, np.clip(audio_out, -1.0, 1.0), gen.sample_rate, "FLOAT")
        if through_vae:
            atomic_write_text(l1_path, json.dumps(l1))
    if not through_vae:
        return None
    values = [l1[str(i)] for i in clips]
    return float(np.mean(values)) if values else None
