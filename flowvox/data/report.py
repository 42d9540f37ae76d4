"""What ``prepare_dataset`` did: counts, outputs and the files it skipped."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from flowvox.data.prepare_item import SKIP_REASONS, SkippedFile


@dataclass
class PrepareReport:
    """Outcome of one ``prepare_dataset`` run (also written as ``prepare_report.json``)."""

    source: str
    out_dir: str
    mel_preset: str
    utterances: int  # usable utterances written to the manifests
    seconds: float  # their total audio duration
    speakers: int
    computed: int  # mels computed in this run
    reused: int  # mels taken from a valid cache of an earlier run
    pruned: int  # stale cache files removed (no longer in the source)
    vocab_size: int
    manifests: dict[str, str]  # split -> manifest path
    files: dict[str, str]  # "vocab", "stats", "mel_config", "report", "summary" -> path
    elapsed_s: float
    skipped: list[SkippedFile] = field(default_factory=list)

    @property
    def hours(self) -> float:
        return self.seconds / 3600.0

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        """Skipped-file counts per reason, in the order of ``SKIP_REASONS``."""
        counts = Counter(s.reason for s in self.skipped)
        return {reason: counts[reason] for reason in SKIP_REASONS if counts[reason]}

    def to_dict(self) -> dict:
        return {**asdict(self), "hours": self.hours, "skipped_by_reason": self.skipped_by_reason}

    def summary(self) -> str:
        """One paragraph for the command line."""
        amount = f"{self.hours:.2f} h" if self.hours >= 0.1 else f"{self.seconds:.1f} s"
        manifests = ", ".join(f"{split}.jsonl" for split in sorted(self.manifests))
        text = (
            f"Prepared {self.utterances} utterances ({amount}, {self.speakers} speaker(s)) "
            f"from {self.source} into {self.out_dir} with mel preset {self.mel_preset}: "
            f"{self.computed} mels computed, {self.reused} reused from the cache, in "
            f"{self.elapsed_s:.1f} s. Wrote {manifests}, vocab.txt ({self.vocab_size} tokens) "
            "and stats.json."
        )
        if not self.utterances:
            text = f"No usable utterance in {self.source}; nothing prepared in {self.out_dir}."
        if self.skipped:
            reasons = ", ".join(f"{n} {reason}" for reason, n in self.skipped_by_reason.items())
            text += (
                f" Skipped {len(self.skipped)} file(s) ({reasons}); they are listed in "
                f"{self.files['summary']}."
            )
        return text

    def details(self) -> str:
        """The summary plus every skipped file, one per line (``prepare_summary.txt``)."""
        lines = [self.summary(), ""]
        lines.append(f"Skipped files: {len(self.skipped)}")
        for reason, count in self.skipped_by_reason.items():
            lines.append(f"  {reason}: {count}")
        for s in self.skipped:
            lines.append(f"{s.reason}\t{s.audio}\t{s.detail}\t(entry from {s.origin})")
        return "\n".join(lines) + "\n"
