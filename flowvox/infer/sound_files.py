"""Sounds to files, for `flowvox sound`: one caption to one wav, or a file of captions to a
folder of wavs + manifest.jsonl (resumable: finished wavs are kept). Inputs are checked before
the model loads; every file is written atomically (``flowvox.infer.sound`` makes the audio).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flowvox.audio.io import save_audio
from flowvox.errors import FlowvoxError
from flowvox.infer.files import AUDIO_SUFFIXES, check_output_file
from flowvox.infer.sound import (
    SEED_RANGE,
    SoundGenerator,
    StageTimes,
    check_caption,
    check_sampling,
)
from flowvox.utils.atomic import atomic_write_text


@dataclass(frozen=True)
class SoundFiles:
    """What ``sound_to_file`` / ``sounds_to_folder`` did: ``written`` new files (``kept``:
    left from a previous run), seconds of new audio, their stage times (loading excluded)."""

    path: Path
    written: int
    kept: int
    audio_seconds: float
    sample_rate: int
    times: StageTimes

    def summary(self) -> str:
        kept = f", kept {self.kept} from before" if self.kept else ""
        return (
            f"wrote {self.path} ({self.written} sound(s), {self.audio_seconds:.2f} s at "
            f"{self.sample_rate} Hz{kept}) in {self.times.total:.2f} s, "
            f"{self.times.summary(self.audio_seconds)}"
        )


def sound_to_file(
    caption: str,
    out_path: str | os.PathLike,
    model: str | os.PathLike | None = None,
    device: str = "cpu",
    seconds: float | None = None,
    steps: int = 10,
    cfg: float = 3.0,
    seed: int | None = None,
) -> SoundFiles:
    """``flowvox sound CAPTION -o OUT``: inputs checked before the model loads, the file
    written atomically (.wav, .flac or .ogg)."""
    out = check_output_file(out_path)
    caption = check_caption(caption)
    check_sampling(seconds, steps, cfg)
    gen = SoundGenerator.from_pretrained(model, device)
    sound = gen.generate(caption, seconds, steps, cfg, seed)
    save_audio(out, sound.wav, sound.sample_rate, AUDIO_SUFFIXES[out.suffix.lower()])
    return SoundFiles(out, 1, 0, sound.seconds, sound.sample_rate, sound.times)


def read_captions(path: str | os.PathLike) -> list[tuple[int, str]]:
    """(line number, caption) of each non-blank line of a UTF-8 file; every caption checked."""
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"--captions {path}: no such file; give a text file, one caption a line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as err:
        raise FlowvoxError(f"--captions {path}: not UTF-8 text ({err.reason})") from err
    found = [(i, check_caption(t, f"{path}:{i}")) for i, t in enumerate(lines, 1) if t.strip()]
    if not found:
        raise FlowvoxError(f"--captions {path}: no captions; write one caption a line")
    return found


def sounds_to_folder(
    captions_file: str | os.PathLike,
    out_dir: str | os.PathLike,
    model: str | os.PathLike | None = None,
    device: str = "cpu",
    seconds: float | None = None,
    steps: int = 10,
    cfg: float = 3.0,
    seed: int | None = None,
    batch_size: int = 8,
) -> SoundFiles:
    """``flowvox sound --captions FILE OUT_DIR``: line n's sound -> OUT_DIR/<n:05d>.wav (seed
    ``seed + n``) and OUT_DIR/manifest.jsonl ("id", "audio", "text", "seed" ...). Resumable:
    a wav already there is kept; the manifest is rewritten after every batch."""
    items = read_captions(captions_file)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FlowvoxError(f"{out}: exists and is not a folder; choose another OUT_DIR")
    if not out.parent.is_dir():
        raise FlowvoxError(f"{out.parent}: no such folder for OUT_DIR; create it first")
    if batch_size < 1:
        raise FlowvoxError(f"--batch-size {batch_size}: must be 1 or more")
    check_sampling(seconds, steps, cfg)
    gen = SoundGenerator.from_pretrained(model, device)
    gen.mel_frames(seconds)  # too long: refused before the folder is made
    base = secrets.randbelow(SEED_RANGE) if seed is None else seed
    manifest = out / "manifest.jsonl"
    done = _read_manifest(manifest)
    todo = [(n, c) for n, c in items if not (out / f"{n:05d}.wav").is_file()]
    out.mkdir(exist_ok=True)
    times, audio, ids = StageTimes(), 0.0, [(f"{n:05d}", c) for n, c in items]
    try:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            seeds = [base + n for n, _ in batch]
            made = gen.generate_batch([c for _, c in batch], seconds, steps, cfg, seeds=seeds)
            for (n, caption), sound in zip(batch, made, strict=True):
                save_audio(out / f"{n:05d}.wav", sound.wav, sound.sample_rate)
                done[f"{n:05d}"] = dict(id=f"{n:05d}", audio=f"{n:05d}.wav", text=caption,
                                        seed=sound.seed, steps=steps, cfg=cfg)  # fmt: skip
                audio += sound.seconds
            times = times + made[0].times
    finally:  # interrupted too: the manifest lists every finished wav
        lines = [json.dumps(done.get(i, dict(id=i, audio=f"{i}.wav", text=c)), ensure_ascii=False)
                 for i, c in ids if (out / f"{i}.wav").is_file()]  # fmt: skip
        atomic_write_text(manifest, "".join(line + "\n" for line in lines))
    return SoundFiles(out, len(todo), len(items) - len(todo), audio, gen.sample_rate, times)


def _read_manifest(path: Path) -> dict[str, dict]:
    """id -> line of an earlier run's manifest ({} when none; unreadable lines dropped)."""
    entries: dict[str, dict] = {}
    lines = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else ""
    for line in lines.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
            entries[str(json.loads(line)["id"])] = json.loads(line)
    return entries
