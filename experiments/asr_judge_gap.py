"""Why the pocketsphinx judge scores the engine voices 2-3x worse than DESIGN.md's table.

    python -m experiments.asr_judge_gap          # writes experiments/results/asr_judge_gap.md

The same ``--per-voice`` held-out sentences (seed 0) spoken by the seven corpus voices of
DESIGN.md's table, built like the corpus (24 kHz, trimmed, -23 LUFS) by
``griffin_lim_wer.build_held_out`` under ``--work``; the raw engine wavs (native rate,
untrimmed, not normalised) are made beside them. Conditions, one pocketsphinx decoder each:

- judge: ``PocketsphinxASR()`` as ``flowvox eval`` runs it (corpus audio -> 16 kHz);
- native: the engine's own wav (8/16 kHz, untouched) -> 16 kHz, same decoder;
- cmn live: pocketsphinx's own default (live CMN) instead of batch CMN;
- pad 0.5 s: half a second of silence added on both sides of the trimmed audio.

(Also tried on 20 corpus sentences per voice, by hand: ``remove_noise=True`` changed
nothing, ``wip=0.2`` 22.0 -> 21.7 %, ``fwdflat=False`` 21.4 %, ``lw=10`` 40.6 %.)

Text: WER over all sentences; over the sentences whose every word is in the recogniser's
vocabulary (the en-us LM's unigrams that also have a pronunciation in cmudict-en-us.dict);
and over the sentences whose every word is among the LM's ``--common`` most probable
unigrams (plain everyday text), pooled with a second sample when ``--corpus DIR`` is given
(the first ``--corpus-per-voice`` utterances of each voice in a built corpus, judge only).
Transcripts are kept in ``WORK/transcripts.json``; ``--render-only`` rebuilds the page.
"""
# s: samples

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from griffin_lim_wer import DEFAULT_WORK, build_held_out

from flowvox.eval.text_norm import normalize_for_wer, wer_many
from flowvox.utils.atomic import atomic_write_text

RESULTS = Path(__file__).parent / "results" / "asr_judge_gap.md"
DESIGN = {  # DESIGN.md: pocketsphinx WER of each voice's own clean output on 20 sentences
    "flite:rms": 6, "festival:cmu_us_slt_arctic_hts": 10, "flite:kal16": 13, "flite:awb": 14,
    "festival:ked_diphone": 16, "flite:slt": 17, "festival:kal_diphone": 18,
}  # fmt: skip
CONDITIONS = {
    "judge": {},
    "native": {},
    "cmn live": {"cmn": "live"},
    "pad 0.5 s": {},
}


def vocabulary() -> tuple[set[str], dict[str, int]]:
    """Words pocketsphinx can output (en-us LM unigrams with a cmudict pronunciation), and
    each LM unigram's rank by probability (0 = most probable)."""
    import pocketsphinx

    model = Path(pocketsphinx.get_model_path()) / "en-us"
    spoken = {line.split()[0].split("(")[0] for line in open(model / "cmudict-en-us.dict")}
    with tempfile.TemporaryDirectory() as tmp:
        arpa = Path(tmp) / "lm.arpa"
        # pocketsphinx 5.1.1 crashes (SIGSEGV) part-way through writing the bigrams: write in
        # a child process and keep the unigram section, checked against the header's count
        dump = (
            "import pocketsphinx as p, sys; m = p.NGramModel.readfile(sys.argv[1]); "
            "m.write(sys.argv[2], p.NGramModel.str_to_type('arpa'))"
        )
        lm_path = str(model / "en-us.lm.bin")
        subprocess.run([sys.executable, "-c", dump, lm_path, str(arpa)], check=False)
        logprob, inside, expected = {}, False, -1
        for line in arpa.open(encoding="utf-8", errors="replace"):
            if line.startswith("ngram 1="):
                expected = int(line.split("=")[1])
            elif line.startswith("\\1-grams"):
                inside = True
            elif line.startswith("\\2-grams"):
                break
            elif inside and line.strip():
                fields = line.split("\t")
                logprob[fields[1]] = float(fields[0])
    assert len(logprob) == expected, f"read {len(logprob)} of {expected} unigrams"
    ranked = sorted(logprob, key=lambda w: -logprob[w])
    return set(logprob) & spoken, {w: k for k, w in enumerate(ranked)}


