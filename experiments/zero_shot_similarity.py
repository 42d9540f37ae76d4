"""Zero-shot voice: does prompting with an unseen voice beat picking the closest training voice?

    python -m experiments.zero_shot_similarity EVAL_DIR PREPARED --nfe 8 --group librivox \\
        --out experiments/results/zero_shot_similarity.md

EVAL_DIR is a `flowvox eval run` folder whose manifest holds prompts from voices left out of
training (group ``librivox``: the LibriVox clips of pocketsphinx-testdata). For each such
utterance, with resemblyzer embeddings:

- **prompted**: similarity of the generated audio to its reference clip (the eval's SIM-ref);
- **closest training voice**: the best similarity any training voice reaches to that reference
  (each voice: the mean embedding of ``--per-voice`` of its training utterances), i.e. what a
  model that only knew its training voices could reach by choosing among them;
- **generated vs training voices**: the generated audio's best similarity to a training voice,
  and which: whether the output stayed a training voice instead of following the prompt.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from flowvox.data.manifest import read_manifest
from flowvox.eval.items import read_eval_items
from flowvox.eval.speaker import SpeakerEncoder, similarity_matrix

REPO = Path(__file__).resolve().parents[1]


def voice_centroids(
    encoder: SpeakerEncoder, prepared: Path, per_voice: int
) -> tuple[list[str], np.ndarray]:
    """Training voices and their mean embeddings (v, d), from ``per_voice`` utterances each."""
    chosen: dict[str, list[str]] = {}
    for entry in read_manifest(prepared / "train.jsonl"):
        files = chosen.setdefault(entry.speaker, [])
        if len(files) < per_voice:
            files.append(entry.audio)
    names = sorted(chosen)
    return names, np.stack([encoder.embed_files(chosen[n]).mean(0) for n in names])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("eval_dir", type=Path)
    parser.add_argument("prepared", type=Path, help="the training data's prepared folder")
    parser.add_argument("--nfe", type=int, default=8)
    parser.add_argument("--group", default="librivox")
    parser.add_argument("--per-voice", type=int, default=8)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    results = json.loads((args.eval_dir / "results.json").read_text())
    manifest = {item.id: item for item in read_eval_items(results["config"]["manifest"])}
    rows = [
        u
        for u in results["utterances"]
        if u["system"] == f"nfe-{args.nfe}" and u["group"] == args.group
    ]
    if not rows:
        raise SystemExit(f"{args.eval_dir}: no nfe-{args.nfe} utterance of group {args.group}")
    encoder = SpeakerEncoder()
    voices, centroids = voice_centroids(encoder, args.prepared, args.per_voice)
    refs = encoder.embed_files([manifest[u["id"]].ref_audio for u in rows])  # (m, d)
    generated = encoder.embed_files([u["audio"] for u in rows])  # (m, d)
    ref_to_voice = similarity_matrix(refs, centroids)  # (m, v)
    gen_to_voice = similarity_matrix(generated, centroids)  # (m, v)
    prompted = np.array([u["sim_to_ref"] for u in rows])
    closest = ref_to_voice.max(1)
    gen_best = gen_to_voice.max(1)
    picks = [voices[i] for i in gen_to_voice.argmax(1)]
    lines = [
        "# Zero-shot voice: prompted similarity beside the closest training voice",
        "",
        f"Produced by `python -m experiments.zero_shot_similarity` (method in its docstring) on "
        f"`{args.eval_dir}` (model `{results['config']['model']}`, NFE {args.nfe}, CFG "
        f"{results['config']['cfg']}, {results['config']['vocoder']}); {len(rows)} utterances "
        f"of group {args.group}; training voices: {len(voices)} "
        f"({args.per_voice} utterances each).",
        "",
        "| measure (resemblyzer cosine, mean over utterances) | value |",
        "|---|---|",
        f"| prompted: generated vs its reference clip | **{prompted.mean():.3f}** |",
        f"| closest training voice vs the reference clip | **{closest.mean():.3f}** |",
        f"| utterances where prompting beats the closest training voice | "
        f"{int((prompted > closest).sum())} / {len(rows)} |",
        f"| generated vs its closest training voice | {gen_best.mean():.3f} |",
        "",
        "Closest training voice of the generated audio: "
        + ", ".join(f"{v} ×{picks.count(v)}" for v in sorted(set(picks))),
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")


if __name__ == "__main__":
    main()
