"""Issue 16's text-to-semantic tables: round trip, text-only learning, end to end, token
statistics and throughput, on the held-out sentences of the corpus run.

    python -m experiments.semantic_study WORK --out experiments/results/semantic.md
    python -m experiments.semantic_study WORK --sentences 20 --nfe 1 8 --skip e2e speed

WORK is the folder of scripts/build_semantic.sh: corpus/manifest.jsonl, prepared-w16/,
prepared/, semantic/model (stage asr), semantic-vq/model (the frozen tokenizer),
t2s-fm-a/model (mode supervised), t2s-fm-b/model (text_only, on sentences-unspoken.txt),
t2s-fm-c/model (both), t2s-ar/model, s2a/model and vocoder/model (else Griffin-Lim). Any of
them may be missing: the page lists what WORK holds and measures what is there.

Sentences: ``--sentences`` distinct texts of the corpus's split ``test`` (the sentences
``is_held_out`` keeps out of training; the page counts any that split train or
sentences-unspoken.txt also hold), drawn by a seeded shuffle, each with its first
recording; sentence n (line n of lines.txt) is generated with seed ``--seed`` + n.

1. Round trip: text -> T2S -> codes -> the T2S folder's frozen decoder (greedy) -> text.
   WER and CER on ``normalize_for_wer`` text, corpus-level (errors summed over sentences /
   reference words or characters, spaces included), and exact (normalised texts equal).
   AR greedy (temperature 0); FM at each ``--nfe``, the model's own guidance. Ceiling: the frozen
   tokenizer's codes of the real recording -> the same decoder.
2. Text-only learning: the WER gap FM (b) − FM (a) at each NFE.
3. End to end: the codes of table 1 (FM at ``--e2e-nfe``) -> S2A (``--s2a-nfe`` Euler steps
   on the sway −1 grid, its own guidance, seed + n) prompted with a training utterance of
   the sentence's speaker (the one closest to 3 s) -> vocoder -> ``flowvox eval``'s judges
   (pocketsphinx WER, corpus-level; duration ratio and MCD against the recording). Beside
   them the same judge on the recording, and the recording's own codes through S2A.
4. Token statistics: code usage KL(real ‖ generated) in nats, both histograms smoothed by
   adding ``SMOOTHING`` to every code's count; the floor beside it is KL between the real
   codes of the odd and the even sentences. Length: generated N against the recording's
   token count (mean |N − real| in tokens and in % of real, and mean N − real).
5. Throughput of ``t2s_records`` (what ``flowvox semantic generate`` runs): FM at NFE 8 and
   AR greedy, batch 1 and ``--bulk``, model loaded, one warm-up call not timed.

Everything made lands in ``--cache`` (default WORK/semantic-study/) under names holding the
digests of the weights and of the sentence list: a rerun reuses the token files, decoded
texts, wavs and transcripts, and a re-exported model is measured afresh.
"""
# n: semantic frames

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import math
import os
import platform
import random
import shlex
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import soundfile as sf
import torch

from flowvox.audio.io import save_audio
from flowvox.data.corpus.sentences import is_held_out, normalize_sentence
from flowvox.data.manifest import ManifestEntry, read_manifest
from flowvox.errors import FlowvoxError
from flowvox.eval.items import EvalItem
from flowvox.eval.judges import GROUND_TRUTH, JudgeConfig, Judges, UtteranceScore
from flowvox.eval.report import summarize
from flowvox.eval.text_norm import normalize_for_wer, wer_many
from flowvox.infer.semantic_speech import voice_prompt
from flowvox.infer.vocode import vocode_mels
from flowvox.models.loading import CONFIG_FILE, WEIGHTS_FILE
from flowvox.models.semantic.files import encode_audio, load_tokenizer
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.s2a_model import S2AJob, load_s2a
from flowvox.models.semantic.t2s_fm_generate import GenerateSettings
from flowvox.models.semantic.t2s_folder import TOKENIZER_DIR
from flowvox.models.semantic.t2s_generate import generate_tokens_file, load_t2s_pair, t2s_records
from flowvox.utils.atomic import atomic_write_text
from flowvox.vocoders.io import resolve_vocoder