def judge_voice(voice: str, texts: list[str], wavs: list[str], raws: list[str]) -> dict:
    """Transcripts of one voice's clips under every condition (runs in a worker)."""
    import numpy as np

    from flowvox.audio import load_audio
    from flowvox.audio.asr import PocketsphinxASR, PocketsphinxConfig

    out: dict[str, list[str]] = {}
    cpu = time.process_time()
    for name, changes in CONDITIONS.items():
        asr = PocketsphinxASR(PocketsphinxConfig(**changes))  # type: ignore[arg-type]
        hyps = []
        for wav, raw in zip(wavs, raws, strict=True):
            clip = load_audio(raw if name == "native" else wav)
            x = clip.wav  # (s,)
            if name == "pad 0.5 s":
                pad = np.zeros(clip.sample_rate // 2, np.float32)
                x = np.concatenate([pad, x, pad])
            hyps.append(asr.transcribe(x, clip.sample_rate))
        out[name] = hyps
    return {"voice": voice, "texts": texts, "hyps": out, "cpu": time.process_time() - cpu}


def judge_only(voice: str, texts: list[str], wavs: list[str]) -> dict:
    """Transcripts of one voice's clips by the judge as flowvox eval runs it (a worker)."""
    from flowvox.audio.asr import PocketsphinxASR

    return {
        "voice": voice,
        "texts": texts,
        "hyps": {"judge": PocketsphinxASR().transcribe_files(wavs)},
    }


def corpus_sample(corpus: Path | None, per_voice: int, workers: int) -> list[dict]:
    """The first ``per_voice`` utterances of each DESIGN.md voice in a built corpus, judged."""
    if corpus is None:
        return []
    from flowvox.data.manifest import read_manifest

    picked: dict[str, list] = {}
    for entry in read_manifest(corpus / "manifest.jsonl"):
        voice = entry.extra.get("voice")
        if voice in DESIGN and len(picked.setdefault(voice, [])) < per_voice:
            picked[voice].append(entry)
    jobs = [(v, [e.text for e in es], [e.audio for e in es]) for v, es in picked.items()]
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(judge_only, *zip(*jobs, strict=True)))


