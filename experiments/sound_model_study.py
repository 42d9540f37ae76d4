"""The bundled sound model measured: steps, guidance, flow vs diffusion, seen vs held-out, RTF.

    python -m experiments.sound_model_study runs/sound-model \
        --model flowvox/sound_model --out experiments/results/sound_model.md

``WORK`` is the folder of ``scripts/build_sound_model.sh`` (its sounds/, prepared/, vae/,
vocoder/ and lfm/). Everything lands in ``WORK/study/`` and every part is resumable (a rerun
generates and trains only what is missing):

1. **Steps and guidance**: ``flowvox eval sound`` on the corpus's test split (seen attribute
   combinations) at steps 1, 2, 5, 10, 25, 100 with cfg 3, and cfg 1, 2, 5 at 10 steps; on
   the first ``--unseen`` clips of test_unseen (held-out combinations) at 10 and 100 steps,
   cfg 3; the ground truth and its copy synthesis (vocoder alone, VAE + vocoder, with the
   VAE's mel L1) beside each.
2. **Flow vs diffusion at equal training compute**: the same run file with
   ``model.objective=diffusion`` (DDIM sampling), once predicting ε (LAFMA's baseline) and
   once v (``model.diffusion_prediction=v``), each trained on the same data in
   the same order to ``--compare-step`` steps (same batch, schedule, network, seed), against
   the flow run's checkpoint at that step (kept by the caller in ``WORK/keep/lfm-<step>``,
   as the flow run keeps only its newest checkpoints); all packed with the same VAE and
   vocoder and judged on the test split and the first ``--unseen`` clips of test_unseen at
   10 and 100 steps, cfg 3.
3. **RTF by stage** of ``flowvox sound`` at 10 steps, cfg 3 (model loaded, one warm-up):
   ``--rtf-clips`` captions of the model's default length, batch 1, this machine's CPU.

The page written to ``--out`` holds the tables and the commands; the numbers are the ones
``flowvox eval sound`` wrote into WORK/study/*/results.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from flowvox.eval.sound.run import evaluate_sound_model
from flowvox.infer.sound import SoundGenerator, StageTimes
from flowvox.models.tta.pack import pack_sound_model
from flowvox.utils.atomic import atomic_write_text

STEPS = (1, 2, 5, 10, 25, 100)  # at cfg 3, on the test split
CFGS = (1.0, 2.0, 5.0)  # at 10 steps, on the test split
UNSEEN_STEPS = (10, 100)  # at cfg 3, on the first --unseen clips of test_unseen
RTF_CAPTIONS = (
    "three short high beeps, then a man speaks",
    "pink noise fading in",
    "a low tone and white noise together",
    "a woman speaks",
    "two quick plucks",
)


def flowvox_cli() -> str:
    return str(Path(sys.executable).parent / "flowvox")


def eval_table(model: Path, manifest: Path, out: Path, split: str, limit: int | None,
               steps, cfgs, copy: bool = True) -> str:  # fmt: skip
    """``flowvox eval sound`` on one split; returns its results.md, kept as
    ``out/table-<split>-<steps>-<cfgs>.md`` so that a rerun of the study judges nothing twice
    (delete the file, or ``out``, to measure again)."""
    name = "-".join(["table", split, str(limit), *map(str, steps), "cfg", *map(str, cfgs)])
    kept = out / f"{name}.md"
    if kept.is_file():
        return kept.read_text(encoding="utf-8")
    report = evaluate_sound_model(
        model, manifest, out, steps=steps, cfgs=cfgs, splits=(split,), limit=limit, copy=copy
    )
    text = report.results_md.read_text(encoding="utf-8")
    atomic_write_text(kept, text)
    return text


DIFFUSION_TWINS = (("epsilon", ""), ("v", "-v"))  # prediction, folder suffix


def train_diffusion(work: Path, run_file: str, step: int, prediction: str = "epsilon") -> Path:
    """The diffusion twin of the flow run predicting ``prediction`` (ε or v), trained (or
    continued) to ``step``; its checkpoint folder."""
    suffix = dict(DIFFUSION_TWINS)[prediction]
    out = work / "study" / f"lfm-diffusion{suffix}"
    ckpt = out / "checkpoints" / f"step-{step:07d}"
    if ckpt.is_dir():
        return ckpt
    resume = ["--resume"] if list(out.glob("checkpoints/step-*")) else []
    flow_config = json.loads((work / "lfm" / "model" / "config.json").read_text())
    keep = flow_config["train"]["checkpoint_every"]
    if step % keep:
        raise SystemExit(f"--compare-step {step} is not a multiple of checkpoint_every {keep}")
    sets = [
        f"out_dir={out}", f"data.prepared={work / 'prepared'}", f"data.vae={work / 'vae/model'}",
        "model.objective=diffusion", f"model.diffusion_prediction={prediction}",
        "train.device=cpu", "train.progress_bar=false", "train.keep_checkpoints=100",
    ]  # fmt: skip
    cmd = [flowvox_cli(), "train", run_file, *resume, "--stop-at-step", str(step)]
    cmd += [x for s in sets for x in ("--set", s)]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    return ckpt


def packed_checkpoint(work: Path, ckpt: Path, name: str, vocoder: str | Path) -> Path:
    """Export ``ckpt`` and pack it with the recipe's VAE and ``vocoder`` (a folder or
    "griffin-lim") as WORK/study/<name>."""
    packed = work / "study" / name
    if (packed / "model.safetensors").is_file():
        return packed
    model = work / "study" / f"{name}-model"
    if not (model / "model.safetensors").is_file():
        subprocess.run([flowvox_cli(), "export", str(ckpt), str(model)], check=True)
    return pack_sound_model(model, work / "vae/model", vocoder, packed, default_seconds=10.24)


def vocoder_of(model: Path, work: Path) -> str | Path:
    """The vocoder the measured model is packed with: "griffin-lim" or the recipe's."""
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    return "griffin-lim" if config.get("vocoder") == "griffin-lim" else work / "vocoder/model"