T2S = {  # key -> (label, folder in WORK)
    "ar": ("AR (greedy)", "t2s-ar/model"), "fm-a": ("FM (a) supervised", "t2s-fm-a/model"),
    "fm-b": ("FM (b) text only", "t2s-fm-b/model"), "fm-c": ("FM (c) both", "t2s-fm-c/model"),
}  # fmt: skip
PARTS = (
    ("corpus", "corpus/manifest.jsonl"), ("whisper16k mels", "prepared-w16"),
    ("vocos24k mels", "prepared"), ("tokenizer, stage asr", "semantic/model"),
    ("frozen tokenizer (stage vq)", "semantic-vq/model"),
    ("unspoken sentences (FM b)", "sentences-unspoken.txt"),
    *T2S.values(), ("S2A", "s2a/model"), ("vocoder", "vocoder/model"),
)  # fmt: skip
SMOOTHING = 1.0  # added to every code's count before KL
PROMPT_SECONDS = 3.0  # the voice prompt: the speaker's training utterance closest to this
CEILING = "ceiling: real audio -> frozen codes"
COPY = "real codes -> S2A"
SKIPPABLE = ("roundtrip", "e2e", "tokens", "speed")


def note_row(label: str, message: str, columns: int) -> str:
    """A table row of ``columns`` cells: the system, then a message (missing, error)."""
    return f"| {label} | {message} |" + " |" * (columns - 2)


def say(message: str) -> None:
    print(f"[semantic study] {message}", flush=True)


def present(work: Path, rel: str) -> bool:
    """A model folder (".../model") holds its config and weights; anything else exists."""
    path = work / rel
    if rel.endswith("model"):
        return (path / CONFIG_FILE).is_file() and (path / WEIGHTS_FILE).is_file()
    return path.exists()


def short_hash(*parts: object) -> str:
    return hashlib.sha256("\x00".join(map(str, parts)).encode()).hexdigest()[:10]


@functools.cache
def digest(folder: Path) -> str:
    """Digest of a model folder's config and weights (and its tokenizer/ weights, if any)."""
    h = hashlib.sha256()
    for path in (
        folder / CONFIG_FILE,
        folder / WEIGHTS_FILE,
        folder / TOKENIZER_DIR / WEIGHTS_FILE,
    ):
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()[:10]


@dataclass(frozen=True)
class Sentence:
    """One held-out sentence: line ``id`` of lines.txt, its first test recording."""

    id: int
    text: str
    audio: str
    speaker: str


@dataclass
class Study:
    """The run's settings, folders, sentences and what it has loaded or made so far."""

    args: argparse.Namespace
    root: Path  # cache folder of this sentence list
    sentences: list[Sentence]
    prompts: dict[str, str | None]  # speaker -> training utterance for the voice prompt
    tokenizer: Path | None  # the frozen tokenizer of the ceiling and the real codes
    codes: dict[tuple[str, int | None], list[dict]] = field(default_factory=dict)
    tokenizers: dict[Path, SemanticTokenizer] = field(default_factory=dict)

    @property
    def lines(self) -> Path:
        return self.root / "lines.txt"

    def folder(self, key: str) -> Path:
        return self.args.work / T2S[key][1]

    def load_tokenizer(self, folder: Path) -> SemanticTokenizer:
        if folder not in self.tokenizers:
            self.tokenizers[folder] = load_tokenizer(folder, self.args.device)
        return self.tokenizers[folder]


def seconds_of(entry: ManifestEntry) -> float:
    return entry.duration if entry.duration is not None else sf.info(entry.audio).duration


