"""Griffin-Lim intelligibility: pocketsphinx WER of corpus audio before and after mel -> GL.

    python -m experiments.griffin_lim_wer    # writes experiments/results/griffin_lim_wer.md
    python -m experiments.griffin_lim_wer --corpus DIR    # a built corpus's held-out utterances
    python -m experiments.griffin_lim_wer --per-voice 4 --presets vocos24k --iters 32   # quick

Without ``--corpus`` it builds (or completes) a small held-out set under ``--work``
(default /tmp/flowvox-bench/griffin_lim_wer): the same ``--per-voice`` held-out sentences
(``is_held_out``, never seen in training), spoken by every default English voice, finished
like a corpus build (trimmed, 24 kHz, loudness-normalised) and listed in ``manifest.jsonl``.

Per utterance and condition: "original" transcribes the wav as it is; "GL(preset, N)"
resamples it to the preset's rate, computes the preset's log-mel, inverts it with
``GriffinLim`` (N fast-GL iterations, momentum 0.99, zero initial phase) and transcribes that.
WER per voice and in total is corpus-level: errors summed over utterances, divided by the
summed reference words (``wer_many``), after ``normalize_for_wer`` on both sides.
Voices run as tasks in a process pool (one pocketsphinx decoder and one torch thread each).
"""
# b: batch, n: frames, f: mel bins, s: samples

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import platform
import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from flowvox.data.corpus import is_held_out
from flowvox.data.corpus.build import build_chunk, wav_seconds
from flowvox.data.corpus.plan import PlannedUtterance, select_voices
from flowvox.data.corpus.sentences import text_source
from flowvox.data.manifest import ManifestEntry, read_manifest, write_manifest
from flowvox.errors import FlowvoxError
from flowvox.eval.text_norm import WordErrors, wer_many
from flowvox.utils.atomic import atomic_write_text

RESULTS = Path(__file__).parent / "results" / "griffin_lim_wer.md"
DEFAULT_WORK = Path("/tmp/flowvox-bench/griffin_lim_wer")
SAMPLE_RATE = 24000
TARGET_LUFS = -23.0


@dataclass(frozen=True)
class Condition:
    """What the judge hears: the original wav (``preset=None``) or its GL resynthesis."""

    preset: str | None = None
    n_iter: int = 0

    @property
    def label(self) -> str:
        return "original" if self.preset is None else f"GL {self.preset} {self.n_iter} it"


@dataclass(frozen=True)
class Utterance:
    """One held-out utterance: its wav, what is said, and which voice says it."""

    audio: str
    text: str
    voice: str  # "flite:rms"
    engine: str


@dataclass
class VoiceJudged:
    """One voice's transcripts per condition label, plus the CPU time spent in the worker."""

    voice: str
    engine: str
    references: list[str]
    audio_seconds: float
    hypotheses: dict[str, list[str]] = field(default_factory=dict)
    gl_seconds: float = 0.0  # mel + Griffin-Lim, all GL conditions
    asr_seconds: float = 0.0  # pocketsphinx, all conditions


def held_out_sentences(count: int, seed: int) -> list[tuple[int, str]]:
    """``count`` held-out English sentences (index, text), drawn by a seeded shuffle."""
    sentences = text_source("en").sentences
    held = [(i, s) for i, s in enumerate(sentences) if is_held_out(s)]
    if count > len(held):
        raise FlowvoxError(f"--per-voice {count}: only {len(held)} held-out sentences exist")
    return sorted(random.Random(seed).sample(held, count))


def build_held_out(
    out: Path, voice_names: list[str] | None, count: int, seed: int, workers: int
) -> list[Utterance]:
    """Synthesise every voice saying the same held-out sentences into ``out`` (resumable)."""
    voices = select_voices(voice_names, ["en"])
    sentences = held_out_sentences(count, seed)
    plans = [
        [PlannedUtterance(f"{v.slug}_{i:05d}", v, text, i, "test") for i, text in sentences]
        for v in voices
    ]
    todo = [
        [u for u in plan if wav_seconds(out / u.rel_path, SAMPLE_RATE) is None] for plan in plans
    ]
    args = [(plan[0].voice, plan, out, SAMPLE_RATE, TARGET_LUFS) for plan in todo if plan]
    context = multiprocessing.get_context("fork")  # engines are subprocesses; no torch here
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        for result in [pool.submit(build_chunk, *a) for a in args]:
            for utt, why in result.result().failures.items():
                print(f"build failed: {utt}: {why}")
    entries = [
        ManifestEntry(
            audio=str((out / u.rel_path).resolve()),
            text=u.text,
            speaker=u.voice.slug,
            duration=seconds,
            split="test",
            extra={"voice": u.voice.name, "engine": u.voice.engine, "sentence_id": u.sentence_id},
        )
        for plan in plans
        for u in plan
        if (seconds := wav_seconds(out / u.rel_path, SAMPLE_RATE)) is not None
    ]
    write_manifest(out / "manifest.jsonl", entries)
    return [_utterance(e) for e in entries]


