"""Zero-shot voices (issue 19): does each model follow an unseen voice's prompt, and does it
keep the voices it trained on? One markdown page, every figure from ``flowvox eval run``.

    python -m experiments.zero_shot_study WORK MODEL_DIR [MODEL_DIR ...] --out PAGE.md
    python -m experiments.zero_shot_study /tmp/zs /tmp/zs/packed/* --sentences 2

WORK is scripts/build_zero_shot.sh's folder (corpus/, prepared/ with its d-vector cache);
each MODEL_DIR a packed or exported model folder, named by its folder name (or ``--names``).
The bundled voice (``--baseline``) is always measured too, as the baseline.

Prompt sets (``STUDY/testset.jsonl``, from ``flowvox eval testset``'s builder, seed ``--seed``;
``--sentences`` N items per set, taken in turn from each speaker):
- **unseen**: pseudo-speakers held out of training (split test_unseen): an utterance's text,
  another utterance of the same pseudo-speaker (another sentence) as prompt, its recording
  as ground truth;
- **librivox**: the five LibriVox clips of pocketsphinx-testdata: each clip's transcript with
  the next clip as prompt (ground truth: the clip), and N held-out corpus sentences with a
  clip as prompt (no ground truth);
- **seen**: held-out sentences (split test) of voices every model trained on (``--seen-voices``,
  default: the baseline's voices that WORK's corpus holds), another utterance of the same
  voice as prompt.

Each model speaks the manifest at its own sampling defaults through ``flowvox eval run``
(``flowvox.eval.run.run_eval``) into ``STUDY/eval/<name>-<digest of its weights>/``: its audio
is kept, so a stopped study continues, and a folder whose results.json names the same model,
manifest and settings is read instead of judged again (STUDY: ``--study-dir``, default
WORK/study). The ground truth is judged once, in the baseline's folder.

Figures per model and set (means over the set's utterances; WER corpus-level):
- WER (pocketsphinx), beside it the same judge on the recordings (GT);
- SIM: resemblyzer cosine of the output and its prompt (the eval's SIM-ref), beside it the
  recording's to its prompt (GT);
- closest: the prompt's best cosine to one of the model's training voices, each the mean
  d-vector of ``--per-voice`` of its training utterances (``voice_centroids`` of
  experiments/zero_shot_similarity.py, embeddings from WORK/prepared's d-vector cache): what
  picking the best training voice would reach; margin = SIM − closest. out→voice: the
  output's best cosine to a training voice (did it stay one?). Training voices: the baseline's
  are its prompts' voices (voices.json: the engine voices it was trained on, embedded from
  WORK's recordings of them); every other model's, every speaker of WORK/prepared/train.jsonl.
- Targets (issue 19): unseen and librivox SIM >= 0.80 and margin >= 0.05; seen SIM >= 0.85
  and WER <= 1.1 x the baseline's seen WER.

The speaker judge (``flowvox.eval.speaker.SpeakerEncoder``) and the d-vector condition of
``cond_dim`` models (``flowvox.audio.dvector.DVectorEncoder``) are one resemblyzer encoder, so
SIM can flatter the d-vector models. The page adds a measure without it
(``experiments.zero_shot_mfcc``): cosine of z-scored mean mel-cepstra.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from experiments.zero_shot_mfcc import MfccVoices
from experiments.zero_shot_page import SetFigures, render_page
from experiments.zero_shot_similarity import voice_centroids
from flowvox.audio.dvector import dvector_encoder_name
from flowvox.data.dvectors import cached_dvectors
from flowvox.errors import FlowvoxError
from flowvox.eval.items import read_eval_items
from flowvox.eval.judges import GROUND_TRUTH, JudgeConfig
from flowvox.eval.run import EvalConfig, run_eval
from flowvox.eval.speaker import SpeakerEncoder, similarity_matrix
from flowvox.eval.testset import EvalSetConfig, build_testset
from flowvox.utils.atomic import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "flowvox" / "default_voice"
SETS = ("unseen", "librivox", "seen")


@dataclass
class System:
    """One model of the study: its name on the page and its folder."""

    name: str
    model: Path
    baseline: bool = False

    def digest(self) -> str:
        """12 hex digits of sha256 over the weights and config.json: a re-exported or
        re-packed model is judged afresh."""
        sha = hashlib.sha256()
        for name in ("config.json", "model.safetensors"):
            if (self.model / name).is_file():
                sha.update((self.model / name).read_bytes())
        return sha.hexdigest()[:12]

    def kind(self) -> str:
        """'aligned, d-vector' from the folder's config.json."""
        config = json.loads((self.model / "config.json").read_text(encoding="utf-8"))
        family = str(config.get("task", "?")).removesuffix("_tts")
        dvec = (config.get("model") or {}).get("cond_dim", 0)
        return family + (", d-vector" if dvec else ", audio prompt")


