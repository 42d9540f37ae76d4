"""What a corpus build is asked (``CorpusConfig``) and what it did (``CorpusReport``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class CorpusConfig:
    """What to build. Give the size as exactly one of ``utterances`` (total) or ``hours``.

    ``voices=None`` takes the default voices of ``languages`` (``None``: English);
    ``languages`` also filters an explicit voice list. ``workers=None`` uses every core.
    ``pseudo_speakers`` K adds K voice-changed speakers per voice
    (``flowvox.data.corpus.pseudo``); the size is spread over all speakers.
    """

    out_dir: str | Path
    voices: list[str] | None = None
    utterances: int | None = None
    hours: float | None = None
    sample_rate: int = 24000
    seed: int = 0
    workers: int | None = None
    languages: list[str] | None = None
    target_lufs: float = -23.0
    pseudo_speakers: int = 0


@dataclass
class EngineSpeed:
    """Work of one engine family in this run; ``worker_seconds`` sums over workers."""

    utterances: int = 0
    audio_seconds: float = 0.0
    worker_seconds: float = 0.0

    @property
    def hours_per_worker_minute(self) -> float:
        if self.worker_seconds == 0:
            return 0.0
        return self.audio_seconds / 3600.0 / (self.worker_seconds / 60.0)


@dataclass
class CorpusReport:
    """What a build did. ``audio_hours`` counts the whole corpus, ``built_hours`` this run."""

    out_dir: Path
    manifest: Path
    card: Path
    planned: int
    built: int
    skipped: int
    failed: int
    audio_hours: float
    built_hours: float
    wall_seconds: float
    hours_per_minute: float  # built_hours per minute of wall time
    engines: dict[str, EngineSpeed] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)  # "utt_id: reason"

    def summary(self) -> str:
        """A few lines for people: what was built, how fast, where it is."""
        lines = [
            f"corpus: {self.out_dir} ({self.audio_hours:.3f} h of audio in all)",
            f"this run: {self.built} built, {self.skipped} already there, {self.failed} failed "
            f"of {self.planned} planned; {self.built_hours:.3f} h in {self.wall_seconds:.1f} s "
            f"({self.hours_per_minute:.2f} h of audio per minute)",
            f"manifest: {self.manifest}",
            f"card: {self.card}",
        ]
        lines += [f"failed: {failure}" for failure in self.failures[:10]]
        if len(self.failures) > 10:
            lines.append(f"... and {len(self.failures) - 10} more failures (see the card)")
        return "\n".join(lines)