def raw_engine_wavs(voice_name: str, texts: list[str], folder: Path) -> list[str]:
    """The engine's own wavs for ``texts`` (made once, kept under ``folder``)."""
    from flowvox.data.corpus.engines import synthesize_raw
    from flowvox.data.corpus.voices import resolve_voice

    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{i:04d}.wav" for i in range(len(texts))]
    if not all(p.is_file() for p in paths):
        synthesize_raw(resolve_voice(voice_name), texts, folder)
    return [str(p) for p in paths]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK.parent / "asr_judge_gap")
    parser.add_argument("--per-voice", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--common", type=int, default=20000, help="common-word LM ranks")
    parser.add_argument("--render-only", action="store_true", help="reuse WORK/transcripts")
    parser.add_argument("--corpus", type=Path, help="also judge a built corpus's utterances")
    parser.add_argument("--corpus-per-voice", type=int, default=20)
    args = parser.parse_args()
    saved = args.work / "transcripts.json"
    start = time.perf_counter()
    if args.render_only:
        record = json.loads(saved.read_text())
        judged, wall = record["judged"], record["wall"]
    else:
        utts = build_held_out(args.work, list(DESIGN), args.per_voice, 0, args.workers)
        jobs = []
        for voice in DESIGN:
            mine = [u for u in utts if u.voice == voice]
            texts = [u.text for u in mine]
            raws = raw_engine_wavs(voice, texts, args.work / "raw" / voice.replace(":", "-"))
            jobs.append((voice, texts, [u.audio for u in mine], raws))
        with ProcessPoolExecutor(args.workers) as pool:
            judged = list(pool.map(judge_voice, *zip(*jobs, strict=True)))
        extra = corpus_sample(args.corpus, args.corpus_per_voice, args.workers)
        wall = time.perf_counter() - start
        atomic_write_text(saved, json.dumps({"judged": judged, "extra": extra, "wall": wall}))
    if args.render_only:
        extra = record["extra"]
    vocab, rank = vocabulary()
    texts_all = {t for j in judged + extra for t in j["texts"]}
    words_of = {t: normalize_for_wer(t).split() for t in texts_all}
    in_vocab = {t: all(w in vocab for w in words_of[t]) for t in texts_all}
    common = {t: all(rank.get(w, len(rank)) < args.common for w in words_of[t]) for t in texts_all}
    names = list(CONDITIONS)
    head = ["voice", "DESIGN.md", *names, "judge 95 % CI", "judge, no-OOV sent.",
            f"judge, top-{args.common // 1000}k-word sent."]  # fmt: skip
    rows = [f"| {' | '.join(head)} |", "|---" * len(head) + "|"]
    for j in [*judged, _pooled(judged)]:
        texts, hyps = j["texts"], j["hyps"]
        cells = [j["voice"], f"{DESIGN[j['voice']]} %" if j["voice"] in DESIGN else "13.4 % (mean)"]
        cells += [f"{100 * wer_many(texts, hyps[n]).wer:.1f} %" for n in names]
        cells += [_interval(texts, hyps["judge"]), _subset(j, in_vocab)]
        if j["voice"] in DESIGN:
            more = [e for e in extra if e["voice"] == j["voice"]]
        else:
            more = [e for e in extra if e["voice"] in DESIGN]
        cells.append(_subset(_pooled([j, *more]), common))
        rows.append("| " + " | ".join(cells) + " |")
    held_out = {t for j in judged for t in j["texts"]}
    oov_words = sum(1 for t in held_out for w in words_of[t] if w not in vocab)
    words = sum(len(words_of[t]) for t in held_out)
    text = [
        "# pocketsphinx judge vs DESIGN.md's engine-voice table",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), CPU, "
        f"{args.workers} worker processes (shared with a background training run); "
        f"{wall:.0f} s wall. Produced by `python -m experiments.asr_judge_gap"
        + (f" --corpus {args.corpus}" if args.corpus else "")
        + "`.",
        "",
        f"Audio: the same {args.per_voice} held-out WordNet sentences (seed 0) per voice. "
        f"Out-of-vocabulary words: {oov_words} of {words} ({100 * oov_words / words:.1f} %); "
        f"{sum(not in_vocab[t] for t in held_out)} of {len(held_out)} sentences hold one. "
        "WER corpus-level, text normalised by `normalize_for_wer`. CI: 2.5-97.5 percentiles "
        "of 1000 bootstrap resamples of the sentences. Last column: sentences whose words "
        f"are all among the LM's {args.common} most probable unigrams"
        + (
            f", pooled with the first {args.corpus_per_voice} utterances per voice of the "
            f"corpus `{args.corpus}` (other sentences, judged the same way; its own WER: "
            f"{100 * wer_many(*_all(extra)).wer:.1f} % over all, "
            f"{_subset(_pooled(extra), common)} top-word sentences)"
            if extra
            else ""
        )
        + "; (n) = sentences.",
        "",
        *rows,
        "",
        "Held-out sentences with an out-of-vocabulary word:",
        *[f"- {t}" for t in sorted(held_out) if not in_vocab[t]],
        "",
    ]
    atomic_write_text(args.out, "\n".join(text))
    print("\n".join(text))


def _pooled(judged: list[dict]) -> dict:
    names = set.intersection(*(set(j["hyps"]) for j in judged))
    return {
        "voice": judged[0]["voice"] if len({j["voice"] for j in judged}) == 1 else "all seven",
        "texts": [t for j in judged for t in j["texts"]],
        "hyps": {n: [h for j in judged for h in j["hyps"][n]] for n in names},
    }


def _all(judged: list[dict]) -> tuple[list[str], list[str]]:
    pooled = _pooled(judged)
    return pooled["texts"], pooled["hyps"]["judge"]


def _subset(j: dict, keep: dict[str, bool]) -> str:
    """Judge WER over the sentences ``keep`` marks, with their count."""
    pick = [k for k, t in enumerate(j["texts"]) if keep[t]]
    if not pick:
        return "-"
    errors = wer_many([j["texts"][k] for k in pick], [j["hyps"]["judge"][k] for k in pick])
    return f"{100 * errors.wer:.1f} % ({len(pick)})"


def _interval(texts: list[str], hyps: list[str]) -> str:
    rng = random.Random(0)
    draws = []
    for _ in range(1000):
        pick = [rng.randrange(len(texts)) for _ in texts]
        draws.append(wer_many([texts[k] for k in pick], [hyps[k] for k in pick]).wer)
    draws.sort()
    return f"{100 * draws[25]:.0f}-{100 * draws[974]:.0f} %"


if __name__ == "__main__":
    main()