def spread(records: list[dict], count: int, key) -> list[dict]:
    """Up to ``count`` records, one from each ``key`` group in turn (groups sorted)."""
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(key(record), []).append(record)
    queues = [list(groups[k]) for k in sorted(groups)]
    out: list[dict] = []
    while len(out) < count and any(queues):
        for queue in queues:
            if queue and len(out) < count:
                out.append(queue.pop(0))
    return out


def baseline_voices(baseline: Path) -> list[str]:
    """The voice names of a packed folder's voices.json ([] without one)."""
    path = baseline / "voices.json"
    if not path.is_file():
        return []
    return sorted(json.loads(path.read_text(encoding="utf-8")).get("voices", {}))


def build_sets(work: Path, study: Path, sentences: int, seen_voices: list[str], seed: int) -> Path:
    """Write (or reuse) ``study/testset.jsonl``: the three prompt sets (module docstring)."""
    out, params_file = study / "testset.jsonl", study / "testset.json"
    params = {"corpus": str((work / "corpus").resolve()), "sentences": sentences}
    params |= {"seen_voices": sorted(seen_voices), "seed": seed}
    if params_file.is_file() and out.is_file():
        before = json.loads(params_file.read_text(encoding="utf-8"))
        if before == params:
            return out
        raise FlowvoxError(
            f"{study} holds a study of other settings ({before}); give another --study-dir "
            "or delete it"
        )
    study.mkdir(parents=True, exist_ok=True)
    everything = study / "testset-all.jsonl"
    per_clip = max(1, math.ceil(sentences / 5))
    build_testset(
        EvalSetConfig(str(work / "corpus"), str(everything), librivox_sentences=per_clip, seed=seed)
    )
    records = [json.loads(x) for x in everything.read_text(encoding="utf-8").splitlines() if x]
    group = {name: [r for r in records if r["extra"]["group"] == name] for name in SETS}
    prompted = [r for r in group["unseen"] if r.get("ref_audio")]
    seen = [r for r in group["seen"] if r.get("ref_audio") and r["speaker"] in seen_voices]
    clips = [r for r in group["librivox"] if r.get("audio")]
    zero_shot = [r for r in group["librivox"] if not r.get("audio")]
    chosen = {
        "unseen": spread(prompted, sentences, lambda r: r["speaker"]),
        "librivox": clips + spread(zero_shot, sentences, lambda r: r["ref_audio"]),
        "seen": spread(seen, sentences, lambda r: r["speaker"]),
    }
    needs = {
        "unseen": "no test_unseen speaker has two utterances (text and prompt); build a larger "
        "corpus",
        "seen": f"none of the voices {seen_voices} has a held-out (split test) utterance; build "
        "a larger corpus, or name others with --seen-voices",
        "librivox": "no LibriVox clip",
    }
    for name, items in chosen.items():
        if not items:
            raise FlowvoxError(f"{work}/corpus: no item for the prompt set {name!r}: {needs[name]}")
    lines = [json.dumps(r, ensure_ascii=False) for name in SETS for r in chosen[name]]
    atomic_write_text(out, "\n".join(lines) + "\n")
    atomic_write_text(params_file, json.dumps(params, indent=1) + "\n")
    return out


def evaluate(system: System, manifest: Path, study: Path, args) -> dict:
    """``flowvox eval run`` of one model on the manifest (reused when already judged)."""
    out = study / "eval" / f"{system.name}-{system.digest()}"
    results = out / "results.json"
    if results.is_file():
        record = json.loads(results.read_text(encoding="utf-8"))
        config = record["config"]
        same = config["model"] == str(system.model) and config["manifest"] == str(manifest)
        same &= config["seed"] == args.seed and (args.nfe is None or config["nfe"] == [args.nfe])
        if same and (args.cfg is None or config["cfg"] == args.cfg):
            print(f"   {system.name}: judged before, reading {results}")
            return record
    config = EvalConfig(
        manifest=str(manifest),
        out_dir=str(out),
        model=str(system.model),
        nfe=None if args.nfe is None else [args.nfe],
        cfg=args.cfg,
        seed=args.seed,
        judges=JudgeConfig(workers=args.workers),
        ground_truth=system.baseline,
    )
    report = run_eval(config)
    print(report.summary())
    return json.loads(results.read_text(encoding="utf-8"))


