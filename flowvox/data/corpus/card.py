"""The corpus card (CORPUS.md) and the voice table printed by ``flowvox corpus voices``."""

from __future__ import annotations

import shlex
from collections import defaultdict
from typing import TYPE_CHECKING

from flowvox.data.corpus.config import CorpusConfig, CorpusReport
from flowvox.data.corpus.pseudo import UNSEEN_PERCENT, UNSEEN_SPLIT
from flowvox.data.corpus.voices import VoiceInfo
from flowvox.data.manifest import ManifestEntry

if TYPE_CHECKING:  # for annotations only
    from flowvox.data.corpus.sentences import TextSource


def command_line(config: CorpusConfig) -> str:
    """The ``flowvox corpus build`` command that gives ``config``."""
    parts = ["flowvox", "corpus", "build", str(config.out_dir)]
    if config.voices is not None:
        parts += ["--voices", *config.voices]
    if config.languages is not None:
        parts += ["--languages", *config.languages]
    if config.utterances is not None:
        parts += ["--utterances", str(config.utterances)]
    if config.hours is not None:
        parts += ["--hours", str(config.hours)]
    if config.pseudo_speakers:
        parts += ["--pseudo-speakers", str(config.pseudo_speakers)]
    parts += ["--sample-rate", str(config.sample_rate), "--seed", str(config.seed)]
    if config.workers is not None:
        parts += ["--workers", str(config.workers)]
    return shlex.join(parts)


def format_voice_table(voices: list[VoiceInfo]) -> str:
    """One line per voice: name, language, person, default?, Debian package, licence."""
    rows = [("voice", "lang", "person", "default", "package", "licence")]
    rows += [
        (v.name, v.language, v.person or "-", "yes" if v.default else "", v.package, v.licence)
        for v in voices
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join([*(r[i].ljust(widths[i]) for i in range(5)), r[5]]) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def render_card(
    config: CorpusConfig,
    voices: list[VoiceInfo],
    sources: dict[str, TextSource],
    entries: list[ManifestEntry],
    report: CorpusReport,
) -> str:
    """Markdown describing the corpus as it is on disk, and the speed of the run that wrote it."""
    count: dict[tuple[str, str], int] = defaultdict(int)
    seconds: dict[tuple[str, str], float] = defaultdict(float)
    for e in entries:
        voice = e.extra["voice"]
        count[voice, e.split] += 1
        seconds[voice, e.split] += e.duration or 0.0
    lines = [
        "# Synthetic speech corpus (flowvox)",
        "",
        f"Built with: `{command_line(config)}`",
        "",
        f"- utterances: {len(entries)} ({_total(count, 'train')} train, "
        f"{_total(count, 'test')} test{_unseen_part(count)}); audio: {report.audio_hours:.3f} h",
        f"- sample rate: {config.sample_rate} Hz, mono PCM 16-bit; silence trimmed; loudness "
        f"normalised to {config.target_lufs:g} LUFS",
        f"- seed: {config.seed}; voices: {len(voices)}",
        "- split: a sentence is held out (test) when `flowvox.data.corpus.sentences.is_held_out` "
        "says so (a hash of the sentence, about 2 %), whatever the seed or voices",
        "",
        "## Voices",
        "",
        "| voice | engine | language | person | train utts | train h | test utts | test h "
        "| Debian package | licence |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in voices:
        lines.append(
            f"| {v.name} | {v.engine} | {v.language} | {v.person or '-'} "
            f"| {count[v.name, 'train']} | {seconds[v.name, 'train'] / 3600:.3f} "
            f"| {count[v.name, 'test']} | {seconds[v.name, 'test'] / 3600:.3f} "
            f"| {v.package} | {v.licence} |"
        )
    lines += [
        "",
        "`person` is the recorded speaker behind a voice: voices with the same person "
        "(e.g. flite:kal16 and festival:kal_diphone) are one human speaker.",
        "",
        *pseudo_section(config, entries),
        "## Text",
        "",
    ]
    for s in sources.values():
        lines.append(
            f"- {s.language}: {s.name} ({len(s.sentences)} sentences, Debian package "
            f"`{s.package}`); licence: {s.licence}; notice copied to `{s.licence_file}`"
        )
    lines += ["", "## Build speed (last run)", ""]
    lines.append(
        f"- built {report.built} utterances ({report.built_hours:.4f} h of audio), skipped "
        f"{report.skipped} already on disk, failed {report.failed}; "
        f"wall {report.wall_seconds:.1f} s, {report.hours_per_minute:.4f} h of audio per minute "
        f"with {config.workers or 'all'} workers"
    )
    for engine, speed in sorted(report.engines.items()):
        lines.append(
            f"- {engine}: {speed.utterances} utterances, {speed.audio_seconds / 3600:.4f} h in "
            f"{speed.worker_seconds:.1f} worker-s ({speed.hours_per_worker_minute:.4f} h per "
            "worker-minute)"
        )
    if report.failures:
        lines += ["", "## Failed utterances", ""] + [f"- {f}" for f in report.failures[:50]]
    return "\n".join(lines) + "\n"


def pseudo_section(config: CorpusConfig, entries: list[ManifestEntry]) -> list[str]:
    """Card lines on the pseudo-speakers (none without them); counts include their voice's."""
    if not config.pseudo_speakers:
        return []
    speakers = {
        e.extra["pseudo_speaker"]["name"]: e for e in entries if "pseudo_speaker" in e.extra
    }
    unseen = sorted(name for name, e in speakers.items() if e.split == UNSEEN_SPLIT)
    return [
        "## Pseudo-speakers",
        "",
        f"- {config.pseudo_speakers} per voice, `<voice>+p<k>`: the voice's audio with a "
        "seeded pitch shift, formant (vocal-tract-length) warp, spectral tilt and speaking "
        "rate (`flowvox.data.corpus.pseudo`); each utterance's `extra.pseudo_speaker` holds "
        "the seed and the values. The utterance counts above include them.",
        f"- {len(speakers)} pseudo-speakers with audio; {len(unseen)} unseen (about "
        f"{UNSEEN_PERCENT} %, a hash of the name): all their utterances are in "
        f"`{UNSEEN_SPLIT}.jsonl`, never in train or test"
        + (f": {', '.join(unseen)}" if len(unseen) <= 20 else ""),
        "",
    ]


def _unseen_part(count: dict[tuple[str, str], int]) -> str:
    n = _total(count, UNSEEN_SPLIT)
    return f", {n} {UNSEEN_SPLIT}" if n else ""


def _total(count: dict[tuple[str, str], int], split: str) -> int:
    return sum(n for (_, s), n in count.items() if s == split)