def load_held_out(corpus: Path, count: int, voice_names: list[str] | None) -> list[Utterance]:
    """Up to ``count`` held-out English utterances per speaker of a built corpus."""
    manifest = corpus / "manifest.jsonl"
    if not manifest.is_file():
        raise FlowvoxError(f"--corpus {corpus}: no manifest.jsonl; build it with flowvox corpus")
    picked: dict[str, list[Utterance]] = {}
    for entry in read_manifest(manifest):
        utt = _utterance(entry)
        if entry.language != "en" or not is_held_out(entry.text):
            continue
        if voice_names is not None and utt.voice not in voice_names:
            continue
        mine = picked.setdefault(utt.voice, [])
        if len(mine) < count:
            mine.append(utt)
    if not picked:
        raise FlowvoxError(
            f"--corpus {corpus}: no held-out English utterances (about 2 % of sentences are "
            "held out); build a larger corpus or leave --corpus out"
        )
    return [u for group in picked.values() for u in group]


def _utterance(entry: ManifestEntry) -> Utterance:
    voice = entry.extra.get("voice", entry.speaker)
    engine = entry.extra.get("engine", voice.split(":")[0])
    return Utterance(entry.audio, entry.text, voice, engine)


def judge_voice(utterances: list[Utterance], conditions: list[Condition]) -> VoiceJudged:
    """Transcribe one voice's utterances under every condition (runs in a worker process)."""
    import torch

    from flowvox.audio import load_audio, resample
    from flowvox.audio.asr import PocketsphinxASR
    from flowvox.audio.mel import MelSpectrogram, get_mel_preset
    from flowvox.vocoders.griffin_lim import GriffinLim, GriffinLimConfig

    torch.set_num_threads(1)
    asr = PocketsphinxASR()
    mels = {c.preset: MelSpectrogram(get_mel_preset(c.preset)) for c in conditions if c.preset}
    vocoders = {
        c: GriffinLim(GriffinLimConfig(mel=get_mel_preset(c.preset), n_iter=c.n_iter))
        for c in conditions
        if c.preset
    }
    first = utterances[0]
    judged = VoiceJudged(first.voice, first.engine, [u.text for u in utterances], 0.0)
    for utt in utterances:
        clip = load_audio(utt.audio)
        judged.audio_seconds += len(clip.wav) / clip.sample_rate
        for condition in conditions:
            start = time.process_time()
            wav, rate = clip.wav, clip.sample_rate  # (s,)
            if condition.preset is not None:
                rate = mels[condition.preset].config.sample_rate
                x = torch.from_numpy(resample(clip.wav, clip.sample_rate, rate))[None]  # (1, s)
                with torch.inference_mode():
                    log_mel = mels[condition.preset](x).transpose(1, 2)  # (1, n, f)
                    wav = vocoders[condition](log_mel)[0].numpy()  # (s,)
            middle = time.process_time()
            text = asr.transcribe(wav, rate)
            judged.gl_seconds += middle - start
            judged.asr_seconds += time.process_time() - middle
            judged.hypotheses.setdefault(condition.label, []).append(text)
    return judged


def judge_all(
    utterances: list[Utterance], conditions: list[Condition], workers: int
) -> list[VoiceJudged]:
    """``judge_voice`` for every voice, in a spawned process pool, in first-seen voice order."""
    groups: dict[str, list[Utterance]] = {}
    for utt in utterances:
        groups.setdefault(utt.voice, []).append(utt)
    context = multiprocessing.get_context("spawn")  # fresh torch per worker
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(judge_voice, group, conditions) for group in groups.values()]
        return [f.result() for f in futures]