class CachedEmbeddings:
    """``SpeakerEncoder.embed_files`` read from (and added to) a prepared folder's d-vector
    cache: the same resemblyzer computation, once per file."""

    def __init__(self, prepared: Path) -> None:
        self.prepared = prepared

    def embed_files(self, paths) -> np.ndarray:
        return cached_dvectors(self.prepared, list(paths)).numpy()  # (m, d)


class Voices:
    """Training voices of WORK: resemblyzer and MFCC centroids, subsets per model."""

    def __init__(self, prepared: Path, per_voice: int) -> None:
        self.names, self.centroids = voice_centroids(
            CachedEmbeddings(prepared), prepared, per_voice
        )  # (v, d)
        self.mfcc = MfccVoices(prepared, per_voice)
        self.encoder = SpeakerEncoder()
        self._embedded: dict[str, np.ndarray | None] = {}

    def embed(self, path: str) -> np.ndarray | None:
        """Unit d-vector (d,) of a file, None for audio without speech (as the judges)."""
        if path not in self._embedded:
            try:
                self._embedded[path] = self.encoder.embed_files([path])[0]
            except FlowvoxError:
                self._embedded[path] = None
        return self._embedded[path]

    def best(self, paths: list[str], voices: list[str]) -> list[float | None]:
        """Each file's best cosine to one of ``voices`` (None: no speech, or no voice)."""
        rows = [self.names.index(v) for v in voices if v in self.names]
        out: list[float | None] = []
        for path in paths:
            vector = self.embed(path)
            if vector is None or not rows:
                out.append(None)
            else:
                out.append(float(similarity_matrix(vector[None], self.centroids[rows]).max()))
        return out


def set_figures(
    system: System, results: dict, truth: dict, manifest: Path, voices: Voices, train: list[str]
) -> list[SetFigures]:
    """The page's figures of one model per prompt set (see the module docstring); ``truth``:
    the results holding the ground truth (the baseline's)."""
    items = {item.id: item for item in read_eval_items(manifest)}
    made = [u for u in results["utterances"] if u["system"] != GROUND_TRUTH]
    truths = [u for u in truth["utterances"] if u["system"] == GROUND_TRUTH]
    own = {(s["system"], s["group"]): s for s in results["summary"]}
    gt = {s["group"]: s for s in truth["summary"] if s["system"] == GROUND_TRUTH}
    mfcc, rows = voices.mfcc, []
    for name in SETS:
        mine = [u for u in made if u["group"] == name]
        refs = [items[u["id"]].ref_audio for u in mine]
        true = [u for u in truths if u["group"] == name]
        summary = own.get((mine[0]["system"], name)) if mine else None
        rows.append(
            SetFigures(
                model=system.name,
                kind=system.kind(),
                baseline=system.baseline,
                prompt_set=name,
                n=len(mine),
                wer=summary and summary["wer"],
                gt_wer=gt[name]["wer"] if name in gt else None,
                sim=_mean([u["sim_to_ref"] for u in mine]),
                gt_sim=_mean([u["sim_to_ref"] for u in true]),
                closest=_mean(voices.best(refs, train)),
                out_to_voice=_mean(voices.best([u["audio"] for u in mine], train)),
                mfcc_sim=_mean(
                    mfcc.similarity(u["audio"], r) for u, r in zip(mine, refs, strict=True)
                ),
                mfcc_gt_sim=_mean(
                    mfcc.similarity(u["audio"], items[u["id"]].ref_audio) for u in true
                ),
                mfcc_closest=_mean(mfcc.best(r, train) for r in refs),
            )
        )
    return rows