def pick_sentences(work: Path, count: int, seed: int) -> tuple[list[Sentence], dict, list[str]]:
    """The sentences, each speaker's prompt utterance, and notes on the held-out check."""
    manifest = work / "corpus/manifest.jsonl"
    entries = read_manifest(manifest)
    first: dict[str, ManifestEntry] = {}
    for entry in entries:
        if entry.split == "test":
            first.setdefault(entry.text.strip(), entry)
    if not first:
        raise FlowvoxError(f"{manifest}: no utterance of split test; build a larger corpus")
    chosen = set(random.Random(seed).sample(list(first), min(count, len(first))))
    picked = [first[t] for t in first if t in chosen]
    sentences = [Sentence(i, e.text.strip(), e.audio, e.speaker) for i, e in enumerate(picked, 1)]
    prompts: dict[str, str | None] = {}
    for s in sentences:
        train = [e for e in entries if e.split == "train" and e.speaker == s.speaker]
        best = min(train, key=lambda e: abs(seconds_of(e) - PROMPT_SECONDS), default=None)
        prompts[s.speaker] = None if best is None else best.audio
    keys = [normalize_sentence(s.text) for s in sentences]
    train_keys = {normalize_sentence(e.text) for e in entries if e.split == "train"}
    unspoken = work / "sentences-unspoken.txt"
    spare = unspoken.read_text(encoding="utf-8").splitlines() if unspoken.is_file() else []
    spare_keys = {normalize_sentence(t) for t in spare}
    notes = [
        f"{len(sentences)} of the {len(first)} distinct sentences of split test (seed {seed});",
        f"{sum(map(is_held_out, (s.text for s in sentences)))} pass `is_held_out`, "
        f"{sum(k in train_keys for k in keys)} also occur in split train, "
        f"{sum(k in spare_keys for k in keys)} in sentences-unspoken.txt "
        f"({'present' if spare else 'missing'}).",
        f"{sum(p is None for p in prompts.values())} of {len(prompts)} speakers have no training "
        "utterance for a voice prompt (they speak unprompted).",
    ]
    return sentences, prompts, notes


@torch.inference_mode()
def decode_codes(tok: SemanticTokenizer, codes: list[list[int]], batch: int = 32) -> list[str]:
    """The frozen decoder's greedy text of each code list (padded with the mask code)."""
    texts, device = [], next(tok.parameters()).device
    for start in range(0, len(codes), batch):
        rows = codes[start : start + batch]
        ids = torch.full((len(rows), max(map(len, rows))), tok.config.codebook_size)  # (b, n)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        sem = tok.dequantize(ids.to(device))
        texts += tok.transcribe(sem.emb, sem.mask)
    return texts


def real_codes(study: Study) -> dict[int, dict]:
    """id -> {"codes": the frozen tokenizer's codes of the recording, "text": decoded}."""
    path = study.root / f"real-{digest(study.tokenizer)}.json"
    if path.is_file():
        return {int(k): v for k, v in json.loads(path.read_text()).items()}
    say(f"encoding {len(study.sentences)} test recordings with {study.tokenizer}")
    tok = study.load_tokenizer(study.tokenizer)
    size = tok.config.codebook_size
    codes = [[c for c in encode_audio(tok, s.audio) if c < size] for s in study.sentences]
    texts = decode_codes(tok, codes)
    out = {s.id: {"codes": c, "text": t}
           for s, c, t in zip(study.sentences, codes, texts, strict=True)}  # fmt: skip
    atomic_write_text(path, json.dumps(out))
    return out


