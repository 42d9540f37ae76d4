"""What a sound corpus build is asked (``SoundCorpusConfig``) and did (``SoundCorpusReport``)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SoundCorpusConfig:
    """What to build: ``clips`` clips of ``seconds`` each, drawn with ``seed``.

    ``workers=None`` uses every core. Clips are 16 kHz mono, loudness-normalised to
    ``target_lufs``.
    """

    out_dir: str | Path
    clips: int
    seed: int = 0
    workers: int | None = None
    seconds: float = 10.24  # 1024 frames of hop 160 at 16 kHz
    target_lufs: float = -23.0

    def command_line(self) -> str:
        """The ``flowvox corpus sounds`` command that gives this config."""
        parts = ["flowvox", "corpus", "sounds", str(self.out_dir), "--clips", str(self.clips)]
        parts += ["--seed", str(self.seed), "--seconds", f"{self.seconds:g}"]
        if self.workers is not None:
            parts += ["--workers", str(self.workers)]
        return shlex.join(parts)


@dataclass
class SoundCorpusReport:
    """What a build did; ``built``/``wall_seconds`` are this run's, ``clips`` the whole corpus."""

    out_dir: Path
    manifest: Path
    card: Path
    planned: int
    built: int
    skipped: int
    failed: int
    clips: int  # clips on disk and in the manifest
    wall_seconds: float
    worker_seconds: float  # summed over workers
    failures: list[str] = field(default_factory=list)  # "clip_id: reason"

    @property
    def clips_per_second(self) -> float:
        return self.built / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def summary(self) -> str:
        """A few lines for people: what was built, how fast, where it is."""
        lines = [
            f"sounds: {self.out_dir} ({self.clips} clips in all)",
            f"this run: {self.built} built, {self.skipped} already there, {self.failed} failed "
            f"of {self.planned} planned in {self.wall_seconds:.1f} s "
            f"({self.clips_per_second:.1f} clips/s)",
            f"manifest: {self.manifest}",
            f"card: {self.card}",
        ]
        lines += [f"failed: {failure}" for failure in self.failures[:10]]
        if len(self.failures) > 10:
            lines.append(f"... and {len(self.failures) - 10} more failures (see the card)")
        return "\n".join(lines)