def _mean(values) -> float | None:
    kept = [v for v in values if v is not None and math.isfinite(v)]
    return sum(kept) / len(kept) if kept else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path, help="scripts/build_zero_shot.sh's WORK folder")
    parser.add_argument("models", type=Path, nargs="*", help="packed model folders")
    parser.add_argument("--names", nargs="+", help="the models' names (default: folder names)")
    parser.add_argument("--baseline", type=Path, default=BASELINE)
    parser.add_argument("--sentences", type=int, default=20, help="items per prompt set")
    parser.add_argument("--seen-voices", nargs="+", help="default: the baseline's voices")
    parser.add_argument("--per-voice", type=int, default=8, help="utterances per voice centroid")
    parser.add_argument("--study-dir", type=Path, help="default: WORK/study")
    parser.add_argument("--nfe", type=int, help="ODE steps (default: each model's own)")
    parser.add_argument("--cfg", type=float, help="default: each model's own")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="ASR worker processes")
    parser.add_argument("--out", type=Path, help="the page (default: STUDY/zero_shot_study.md)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str]) -> str:
    """The whole study; returns the page (also written to ``--out``)."""
    if args.sentences < 1 or args.per_voice < 1:
        raise FlowvoxError("--sentences and --per-voice: give positive numbers")
    names = args.names or [m.name for m in args.models]
    if len(names) != len(args.models) or len(set(names)) != len(names) or "baseline" in names:
        raise FlowvoxError(f"--names {names}: one distinct name per model, not 'baseline'")
    for folder in [args.baseline, *args.models]:
        if not (folder / "config.json").is_file():
            raise FlowvoxError(f"{folder}: not a model folder (no config.json)")
    prepared = args.work / "prepared"
    if not (prepared / "train.jsonl").is_file():
        raise FlowvoxError(f"{args.work}: no prepared/train.jsonl; run scripts/build_zero_shot.sh")
    study = (args.study_dir or args.work / "study").resolve()
    systems = [System("baseline", args.baseline.resolve(), baseline=True)]
    systems += [System(n, m.resolve()) for n, m in zip(names, args.models, strict=True)]
    seen_voices = args.seen_voices or baseline_voices(args.baseline)
    print(f"== prompt sets: {args.sentences} sentences each; seen voices: {seen_voices}")
    manifest = build_sets(args.work, study, args.sentences, seen_voices, args.seed)
    print(f"   {manifest}: {len(read_eval_items(manifest))} items")
    results = {}
    for k, system in enumerate(systems, 1):
        print(f"== [{k}/{len(systems)}] {system.name} ({system.model}): flowvox eval run")
        results[system.name] = evaluate(system, manifest, study, args)
    print(f"== training voices: centroids of {args.per_voice} utterances each ({prepared})")
    voices = Voices(prepared, args.per_voice)
    rows = []
    for system in systems:
        train = baseline_voices(system.model) if system.baseline else voices.names
        rows += set_figures(
            system, results[system.name], results["baseline"], manifest, voices, train
        )
    page = render_page(rows, notes(args, argv, systems, results, voices, manifest))
    out = args.out or study / "zero_shot_study.md"
    atomic_write_text(out, page)
    print(page)
    print(f"wrote {out}")
    return page


def notes(args, argv, systems, results, voices: Voices, manifest: Path) -> list[str]:
    """The page's lines on how it was made: command, models, judges, training voices."""
    baseline_train = [v for v in baseline_voices(systems[0].model) if v in voices.names]
    lines = [
        "Produced by `python -m experiments.zero_shot_study "
        + " ".join(shlex.quote(a) for a in argv)
        + "` (method in its docstring); prompt sets in "
        f"`{manifest}`, {args.sentences} sentences each (LibriVox: and its five clips).",
        "",
    ]
    for system in systems:
        config = results[system.name]["config"]
        lines.append(
            f"- **{system.name}**: `{system.model}` ({system.kind()}), NFE "
            f"{', '.join(map(str, config['nfe']))}, CFG {config['cfg']}"
        )
    lines += [
        "",
        f"Speaker judge: `flowvox.eval.speaker.SpeakerEncoder`, {dvector_encoder_name()} "
        "VoiceEncoder. The d-vector condition of the `cond_dim` models "
        "(`flowvox.audio.dvector.DVectorEncoder`) is the same encoder and computation, so "
        "resemblyzer's SIM can flatter the d-vector models; table 2 uses no resemblyzer.",
        f"Training voices: baseline {len(baseline_train)} (its voices found in WORK); the "
        f"other models {len(voices.names)} (every speaker of {args.work}/prepared/train.jsonl), "
        f"each the centroid of {args.per_voice} of its training utterances.",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    try:
        argv = sys.argv[1:] if argv is None else argv
        run(parse_args(argv), argv)
    except FlowvoxError as err:
        print(f"zero_shot_study: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
