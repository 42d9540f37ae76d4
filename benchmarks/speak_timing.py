"""Timing and mel capture shared by the speed benchmarks that compare two ways of running one
model through ``Synthesizer.speak`` (benchmarks/onnx_speed.py, benchmarks/precision_speed.py).
"""
# n: frames, f: mel bins

from __future__ import annotations

import time

import torch

from flowvox.infer import Synthesizer


class RecordingVocoder(torch.nn.Module):
    """Wraps a vocoder and keeps the mels it is given (for the mel comparison)."""

    def __init__(self, vocoder: torch.nn.Module) -> None:
        super().__init__()
        self.inner, self.config = vocoder, vocoder.config
        self.mels: list[torch.Tensor] = []

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # (1, n, f) -> (1, s)
        self.mels.append(mel[0].clone())
        return self.inner(mel)


def time_lines(synth: Synthesizer, lines: list[str], prompt, opts) -> tuple[float, float]:
    """(compute seconds, audio seconds) of speaking ``lines`` one at a time."""
    compute = audio = 0.0
    for text in lines:
        start = time.perf_counter()
        speech = synth.speak(text, *prompt, options=opts)
        compute += time.perf_counter() - start
        audio += speech.duration
    return compute, audio


def mels_of(synth: Synthesizer, lines: list[str], prompt, opts) -> list[torch.Tensor]:
    """The generated mel (n, f) of each chunk of ``lines``, via a recording vocoder (chunks
    are cut from the text alone, so every backend and precision has the same ones)."""
    recorder = RecordingVocoder(synth.vocoder)
    twin = Synthesizer(synth.backend, None, recorder)  # int8: quantised alike (deterministic)
    for text in lines:
        twin.speak(text, *prompt, options=opts)
    return recorder.mels