def identical_voices(utterances: list[Utterance]) -> list[str]:
    """Pairs of voices whose wavs are byte-identical for every sentence both speak."""
    digests: dict[str, dict[str, str]] = {}  # voice -> text -> sha256 of the file
    for utt in utterances:
        digest = hashlib.sha256(Path(utt.audio).read_bytes()).hexdigest()
        digests.setdefault(utt.voice, {})[utt.text] = digest
    voices, found = list(digests), []
    for i, a in enumerate(voices):
        for b in voices[i + 1 :]:
            shared = digests[a].keys() & digests[b].keys()
            if shared and all(digests[a][t] == digests[b][t] for t in shared):
                found.append(f"{a} and {b} produced byte-identical audio ({len(shared)} sentences)")
    return found


def write_transcripts(path: Path, judged: list[VoiceJudged]) -> None:
    """One JSON line per utterance: voice, reference and each condition's hypothesis."""
    lines = []
    for j in judged:
        for k, reference in enumerate(j.references):
            hyps = {label: hyps[k] for label, hyps in j.hypotheses.items()}
            lines.append(json.dumps({"voice": j.voice, "reference": reference, **hyps}))
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "\n".join(lines) + "\n")


def _errors(judged: list[VoiceJudged], label: str) -> WordErrors:
    refs = [r for j in judged for r in j.references]
    return wer_many(refs, [h for j in judged for h in j.hypotheses[label]])