def t2s_codes(study: Study, key: str, nfe: int | None) -> list[dict]:
    """The token-file records (by sentence) of model ``key`` at ``nfe`` (None: AR greedy),
    made by ``generate_tokens_file`` (resumable) and each decoded once ("decoded")."""
    if (key, nfe) in study.codes:
        return study.codes[(key, nfe)]
    a, folder = study.args, study.folder(key)
    out = study.root / f"{key}-{digest(folder)}" / (f"nfe{nfe}" if nfe else "greedy")
    sampling = dict(nfe=nfe) if nfe else dict(temperature=0.0)
    settings = GenerateSettings(seed=a.seed, batch_size=a.batch_size, **sampling)
    out.parent.mkdir(parents=True, exist_ok=True)
    say(f"{key} {out.name}: text -> codes")
    report = generate_tokens_file(study.lines, out, folder, settings, device=a.device)
    if report.made:
        say(report.summary())
    ids = {s.id for s in study.sentences}
    lines = (out / "tokens.jsonl").read_text(encoding="utf-8").splitlines()
    records = sorted((r for r in map(json.loads, lines) if r["id"] in ids), key=lambda r: r["id"])
    decoded = out / "decoded.json"
    texts = json.loads(decoded.read_text()) if decoded.is_file() else {}
    if set(texts) != {str(r["id"]) for r in records}:
        say(f"{key} {out.name}: codes -> text with {folder / TOKENIZER_DIR}")
        tok = study.load_tokenizer(folder / TOKENIZER_DIR)
        made = decode_codes(tok, [r["codes"] for r in records])
        texts = {str(r["id"]): t for r, t in zip(records, made, strict=True)}
        atomic_write_text(decoded, json.dumps(texts))
    for r in records:
        r["decoded"] = texts[str(r["id"])]
    study.codes[(key, nfe)] = records
    return records


@dataclass(frozen=True)
class TextScore:
    wer: float
    cer: float
    exact: float
    sentences: int


def text_score(references: list[str], hypotheses: list[str]) -> TextScore:
    """Corpus WER and CER on ``normalize_for_wer`` text, and the share of exact matches."""
    import jiwer

    errors = chars = same = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        ref, hyp = normalize_for_wer(ref), normalize_for_wer(hyp)
        same += ref == hyp
        out = jiwer.process_characters(ref, hyp) if ref else None
        errors += len(hyp) if out is None else out.substitutions + out.deletions + out.insertions
        chars += len(ref)
    words = wer_many(references, hypotheses)
    return TextScore(words.wer, errors / max(chars, 1), same / len(references), len(references))