def stage_rtf(model: Path, clips: int) -> tuple[StageTimes, float]:
    """Summed stage times and audio seconds of ``clips`` generations after one warm-up."""
    gen = SoundGenerator.from_pretrained(model)
    gen.generate(RTF_CAPTIONS[0], steps=10, cfg=3.0, seed=0)  # warm-up
    total, seconds = StageTimes(), 0.0
    for i in range(clips):
        sound = gen.generate(RTF_CAPTIONS[i % len(RTF_CAPTIONS)], steps=10, cfg=3.0, seed=i)
        total, seconds = total + sound.times, seconds + sound.seconds
    return total, seconds


def body_of(results_md: str) -> str:
    """A results.md without its title line."""
    return "\n".join(results_md.splitlines()[1:]).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("work", type=Path, help="the recipe's WORK folder")
    parser.add_argument("--model", type=Path, default=None, help="default: WORK/packed")
    parser.add_argument("--out", type=Path, default=Path("experiments/results/sound_model.md"))
    parser.add_argument("--unseen", type=int, default=40, help="test_unseen clips judged")
    parser.add_argument("--compare-step", type=int, default=3000)
    parser.add_argument("--run-file", default="configs/tta-lfm-small.yaml")
    parser.add_argument("--rtf-clips", type=int, default=5)
    parser.add_argument("--skip", nargs="*", default=[], choices=["grid", "compare", "rtf"])
    args = parser.parse_args()
    work, model = args.work, args.model or args.work / "packed"
    manifest = work / "sounds" / "manifest.jsonl"
    study = work / "study"
    study.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    page = [
        "# The bundled sound model, measured",
        "",
        f"`python -m experiments.sound_model_study {work} --model {model}` on "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} with {threads} threads. Judges: flowvox.eval.sound (model-free "
        "attribute judges); FD: Fréchet distance in the fixed log-mel statistics embedding "
        "(flowvox.eval.sound.frechet) to the ground-truth clips of the same split.",
    ]
    if "grid" not in args.skip:
        grids = (
            ("test", None, (("steps", STEPS, (3.0,)), ("guidance", (10,), CFGS))),
            ("test_unseen", args.unseen, (("steps", UNSEEN_STEPS, (3.0,)),)),
        )
        for split, limit, systems in grids:
            out = study / f"eval-{split}"  # its grids share the truth and copy rows' wavs
            for title, steps, cfgs in systems:
                text = eval_table(model, manifest, out, split, limit, steps, cfgs)
                page += ["", f"## {title}, split {split}", "", body_of(text)]
    if "compare" not in args.skip:
        kept = work / "keep" / f"lfm-{args.compare_step:07d}"
        if not kept.is_dir():
            raise SystemExit(f"{kept}: the flow run's checkpoint at the compared step is missing")
        vocoder = vocoder_of(model, work)
        systems = [("flow", packed_checkpoint(work, kept, f"flow-{args.compare_step}", vocoder))]
        for prediction, suffix in DIFFUSION_TWINS:
            ckpt = train_diffusion(work, args.run_file, args.compare_step, prediction)
            name = f"diffusion{suffix}-{args.compare_step}"
            systems.append((f"diffusion, {prediction}-prediction (DDIM)",
                            packed_checkpoint(work, ckpt, name, vocoder)))  # fmt: skip
        page += ["", f"## Flow matching vs diffusion, all at step {args.compare_step}"]
        for split, limit in (("test", None), ("test_unseen", args.unseen)):
            for name, folder in systems:
                suffix = "" if split == "test" else f"-{split}"
                text = eval_table(
                    folder, manifest, study / f"compare-{folder.name}{suffix}", split, limit,
                    (10, 100), (3.0,), copy=False,
                )  # fmt: skip
                page += ["", f"### {name}, split {split}", "", body_of(text)]
    if "rtf" not in args.skip:
        t0 = time.perf_counter()
        times, seconds = stage_rtf(model, args.rtf_clips)
        page += [
            "", "## Speed of `flowvox sound` (10 steps, cfg 3, batch 1, model loaded)", "",
            f"{args.rtf_clips} clips, {seconds:.2f} audio s: {times.summary(seconds)}; "
            f"wall {time.perf_counter() - t0:.1f} s with the load and warm-up.",
        ]  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out, "\n".join(page) + "\n")
    shutil.copy2(args.out, study / args.out.name)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
