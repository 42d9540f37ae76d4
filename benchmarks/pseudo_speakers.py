"""Pseudo-speakers to the judges: are they new speakers, and still intelligible?

    python -m benchmarks.pseudo_speakers    # writes benchmarks/results/pseudo_speakers.md
    python -m benchmarks.pseudo_speakers --voices flite:rms espeak:en-us+m3 --pseudo 5

Each source voice and its pseudo-speakers ``+p1 .. +pK`` (``flowvox corpus build
--pseudo-speakers K``; the same seeded parameters) say the same ``--per-speaker`` held-out
WordNet sentences, made exactly as a corpus build makes them (``build_chunk``: trim, voice
change, 24 kHz, -23 LUFS). Then, with the judges of ``flowvox eval``:

- speaker similarity (resemblyzer cosine) of utterance pairs: *same speaker* (two different
  sentences of one speaker), *pseudo vs pseudo* (two pseudo-speakers of one source voice,
  different sentences), *pseudo vs source*, and *source vs source* (two engine voices);
- WER (pocketsphinx, corpus-level over the speaker's utterances) of each speaker beside its
  source voice's on the same sentences.

A pseudo-speaker counts as a different speaker to the judge when its similarity to the
others stays below the same-speaker level.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from flowvox.audio.asr import PocketsphinxASR
from flowvox.data.corpus.build import build_chunk
from flowvox.data.corpus.plan import PlannedUtterance, select_voices
from flowvox.data.corpus.pseudo import pseudo_speakers_of
from flowvox.data.corpus.sentences import is_held_out, text_source
from flowvox.data.corpus.voices import slugify
from flowvox.eval.speaker import SpeakerEncoder
from flowvox.eval.text_norm import wer_many
from flowvox.utils.atomic import atomic_write_text

RESULTS = Path(__file__).parent / "results" / "pseudo_speakers.md"
SAMPLE_RATE = 24000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--voices", nargs="+", default=["flite:rms", "festival:cmu_us_slt_arctic_hts"]
    )
    parser.add_argument("--pseudo", type=int, default=3, help="pseudo-speakers per voice")
    parser.add_argument("--per-speaker", type=int, default=6, help="utterances per speaker")
    parser.add_argument("--seed", type=int, default=0, help="which held-out sentences")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--note", default="", help="a line about the machine's other load")
    args = parser.parse_args()
    start = time.perf_counter()
    sentences = [s for s in text_source("en").sentences if is_held_out(s)]
    random.Random(args.seed).shuffle(sentences)
    sentences = sentences[: args.per_speaker]
    encoder, asr = SpeakerEncoder(), PocketsphinxASR()
    rows, groups = [], {"same": [], "pseudo_pseudo": [], "pseudo_source": [], "source_source": []}
    sources: dict[str, np.ndarray] = {}  # voice -> (m, d) embeddings of its utterances
    with tempfile.TemporaryDirectory(prefix="flowvox-pseudo-") as tmp:
        for voice in select_voices(args.voices, None):
            pseudo = pseudo_speakers_of(voice.name, args.pseudo)
            embeddings, wers = {}, {}
            for speaker in [None, *pseudo]:
                items = [_planned(voice, speaker, text, i) for i, text in enumerate(sentences)]
                build_chunk(voice, items, Path(tmp), SAMPLE_RATE, -23.0)
                paths = [Path(tmp) / u.rel_path for u in items]
                name = voice.name if speaker is None else speaker.name
                embeddings[name] = encoder.embed_files(paths)  # (m, d)
                hyps = asr.transcribe_files(paths)
                wers[name] = wer_many(sentences, hyps).wer
                groups["same"] += _pairs(embeddings[name], embeddings[name], same=True)
            sources[voice.name] = embeddings[voice.name]
            for a, b in itertools.combinations([p.name for p in pseudo], 2):
                groups["pseudo_pseudo"] += _pairs(embeddings[a], embeddings[b])
            for p in pseudo:
                groups["pseudo_source"] += _pairs(embeddings[p.name], embeddings[voice.name])
            for speaker in [None, *pseudo]:
                name = voice.name if speaker is None else speaker.name
                others = [n for n in embeddings if n != name]
                rows.append(_row(name, speaker, embeddings, others, wers, voice.name))
    for a, b in itertools.combinations(sources, 2):
        groups["source_source"] += _pairs(sources[a], sources[b])
    text = _report(args, rows, groups, time.perf_counter() - start)
    print(text)
    atomic_write_text(args.out, text)


def _planned(voice, speaker, text: str, index: int) -> PlannedUtterance:
    slug = slugify(voice.name if speaker is None else speaker.name)
    return PlannedUtterance(f"{slug}_{index:05d}", voice, text, index, "test", speaker)


def _pairs(a: np.ndarray, b: np.ndarray, same: bool = False) -> list[float]:
    """Cosines of utterance pairs of different sentences, (i, j) with i != j (i < j when a
    and b are one speaker's); a (m, d), b (m, d) in sentence order."""
    sims = a @ b.T  # (m, m)
    m = len(a)
    return [float(sims[i, j]) for i in range(m) for j in range(m) if (i < j if same else i != j)]


def _row(name, speaker, embeddings, others, wers, source) -> dict:
    own = _pairs(embeddings[name], embeddings[name], same=True)
    other = [s for n in others for s in _pairs(embeddings[name], embeddings[n])]
    change = speaker.change if speaker is not None else None
    return {
        "speaker": name,
        "params": "-"
        if change is None
        else f"{change.semitones:+.2f} st, vtl {change.vtl:.3f}, "
        f"tilt {change.tilt_db_per_octave:+.2f} dB/oct, rate {change.rate:.3f}",
        "same": np.mean(own),
        "other": np.mean(other),
        "max_other": np.max(other),
        "wer": wers[name],
        "source_wer": wers[source],
    }


def _report(args, rows: list[dict], groups: dict[str, list[float]], wall: float) -> str:
    lines = [
        "# Pseudo-speakers: speaker similarity and WER",
        "",
        f"`python -m benchmarks.pseudo_speakers --voices {' '.join(args.voices)} --pseudo "
        f"{args.pseudo} --per-speaker {args.per_speaker} --seed {args.seed}`",
        "",
        f"{platform.processor() or platform.machine()}, {wall:.0f} s wall (build + judges). "
        "Judges: resemblyzer cosine (utterance pairs of different sentences), pocketsphinx "
        "WER (corpus-level over the speaker's utterances, same sentences for every speaker).",
        *([args.note] if args.note else []),
        "",
        "| pairs | n | mean similarity | min | max |",
        "|---|---|---|---|---|",
    ]
    names = {
        "same": "same speaker (any speaker, two sentences)",
        "pseudo_pseudo": "two pseudo-speakers of one voice",
        "pseudo_source": "pseudo-speaker vs its source voice",
        "source_source": "two source voices",
    }
    for key, label in names.items():
        values = groups[key]
        if values:
            lines.append(
                f"| {label} | {len(values)} | {np.mean(values):.3f} | {np.min(values):.3f} "
                f"| {np.max(values):.3f} |"
            )
    lines += [
        "",
        "Per speaker: `same` = its own utterance pairs, `others` = against every other speaker "
        "of the same source voice (source included).",
        "",
        "| speaker | voice change | same | others (mean) | others (max) | WER | source WER |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['speaker']} | {r['params']} | {r['same']:.3f} | {r['other']:.3f} "
            f"| {r['max_other']:.3f} | {r['wer']:.1%} | {r['source_wer']:.1%} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
