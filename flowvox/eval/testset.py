"""The standard test manifest: held-out corpus sentences, unseen voices, and human prompts.

Groups (each item's ``extra.group``; ``flowvox eval`` summarises each group apart):
- ``seen``: every held-out utterance of the corpus (``split == "test"``, or the corpus's
  ``is_held_out`` rule for layouts without splits) of the voices training used. Ground truth:
  the utterance's own audio. Reference: another utterance of the same voice (a different
  sentence), held-out ones first, drawn with a seeded generator.
- ``unseen``: every utterance (up to ``unseen_per_voice``) of the voices named as left out
  of training, and of the speakers whose utterances are all in split ``test_unseen`` (the
  unseen pseudo-speakers of ``flowvox corpus build --pseudo-speakers``); they were never
  heard, so all their sentences serve. Ground truth and
  reference as above.
- ``librivox``: real read speech, Debian ``pocketsphinx-testdata`` (five LibriVox clips of
  one reader, with transcripts). Each clip is an item with its own audio as ground truth and
  the next clip as reference; plus ``librivox_sentences`` held-out corpus sentences per clip
  spoken in that clip's voice (zero-shot, no ground truth).
"""

from __future__ import annotations

import json
import random
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from flowvox.data.corpus.sentences import is_held_out
from flowvox.data.manifest import ManifestEntry
from flowvox.data.readers import read_entries
from flowvox.errors import FlowvoxError
from flowvox.infer.bulk_source import ID_PATTERN
from flowvox.utils.atomic import atomic_write_text

LIBRIVOX_DIR = Path("/usr/share/pocketsphinx/test/data/librivox")