def render(
    judged: list[VoiceJudged], conditions: list[Condition], args: argparse.Namespace, timing: dict
) -> str:
    """The results page: per-voice table, totals with S/D/I, conditions, machine and time."""
    from importlib.metadata import version

    import torch

    labels = [c.label for c in conditions]
    head = ["voice", "engine", "utts", "words", "audio s", *(f"WER {lb}" for lb in labels)]
    rows = [f"| {' | '.join(head)} |", "|" + "---|" * len(head)]
    for group in [[j] for j in judged] + [judged]:
        total = len(group) > 1
        words = _errors(group, labels[0]).reference_words
        cells = [
            "all" if total else group[0].voice,
            "" if total else group[0].engine,
            str(sum(len(j.references) for j in group)),
            str(words),
            f"{sum(j.audio_seconds for j in group):.0f}",
            *(f"{100 * _errors(group, lb).wer:.1f} %" for lb in labels),
        ]
        rows.append("| " + " | ".join(f"**{c}**" if total and c else c for c in cells) + " |")
    sdi = ["| condition | WER | subst. | deletions | insertions | words |", "|---" * 6 + "|"]
    for label in labels:
        e = _errors(judged, label)
        sdi.append(
            f"| {label} | {100 * e.wer:.1f} % | {e.substitutions} | {e.deletions} | "
            f"{e.insertions} | {e.reference_words} |"
        )
    by_text: dict[str, list[dict[str, str]]] = {}  # reference -> hypotheses per voice
    for j in judged:
        for k, ref in enumerate(j.references):
            by_text.setdefault(ref, []).append({lb: j.hypotheses[lb][k] for lb in labels})
    sentences = ["| sentence | voices | " + " | ".join(labels) + " |"]
    sentences.append("|---|---|" + "---|" * len(labels))
    for ref, hyps in sorted(by_text.items(), key=lambda item: -len(item[1])):
        wers = [100 * wer_many([ref] * len(hyps), [h[lb] for h in hyps]).wer for lb in labels]
        sentences.append(
            f"| {ref} | {len(hyps)} | " + " | ".join(f"{w:.0f} %" for w in wers) + " |"
        )
    words_per_voice = _errors(judged, labels[0]).reference_words / len(judged)
    engines = sorted({j.engine for j in judged})
    by_engine = ["| engine | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for engine in engines:
        group = [j for j in judged if j.engine == engine]
        by_engine.append(
            f"| {engine} | "
            + " | ".join(f"{100 * _errors(group, lb).wer:.1f} %" for lb in labels)
            + " |"
        )
    source = (
        f"held-out utterances of `{args.corpus}` (up to {args.per_voice} per voice)"
        if args.corpus
        else f"{args.per_voice} held-out sentences (seed {args.seed}), the same for every voice, "
        "built at 24 kHz, trimmed and loudness-normalised to -23 LUFS"
    )
    return "\n".join(
        [
            "# Griffin-Lim intelligibility: pocketsphinx WER before and after mel → Griffin-Lim",
            "",
            f"Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
            f"CPU only, {args.workers} worker processes × 1 torch thread, torch "
            f"{torch.__version__}, pocketsphinx {version('pocketsphinx')} (en-us model of "
            "the wheel, `PocketsphinxConfig()` defaults). Produced by "
            f"`{args.command_line}`.",
            "",
            f"Audio: {source}. Judge: `PocketsphinxASR` + `wer_many` (corpus-level WER = "
            "total errors / total reference words, text normalised by `normalize_for_wer`).",
            "GL conditions: the wav is resampled to the preset's rate, turned into the preset's "
            "log-mel (`MelSpectrogram`) and inverted by `GriffinLim` (NNLS mel → linear "
            "magnitude, 32 steps; fast Griffin-Lim, momentum 0.99, zero initial phase, "
            "N iterations as labelled). Vocoder: Griffin-Lim only, no neural vocoder.",
            "",
            "## Per voice",
            "",
            *[f"**Warning:** {line}" for line in args.identical],
            *([""] if args.identical else []),
            *rows,
            "",
            "## Per engine",
            "",
            *by_engine,
            "",
            "## Per sentence (WER over all voices)",
            "",
            *sentences,
            "",
            "## Totals by error type",
            "",
            *sdi,
            "",
            "## Time",
            "",
            f"- wall: {timing['total']:.0f} s in all (corpus build {timing['build']:.0f} s, "
            f"judging {timing['judge']:.0f} s)",
            f"- CPU in the workers: mel + Griffin-Lim {sum(j.gl_seconds for j in judged):.0f} s, "
            f"pocketsphinx {sum(j.asr_seconds for j in judged):.0f} s for "
            f"{len(conditions)} × {sum(j.audio_seconds for j in judged):.0f} s of audio",
            "- the machine was shared with other jobs, so wall times are upper bounds",
            "",
            f"Each voice's WER rests on about {words_per_voice:.0f} words and one hard sentence "
            "moves it by many points: compare conditions within a voice (same sentences) "
            "rather than small differences between voices.",
            "",
        ]
    )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, help="judge this built corpus instead")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where to build")
    parser.add_argument("--voices", nargs="+", help="voice names (default: the English set)")
    parser.add_argument("--per-voice", type=int, default=8, help="utterances per voice")
    parser.add_argument("--presets", nargs="*", default=["vocos24k", "hifigan22k"])
    parser.add_argument("--iters", nargs="+", type=int, default=[32, 100], help="GL iterations")
    parser.add_argument("--seed", type=int, default=0, help="which held-out sentences")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS, help="results page")
    args = parser.parse_args()
    if args.per_voice < 1 or args.workers < 1 or min(args.iters, default=1) < 1:
        parser.error("--per-voice, --workers and --iters must be positive")
    defaults = {"per_voice": 8, "presets": ["vocos24k", "hifigan22k"], "iters": [32, 100]}
    shown = [
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
        if k in ("corpus", "voices", "per_voice", "presets", "iters", "seed")
        and v is not None
        and v != defaults.get(k, 0)
    ]
    args.command_line = " ".join(["python -m experiments.griffin_lim_wer", *shown])
    return args


def main() -> None:
    args = parse_args()
    conditions = [Condition()] + [Condition(p, n) for p in args.presets for n in args.iters]
    start = time.perf_counter()
    if args.corpus is not None:
        utterances = load_held_out(args.corpus, args.per_voice, args.voices)
    else:
        utterances = build_held_out(args.work, args.voices, args.per_voice, args.seed, args.workers)
    built = time.perf_counter()
    print(f"{len(utterances)} utterances ready in {built - start:.1f} s; judging ...", flush=True)
    args.identical = identical_voices(utterances)
    judged = judge_all(utterances, conditions, args.workers)
    end = time.perf_counter()
    timing = {"build": built - start, "judge": end - built, "total": end - start}
    write_transcripts(args.work / "transcripts.jsonl", judged)
    text = render(judged, conditions, args, timing)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, text)


if __name__ == "__main__":
    try:
        main()
    except FlowvoxError as err:
        raise SystemExit(f"error: {err}") from None