def pct(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{100 * x:.1f}"


def model_rows(study: Study):
    """(key, label, folder in WORK, NFE list or None when missing) of every T2S model."""
    for key, (label, rel) in T2S.items():
        nfes = [None] if key == "ar" else list(study.args.nfe)
        yield key, label, rel, (nfes if present(study.args.work, rel) else None)


def roundtrip_section(study: Study, real: dict | None) -> tuple[list[str], dict]:
    refs = [s.text for s in study.sentences]
    lines = ["## 1. Round trip: text -> T2S -> codes -> frozen decoder -> text", "",
             "| system | NFE | cfg | sentences | WER % | CER % | exact % |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    scores: dict[tuple[str, int | None], TextScore] = {}
    if real is None:
        lines.append(note_row(CEILING, "missing: no frozen tokenizer", 7))
    else:
        ceiling = text_score(refs, [real[s.id]["text"] for s in study.sentences])
        lines.append(f"| {CEILING} | - | - | {ceiling.sentences} | {pct(ceiling.wer)} | "
                     f"{pct(ceiling.cer)} | {pct(ceiling.exact)} |")  # fmt: skip
    for key, label, rel, nfes in model_rows(study):
        if nfes is None:
            lines.append(note_row(label, f"missing: WORK/{rel}", 7))
            continue
        for nfe in nfes:
            try:
                records = t2s_codes(study, key, nfe)
            except FlowvoxError as err:
                lines.append(note_row(label, f"NFE {nfe or '-'}: error: {err}", 7))
                continue
            score = scores[(key, nfe)] = text_score(refs, [r["decoded"] for r in records])
            cfg = records[0].get("cfg", "-")
            lines.append(f"| {label} | {nfe or '-'} | {cfg} | {score.sentences} | "
                         f"{pct(score.wer)} | {pct(score.cer)} | {pct(score.exact)} |")  # fmt: skip
    return lines, scores


def gap_section(study: Study, scores: dict) -> list[str]:
    lines = ["## 2. Text-only learning: FM (b) against FM (a)", ""]
    rows = [(n, scores.get(("fm-a", n)), scores.get(("fm-b", n))) for n in study.args.nfe]
    rows = [(n, a, b) for n, a, b in rows if a is not None and b is not None]
    if not rows:
        return lines + ["Not measured: FM (a) or FM (b) has no round trip (missing or failed)."]
    gaps = ", ".join(f"NFE {n}: {pct(b.wer)} − {pct(a.wer)} = {100 * (b.wer - a.wer):+.1f}"
                     for n, a, b in rows)  # fmt: skip
    return lines + [f"Round-trip WER of FM (b) − FM (a), in points: {gaps}."]


def judged(path: Path, asr: str, files: dict[str, Path]) -> list[UtteranceScore] | None:
    """The cached scores in ``path`` when they are of judge ``asr``, of exactly the ids of
    ``files`` (id -> audio), and newer than every one of those files."""
    if not path.is_file() or any(f.stat().st_mtime > path.stat().st_mtime for f in files.values()):
        return None
    record = json.loads(path.read_text())
    scores = [UtteranceScore(**s) for s in record["scores"]]
    return scores if record["asr"] == asr and {s.id for s in scores} == set(files) else None


def e2e_systems(study: Study, s2a_dir: Path, base: str) -> tuple[dict, list[str]]:
    """label -> (folder of its wavs, sentence -> codes) of each system S2A speaks, and notes
    on the T2S models left out (missing, another tokenizer, an error)."""
    a, s2a_tok = study.args, study.load_tokenizer(s2a_dir / TOKENIZER_DIR)
    size = s2a_tok.config.codebook_size
    copy = lambda s: [c for c in encode_audio(s2a_tok, s.audio) if c < size]  # noqa: E731
    systems = {COPY: (study.root / f"e2e-copy-{base}", copy)}
    notes = []
    for key, label, rel, nfes in model_rows(study):
        nfe = None if key == "ar" else a.e2e_nfe
        if nfes is None:
            notes.append(f"{label}: missing (WORK/{rel}).")
            continue
        if digest(study.folder(key) / TOKENIZER_DIR) != digest(s2a_dir / TOKENIZER_DIR):
            notes.append(f"{label}: not measured, its tokenizer differs from the S2A model's.")
            continue
        try:
            codes = {r["id"]: r["codes"] for r in t2s_codes(study, key, nfe)}
        except FlowvoxError as err:
            notes.append(f"{label}: error: {err}")
            continue
        name = f"{label}, NFE {nfe}" if nfe else label
        folder = study.root / f"e2e-{key}-{short_hash(digest(study.folder(key)), nfe, base)}"
        systems[name] = (folder, lambda s, c=codes: c[s.id])
    return systems, notes


def speak_all(study: Study, s2a_dir: Path, vocoder: Path | None, systems: dict) -> list[str]:
    """Write each system's missing wavs (S2A in batches, then the vocoder); notes on errors
    (a system that fails is dropped from ``systems``)."""
    a, notes = study.args, []
    model = load_s2a(s2a_dir, a.device)
    s2a_tok = study.load_tokenizer(s2a_dir / TOKENIZER_DIR)
    voc = resolve_vocoder(vocoder, model.config.mel, a.device, "the S2A model")
    prompts: dict[str, tuple] = {}
    for name, (folder, codes_of) in list(systems.items()):
        folder.mkdir(parents=True, exist_ok=True)
        todo = [s for s in study.sentences[: a.e2e_sentences] if not wav_of(folder, s).is_file()]
        for start in range(0, len(todo), a.s2a_batch):
            batch = todo[start : start + a.s2a_batch]
            say(f"S2A + vocoder: {name}, sentences {start + 1}-{start + len(batch)} of {len(todo)}")
            for s in batch:
                if s.speaker not in prompts:
                    prompts[s.speaker] = voice_prompt(model, s2a_tok, study.prompts[s.speaker])
            jobs = [S2AJob(codes_of(s), *prompts[s.speaker], a.seed + s.id) for s in batch]
            try:
                mels = model.sample(jobs, a.s2a_nfe)
            except FlowvoxError as err:
                notes.append(f"{name}: S2A error: {err}")
                del systems[name]
                break
            for s, wav in zip(batch, vocode_mels(voc, mels), strict=True):
                save_audio(wav_of(folder, s), wav, model.config.mel.sample_rate)
    return notes


def wav_of(folder: Path, sentence: Sentence) -> Path:
    return folder / f"{sentence.id:05d}.wav"


def judge_all(study: Study, systems: dict) -> list[UtteranceScore]:
    """The judges' scores of the ground truth and every system, each cached in its folder's
    judged.json (kept while the judge and the sentences are the same)."""
    a, sentences = study.args, study.sentences[: study.args.e2e_sentences]
    items = [EvalItem(str(s.id), s.text, f"sentence {s.id}", study.prompts[s.speaker], None,
                      s.audio, s.speaker) for s in sentences]  # fmt: skip
    files = {name: {str(s.id): wav_of(folder, s) for s in sentences}
             for name, (folder, _) in systems.items()}  # fmt: skip
    files[GROUND_TRUTH] = {str(s.id): Path(s.audio) for s in sentences}
    caches = {name: folder / "judged.json" for name, (folder, _) in systems.items()}
    caches = {GROUND_TRUTH: study.root / "truth-judged.json", **caches}
    scores = {name: judged(path, a.asr, files[name]) for name, path in caches.items()}
    todo = {name: files[name] for name in systems if scores[name] is None}
    truth = scores[GROUND_TRUTH] is None
    if todo or truth:
        say(f"judging {len(todo) + truth} systems with {a.asr}")
        config = JudgeConfig(asr=a.asr, workers=a.asr_workers, speaker=False, device=a.device)
        new = Judges(config).score(items, todo, ground_truth=truth)
        for name in {s.system for s in new}:
            scores[name] = [s for s in new if s.system == name]
            record = {"asr": a.asr, "scores": [asdict(s) for s in scores[name]]}
            atomic_write_text(caches[name], json.dumps(record))
    return [s for name in caches for s in scores[name]]


def e2e_section(study: Study) -> list[str]:
    a, work = study.args, study.args.work
    head = [f"## 3. End to end: text -> T2S -> S2A -> vocoder -> {a.asr} WER", ""]
    if not present(work, "s2a/model"):
        return head + ["Not measured: the S2A model (WORK/s2a/model) is missing."]
    s2a_dir = work / "s2a/model"
    vocoder = work / "vocoder/model" if present(work, "vocoder/model") else None
    base = short_hash(digest(s2a_dir), vocoder and digest(vocoder), a.s2a_nfe, a.seed)
    systems, notes = e2e_systems(study, s2a_dir, base)
    notes += speak_all(study, s2a_dir, vocoder, systems)
    lines = head + [
        f"S2A {a.s2a_nfe} steps (Euler, sway −1, its guidance), vocoder "
        f"{'WORK/vocoder/model' if vocoder else 'Griffin-Lim'}; the first "
        f"{len(study.sentences[: a.e2e_sentences])} sentences.",
        "", "| system | sentences | WER % | duration ratio | MCD dB |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for s in summarize(judge_all(study, systems)):
        ratio = "-" if s.duration_ratio is None else f"{s.duration_ratio:.2f}"
        mcd = "-" if s.mcd_db is None else f"{s.mcd_db:.2f}"
        lines.append(f"| {s.system} | {s.utterances} | {pct(s.wer)} | {ratio} | {mcd} |")
    return lines + ([""] + notes if notes else [])


def kl_usage(real: Counter, generated: Counter, size: int) -> float:
    """KL(real ‖ generated) in nats over ``size`` codes, each count + ``SMOOTHING``."""
    p_total = sum(real.values()) + SMOOTHING * size
    q_total = sum(generated.values()) + SMOOTHING * size
    kl = 0.0
    for code in range(size):
        p = (real[code] + SMOOTHING) / p_total
        kl += p * math.log(p / ((generated[code] + SMOOTHING) / q_total))
    return kl


def token_section(study: Study, real: dict | None) -> list[str]:
    lines = ["## 4. Token statistics against the real codes of the test recordings", ""]
    if real is None:
        return lines + ["Not measured: no frozen tokenizer for the real codes."]
    size = study.load_tokenizer(study.tokenizer).config.codebook_size
    truth = [real[s.id]["codes"] for s in study.sentences]
    usage = Counter(c for row in truth for c in row)
    floor = kl_usage(Counter(c for row in truth[::2] for c in row),
                     Counter(c for row in truth[1::2] for c in row), size)  # fmt: skip
    lines += [
        f"KL(real ‖ generated) in nats over the {size} codes, each count + {SMOOTHING:g} "
        f"(add-one smoothing). Real: {sum(usage.values())} codes of {len(truth)} recordings, "
        f"{len(usage)} distinct; KL between the odd and the even sentences' real codes (the "
        f"floor at this sample size): {floor:.3f}.", "",
        "| system | NFE | codes used | KL nats | abs len err (tokens) | abs len err % | "
        "mean N − real | ended at EOS % |", "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for key, label, rel, nfes in model_rows(study):
        if nfes is None:
            lines.append(note_row(label, f"missing: WORK/{rel}", 8))
            continue
        for nfe in nfes:
            try:
                records = t2s_codes(study, key, nfe)
            except FlowvoxError as err:
                lines.append(note_row(label, f"NFE {nfe or '-'}: error: {err}", 8))
                continue
            made = Counter(c for r in records for c in r["codes"])
            diffs = [len(r["codes"]) - len(t) for r, t in zip(records, truth, strict=True)]
            rel_err = [abs(d) / max(len(t), 1) for d, t in zip(diffs, truth, strict=True)]
            ended = [r["ended"] for r in records if "ended" in r]  # AR only
            ended_pct = pct(sum(ended) / len(ended)) if ended else "-"
            lines.append(
                f"| {label} | {nfe or '-'} | {len(made)} | {kl_usage(usage, made, size):.3f} | "
                f"{sum(map(abs, diffs)) / len(diffs):.1f} | {pct(sum(rel_err) / len(rel_err))} "
                f"| {sum(diffs) / len(diffs):+.1f} | {ended_pct} |"
            )  # fmt: skip
    return lines


def timed(pair, texts: list[str], batch: int, settings: GenerateSettings) -> tuple[float, int]:
    """Seconds and codes of ``texts`` in batches of ``batch`` after one untimed warm-up."""
    t2s_records(pair, texts[:batch], list(range(batch)), settings)
    start, codes = time.perf_counter(), 0
    for first in range(0, len(texts), batch):
        rows = texts[first : first + batch]
        records = t2s_records(pair, rows, list(range(first, first + len(rows))), settings)
        codes += sum(len(r["codes"]) for r in records)
    return time.perf_counter() - start, codes


def speed_section(study: Study) -> list[str]:
    a = study.args
    lines = [f"## 5. Throughput on this machine ({torch.get_num_threads()} threads, {a.device})",
             "", "| system | NFE | batch | sentences | seconds | sentences/s | tokens/s |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip
    fm = [key for key in ("fm-a", "fm-c", "fm-b") if present(a.work, T2S[key][1])]
    runs = [(fm[0], GenerateSettings(nfe=8))] if fm else []
    if present(a.work, "t2s-ar/model"):
        runs.append(("ar", GenerateSettings(temperature=0.0)))
    if not runs:
        return lines[:2] + ["Not measured: no T2S model is present."]
    texts = [s.text for s in study.sentences]
    for key, settings in runs:
        pair = load_t2s_pair(study.folder(key), device=a.device)
        label = T2S[key][0]
        nfe = "-" if pair.autoregressive else f"8 (cfg {pair.model.check_guidance(None):g})"
        for batch, count in ((1, a.speed_sentences), (a.bulk, 2 * a.bulk)):
            rows = [texts[i % len(texts)] for i in range(count)]
            say(f"throughput: {label}, batch {batch}, {count} sentences")
            seconds, codes = timed(pair, rows, batch, settings)
            lines.append(f"| {label} | {nfe} | {batch} | {count} | {seconds:.2f} | "
                         f"{count / seconds:.2f} | {codes / seconds:.0f} |")  # fmt: skip
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("work", type=Path, help="the recipe's WORK folder")
    p.add_argument("--out", type=Path, default=Path("experiments/results/semantic.md"))
    p.add_argument("--cache", type=Path, help="default: WORK/semantic-study")
    p.add_argument("--sentences", type=int, default=100, help="held-out sentences (100)")
    p.add_argument("--nfe", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    p.add_argument("--e2e-nfe", type=int, default=8, help="FM steps of table 3 (8)")
    p.add_argument("--e2e-sentences", type=int, default=50, help="the first N sentences (50)")
    p.add_argument("--s2a-nfe", type=int, default=16)
    p.add_argument("--s2a-batch", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=32, help="T2S lines a batch (32)")
    p.add_argument("--asr", default="pocketsphinx")
    p.add_argument("--asr-workers", type=int, default=1)
    p.add_argument("--speed-sentences", type=int, default=16, help="timed at batch 1 (16)")
    p.add_argument("--bulk", type=int, default=32, help="bulk batch, timed on 2 batches (32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip", nargs="*", default=[], choices=SKIPPABLE)
    args = p.parse_args(argv)
    if min(args.nfe + [args.e2e_nfe, args.sentences, args.e2e_sentences, args.bulk]) < 1:
        p.error("NFE, sentence counts and --bulk must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    say(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    work = args.work
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    page = [
        "# Text-to-semantic, measured (issue 16)", "",
        f"`python -m experiments.semantic_study {shlex.join(argv or sys.argv[1:])}` "
        f"on {machine}, torch {torch.__version__} with {torch.get_num_threads()} threads, "
        f"{time.strftime('%Y-%m-%d')}. Method: experiments/semantic_study.py's docstring.", "",
        "## What WORK holds", "", "| part | path | |", "|---|---|---|",
        *(f"| {name} | WORK/{rel} | {'present' if present(work, rel) else '**missing**'} |"
          for name, rel in PARTS),
    ]  # fmt: skip
    if not present(work, "corpus/manifest.jsonl"):
        page += ["", "Nothing measured: the corpus (WORK/corpus/manifest.jsonl) is missing."]
    else:
        sentences, prompts, notes = pick_sentences(work, args.sentences, args.seed)
        key = short_hash(args.seed, *(f"{s.text}\t{s.audio}" for s in sentences))
        root = (args.cache or work / "semantic-study") / f"sentences-{key}"
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / "lines.txt", "".join(s.text + "\n" for s in sentences))
        tokenizers = [work / rel / TOKENIZER_DIR for _, rel in T2S.values() if present(work, rel)]
        if present(work, "semantic-vq/model"):
            tokenizers.insert(0, work / "semantic-vq/model")
        tokenizer = tokenizers[0] if tokenizers else None
        study = Study(args, root, sentences, prompts, tokenizer)
        notes.append(f"Frozen tokenizer of the ceiling and the real codes: {tokenizer or 'none'}.")
        page += ["", f"## Sentences ({len(sentences)})", "", " ".join(notes)]
        try:
            real = real_codes(study) if tokenizer is not None else None
        except FlowvoxError as err:  # e.g. a stage-asr tokenizer: no codes to compare with
            real, study.tokenizer = None, None
            page.append(f"The frozen tokenizer cannot encode: {err}")
        if "roundtrip" not in args.skip:
            lines, scores = roundtrip_section(study, real)
            page += ["", *lines, "", *gap_section(study, scores)]
        for name, section in (("e2e", lambda: e2e_section(study)),
                              ("tokens", lambda: token_section(study, real)),
                              ("speed", lambda: speed_section(study))):  # fmt: skip
            if name not in args.skip:
                try:
                    page += ["", *section()]
                except FlowvoxError as err:  # e.g. a vocoder for another mel: the rest stands
                    page += ["", f"## {name}: not measured: {err}"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, "\n".join(page) + "\n")
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