@dataclass
class EvalSetConfig:
    """What goes into the test manifest."""

    corpus: str  # a corpus folder or manifest (any layout flowvox prepare reads)
    out: str  # the .jsonl to write
    unseen_voices: list[str] | None = None  # speakers (or extra.voice names) left out of training
    unseen_per_voice: int = 20
    per_voice: int | None = None  # cap on held-out items per seen voice (None: all)
    librivox: bool = True
    librivox_dir: str = str(LIBRIVOX_DIR)
    librivox_sentences: int = 2  # zero-shot held-out sentences per LibriVox clip
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("unseen_per_voice", "per_voice"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise FlowvoxError(f"--{name.replace('_', '-')} {value}: give a positive number")
        if self.librivox_sentences < 0:
            raise FlowvoxError(f"--librivox-sentences {self.librivox_sentences}: give 0 or more")


@dataclass
class EvalSetReport:
    """Counts per group and the file written."""

    out: Path
    counts: dict[str, int]

    def summary(self) -> str:
        parts = ", ".join(f"{n} {group}" for group, n in self.counts.items())
        return f"wrote {sum(self.counts.values())} test utterances ({parts}) to {self.out}"


def build_testset(config: EvalSetConfig) -> EvalSetReport:
    """Write the test manifest (module docstring); raises ``FlowvoxError`` on bad input."""
    out = Path(config.out)
    if out.suffix.lower() != ".jsonl":
        raise FlowvoxError(f"OUT {out}: the test manifest is written as JSONL; name it *.jsonl")
    entries = read_entries(config.corpus)
    by_voice: dict[str, list[ManifestEntry]] = defaultdict(list)
    for entry in entries:
        by_voice[entry.speaker].append(entry)
    unseen = _resolve_unseen(config.unseen_voices or [], by_voice)
    rng = random.Random(config.seed)
    records: list[dict] = []
    for voice, mine in by_voice.items():
        held = [e for e in mine if e.split == "test" or is_held_out(e.text)]
        if voice in unseen or all(e.split == "test_unseen" for e in mine):
            chosen = _spread(mine, config.unseen_per_voice)
            records += [_record(e, _reference(e, held, mine, rng), "unseen") for e in chosen]
        else:
            chosen = held if config.per_voice is None else _spread(held, config.per_voice)
            records += [_record(e, _reference(e, held, mine, rng), "seen") for e in chosen]
    if not any(r["extra"]["group"] == "seen" for r in records) and not unseen:
        raise FlowvoxError(
            f"{config.corpus}: no held-out utterances (split 'test'); build a larger corpus "
            "or name voices to treat as unseen with --unseen-voices"
        )
    if config.librivox:
        texts = sorted({e.text for e in entries if e.split == "test" or is_held_out(e.text)})
        records += librivox_records(
            Path(config.librivox_dir), texts, config.librivox_sentences, rng
        )
    _unique_ids(records)
    counts: dict[str, int] = {}
    for record in records:
        counts[record["extra"]["group"]] = counts.get(record["extra"]["group"], 0) + 1
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    atomic_write_text(out, "\n".join(lines) + "\n")
    return EvalSetReport(out, counts)


def _resolve_unseen(names: list[str], by_voice: dict[str, list[ManifestEntry]]) -> set[str]:
    """Speakers named directly or by their engine voice name (``flite:awb``)."""
    alias = {e.extra.get("voice"): v for v, es in by_voice.items() for e in es[:1]}
    found = set()
    for name in names:
        speaker = name if name in by_voice else alias.get(name)
        if speaker is None:
            raise FlowvoxError(
                f"--unseen-voices {name}: no such voice in the corpus; its voices are "
                f"{sorted(by_voice)}"
            )
        found.add(speaker)
    return found


def _spread(entries: list[ManifestEntry], count: int) -> list[ManifestEntry]:
    """Up to ``count`` entries, evenly spaced through the list (deterministic)."""
    if count < 1:
        raise FlowvoxError(f"per-voice count {count}: give a positive number")
    if len(entries) <= count:
        return list(entries)
    step = len(entries) / count
    return [entries[int(k * step)] for k in range(count)]


def _reference(
    entry: ManifestEntry, held: list[ManifestEntry], mine: list[ManifestEntry], rng: random.Random
) -> ManifestEntry | None:
    """Another utterance of the same voice with a different sentence (held-out first)."""
    for pool in (held, mine):
        others = [e for e in pool if e.text != entry.text and e.audio != entry.audio]
        if others:
            return rng.choice(others)
    return None


def _record(entry: ManifestEntry, ref: ManifestEntry | None, group: str) -> dict:
    record = {"id": _safe_id(Path(entry.audio).stem), "text": entry.text, "audio": entry.audio}
    if ref is not None:
        record |= {"ref_audio": ref.audio, "ref_text": ref.text}
    extra = {"group": group, "voice": entry.extra.get("voice", entry.speaker)}
    return record | {"speaker": entry.speaker, "language": entry.language, "extra": extra}


def librivox_records(
    folder: Path, held_out_texts: list[str], per_clip: int, rng: random.Random
) -> list[dict]:
    """Items for the LibriVox clips of ``pocketsphinx-testdata`` (see the module docstring)."""
    transcription = folder / "transcription"
    if not transcription.is_file():
        raise FlowvoxError(
            f"LibriVox clips not found in {folder}: apt-get install pocketsphinx-testdata, "
            "or pass --no-librivox"
        )
    clips = []
    for line in transcription.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\((\S+)\)\s*", line)
        if match and (folder / f"{match.group(2)}.wav").is_file():
            clips.append((match.group(2), _sentence(match.group(1))))
    if len(clips) < 2:
        raise FlowvoxError(
            f"{transcription}: fewer than two clips with audio; reinstall the package"
        )
    records = []
    for k, (name, text) in enumerate(clips):
        ref_name, ref_text = clips[(k + 1) % len(clips)]
        ref = {"ref_audio": str(folder / f"{ref_name}.wav"), "ref_text": ref_text}
        extra = {"group": "librivox", "voice": "librivox"}
        base = {"speaker": "librivox", "language": "en", "extra": extra}
        records.append(
            {"id": _safe_id(f"librivox-{name}"), "text": text,
             "audio": str(folder / f"{name}.wav"), **ref, **base}
        )  # fmt: skip
        own = {"ref_audio": str(folder / f"{name}.wav"), "ref_text": text}
        for j, sentence in enumerate(
            rng.sample(held_out_texts, min(per_clip, len(held_out_texts)))
        ):
            records.append(
                {"id": _safe_id(f"librivox-{name}-zs{j}"), "text": sentence, **own, **base}
            )
    return records


def _sentence(words: str) -> str:
    """'he was not an ill disposed young man' -> 'He was not an ill disposed young man.'"""
    words = " ".join(words.split())
    return words[:1].upper() + words[1:] + ("" if words[-1:] in ".?!" else ".")


def _safe_id(name: str) -> str:
    """``name`` as an id ``ID_PATTERN`` accepts: other characters become "_", and the id starts
    with a letter or digit ("_take1" -> "take1", "été" -> "t_")."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip("._-")[:128] or "utt"
    assert ID_PATTERN.match(cleaned), cleaned  # invariant: the two steps above guarantee it
    return cleaned


def _unique_ids(records: list[dict]) -> None:
    """Suffix ``-2``, ``-3``, ... to ids used twice (two corpora may share file names)."""
    seen: dict[str, int] = {}
    for record in records:
        base = record["id"]
        if base in seen:
            seen[base] += 1
            record["id"] = f"{base[:120]}-{seen[base]}"
        else:
            seen[base] = 1
