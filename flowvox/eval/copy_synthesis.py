"""Copy synthesis: recorded audio -> the vocoder's own log-mel -> the vocoder -> audio.

# s: samples, n: mel frames, f: mel bins
What a vocoder alone does to speech, apart from any acoustic model: ``flowvox vocode``
writes ``<id>.wav`` per input into a folder that ``flowvox eval run --audio-dir`` judges
beside the recordings (WER, speaker similarity, MCD, F0). Inputs are a test or corpus
manifest (.jsonl: each line's ``audio``, named by its ``id``), a folder of audio files, or
single files (named by their stem). Each input is loaded at the vocoder's sample rate, turned
into the vocoder's mel (``vocoder.config.mel``) and vocoded alone. Files already written are
kept, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from tqdm import tqdm

from flowvox.audio.io import AUDIO_SUFFIXES, load_audio, save_audio
from flowvox.audio.mel import MelSpectrogram
from flowvox.errors import FlowvoxError
from flowvox.eval.items import read_eval_items
from flowvox.infer.vocode import vocode_mels
from flowvox.vocoders.pairing import vocoder_mel


@dataclass(frozen=True)
class CopySource:
    """One recording to resynthesise as ``OUT_DIR/<id>.wav``."""

    id: str
    path: Path


@dataclass
class CopySynthesisReport:
    """What ``copy_synthesize`` did; ``seconds_*`` cover the files written this run."""

    out_dir: Path
    written: int
    kept: int  # already in out_dir from an earlier run
    audio_seconds: float
    compute_seconds: float

    def summary(self) -> str:
        rtf = self.compute_seconds / self.audio_seconds if self.audio_seconds else 0.0
        kept = f", kept {self.kept} from an earlier run" if self.kept else ""
        return (
            f"wrote {self.written} files ({self.audio_seconds:.1f} s of audio, "
            f"RTF {rtf:.3f}) into {self.out_dir}{kept}"
        )


def copy_sources(inputs: Sequence[str | os.PathLike]) -> list[CopySource]:
    """The recordings named by ``inputs``: manifests (.jsonl), folders or audio files.

    Raises ``FlowvoxError`` for a missing input, a manifest line without ``audio``, a folder
    without audio files, or two recordings with the same id.
    """

    sources: list[CopySource] = []
    for name in inputs:
        path = Path(name)
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            for item in read_eval_items(path):
                if item.audio is None:
                    raise FlowvoxError(f"{item.origin}: no 'audio' to resynthesise")
                sources.append(CopySource(item.id, Path(item.audio)))
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                raise FlowvoxError(f"{path}: no audio files ({', '.join(AUDIO_SUFFIXES)})")
            sources.extend(CopySource(p.stem, p) for p in files)
        elif path.is_file():
            sources.append(CopySource(path.stem, path))
        else:
            raise FlowvoxError(f"{path}: no such manifest, folder or audio file")
    seen: dict[str, Path] = {}
    for source in sources:
        if source.id in seen:
            raise FlowvoxError(
                f"two inputs would both write {source.id}.wav: {seen[source.id]} and "
                f"{source.path}; give them different names"
            )
        seen[source.id] = source.path
    return sources


def copy_synthesize(
    sources: Sequence[CopySource],
    out_dir: str | os.PathLike,
    vocoder: nn.Module,
    progress: bool = True,
) -> CopySynthesisReport:
    """Write ``vocoder(mel(audio))`` of every source as ``out_dir/<id>.wav`` (see the module
    docstring); ``vocoder`` is a flowvox vocoder module (``resolve_vocoder`` makes one)."""
    out = Path(out_dir)
    mel_config = vocoder_mel(vocoder)
    front_end = MelSpectrogram(mel_config)  # on the CPU; vocode_mels moves the mel
    todo = [s for s in sources if not (out / f"{s.id}.wav").is_file()]
    report = CopySynthesisReport(out, 0, len(sources) - len(todo), 0.0, 0.0)
    for source in tqdm(todo, desc="vocode", unit="file", disable=not progress):
        clip = load_audio(source.path, mel_config.sample_rate)
        start = time.perf_counter()
        mel = front_end(torch.from_numpy(clip.wav)).T  # (n, f)
        generated = vocode_mels(vocoder, [mel])[0]  # (s',) on the vocoder's device and dtype
        report.compute_seconds += time.perf_counter() - start
        out.mkdir(parents=True, exist_ok=True)  # once an input has read: none left empty
        save_audio(out / f"{source.id}.wav", generated, mel_config.sample_rate)
        report.written += 1
        report.audio_seconds += clip.duration
    return report
