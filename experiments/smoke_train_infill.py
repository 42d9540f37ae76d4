"""Smoke training of the infilling TTS (tiny preset, CPU) and training speed of tiny vs small.

    nice -n 10 python -m experiments.smoke_train_infill --minutes 8
    # writes experiments/results/smoke_train_infill.md (+ .png pictures beside it)

1. builds a small synthetic corpus (``--utterances`` over ``--voices``) and prepares it;
2. trains ``configs/infill-tiny.yaml`` on CPU for ``--minutes`` of wall time (constant lr
   after warm-up, since the run's length is a time, not a step count), in chunks of
   ``--chunk`` steps; the loss of each chunk is its mean training loss;
3. samples the held-out test utterance with the exported EMA model (prompt 30 %, Euler
   NFE 8, CFG 2, sway -1) and saves the mel pair and the first attention layer's map;
4. times training steps of the tiny and small presets side by side on one fixed batch.
"""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import torch

from flowvox.data import prepare_dataset
from flowvox.data.corpus import CorpusConfig, build_corpus
from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.models.infill.media import MediaConfig, sample_for_media
from flowvox.models.infill.task import load_infill_model
from flowvox.nn.masks import pad_token_ids
from flowvox.text import load_vocab
from flowvox.train import Trainer, load_run_config

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "experiments" / "results"
NAME = "smoke_train_infill"


def train_for(prepared: Path, out_dir: Path, minutes: float, chunk: int) -> dict:
    overrides = [
        f"data.prepared={prepared}",
        f"out_dir={out_dir}",
        "train.max_steps=1000000",
        "train.schedule=constant",
        f"train.log_every={chunk}",
        "train.checkpoint_every=1000000",
        "train.keep_checkpoints=1",
        "train.media_every=0",
        "train.progress_bar=false",
    ]
    run = load_run_config(ROOT / "configs" / "infill-tiny.yaml", overrides)
    trainer = Trainer(run)
    curve, frames_s, start = [], [], time.perf_counter()
    while time.perf_counter() - start < minutes * 60:
        result = trainer.fit(stop_at_step=trainer.step + chunk)
        curve.append((result.step, result.last_logged["loss/main"]))
        frames_s.append(result.frames_per_second)
        print(f"step {result.step}: loss {curve[-1][1]:.4f}", flush=True)
    wall = time.perf_counter() - start
    params = sum(p.numel() for p in trainer.modules["model"].parameters())
    return {
        "curve": curve,
        "frames_s": sum(frames_s) / len(frames_s),
        "wall": wall,
        "steps": trainer.step,
        "export": result.export_dir,
        "run": run,
        "params": params,
        "batches_per_epoch": len(trainer.sampler),
    }


def step_speed(preset: str, vocab: int, frames: int, batch: int, steps: int) -> float:
    """Training frames/s of one preset: forward + backward + AdamW on a fixed (batch, frames)."""
    config = InfillTTSConfig.preset(preset, [f"text_vocab_size={vocab}"])
    torch.manual_seed(0)
    model = InfillTTS(config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    mel = torch.randn(batch, frames, config.mel_dim)  # (b, n, f)
    lengths = torch.full((batch,), frames)
    text = pad_token_ids([[i % vocab for i in range(frames // 4)]] * batch)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps + 1):  # the first step warms up
        began = time.perf_counter()
        loss = model.loss(mel, lengths, text, gen).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        times.append(time.perf_counter() - began)
    return batch * frames / (sum(times[1:]) / steps)


def save_pictures(export: Path, prepared: Path) -> tuple[Path, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from flowvox.data import MelDataset

    loaded = load_infill_model(export, "cpu")
    split = "test" if (prepared / "test.jsonl").is_file() else "train"  # tiny corpora: no test
    item = MelDataset.from_prepared(prepared, split)[0]
    ids = pad_token_ids([loaded.tokenizer.encode(item.text)])
    with torch.no_grad():
        sample = sample_for_media(loaded.model, item.mel, ids, MediaConfig(nfe=8, cfg=2.0))
    mel_png, attn_png = RESULTS / f"{NAME}_mel.png", RESULTS / f"{NAME}_attention.png"
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for ax, mel, title in ((axes[0], item.mel, "ground truth"), (axes[1], sample.generated, "")):
        low, high = float(item.mel.min()), float(item.mel.max())  # the truth's colour scale
        ax.imshow(mel.T.numpy(), origin="lower", aspect="auto", vmin=low, vmax=high)
        ax.axvline(sample.prompt_frames, color="w", lw=1)
        ax.set_title(title or f"generated after the prompt (NFE 8, CFG 2): {item.text!r}")
    axes[1].set_xlabel("frame")
    fig.tight_layout()
    fig.savefig(mel_png, dpi=60)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(sample.attention.numpy(), origin="upper", aspect="auto")
    ax.set_xlabel("key frame")
    ax.set_ylabel("query frame")
    ax.set_title("first attention layer, mean over heads, last step")
    fig.tight_layout()
    fig.savefig(attn_png, dpi=60)
    plt.close("all")
    return mel_png, attn_png


def loss_plot(curve: list[tuple[int, float]]) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = RESULTS / f"{NAME}_loss.png"
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s for s, _ in curve], [v for _, v in curve], marker=".")
    ax.set_xlabel("step")
    ax.set_ylabel("span loss (mean of the chunk)")
    ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=60)
    plt.close(fig)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=8.0)
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--voices", nargs="+", default=["flite:rms", "flite:slt"])
    parser.add_argument("--chunk", type=int, default=25)
    parser.add_argument("--speed-steps", type=int, default=2)
    parser.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.work and (Path(args.work) / "run").exists():
        shutil.rmtree(Path(args.work) / "run")  # corpus and prepared folders are reused
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.work or tmp)
        began, load_before = time.perf_counter(), os.getloadavg()[0]
        corpus = build_corpus(
            CorpusConfig(work / "corpus", args.voices, utterances=args.utterances, workers=1),
            progress=False,
        )
        corpus_s = time.perf_counter() - began
        report = prepare_dataset(work / "corpus", work / "prepared", workers=1, progress=False)
        prep_s = time.perf_counter() - began - corpus_s
        trained = train_for(work / "prepared", work / "run", args.minutes, args.chunk)
        mel_png, attn_png = save_pictures(trained["export"], work / "prepared")
        vocab = len(load_vocab(work / "prepared" / "vocab.txt"))
        speeds = {
            preset: step_speed(preset, vocab, 200, 1, args.speed_steps)
            for preset in ("tiny", "small")
        }
        load = (load_before, os.getloadavg()[0])
        pictures = (mel_png, attn_png)
        write_report(args, corpus, corpus_s, report, prep_s, trained, speeds, pictures, load)


def write_report(args, corpus, corpus_s, report, prep_s, trained, speeds, pictures, load) -> None:
    train = trained["run"].train
    curve = trained["curve"]
    every = max(1, len(curve) // 12)
    rows = [f"| {s} | {v:.4f} |" for s, v in curve[::every]]
    if curve[-1] != curve[::every][-1]:
        rows.append(f"| {curve[-1][0]} | {curve[-1][1]:.4f} |")
    loss_png = loss_plot(curve)
    lines = [
        "# Smoke training: infilling TTS (tiny preset) on CPU",
        "",
        f"Machine: {os.cpu_count()} cores ({platform.machine()}, {platform.processor() or 'cpu'}),"
        f" shared with other jobs (1-min load average {load[0]:.1f} at the start, {load[1]:.1f} "
        "at the end: figures are slowed by contention), run under `nice -n 10`; "
        f"torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads. Command: `python benchmarks/{NAME}.py "
        f"--minutes {args.minutes:g} --utterances {args.utterances}`.",
        "",
        f"- corpus: {corpus.planned} utterances ({corpus.audio_hours * 60:.1f} min of audio), "
        f"voices {', '.join(args.voices)}, built in {corpus_s:.0f} s; prepared "
        f"({report.utterances} kept, vocab {report.vocab_size}) in {prep_s:.0f} s"
        + (" (reused from an earlier run in --work)" if corpus.built == 0 else ""),
        f"- model: `configs/infill-tiny.yaml` (tiny preset, {trained['params'] / 1e6:.2f} M "
        f"parameters), AdamW lr {train.lr:g} after {train.warmup_steps} warm-up steps "
        f"(constant), clip {train.max_grad_norm}, EMA {train.ema_decay}, frame budget "
        f"{train.max_frames} padded frames ({trained['batches_per_epoch']} batches per epoch)",
        f"- trained **{trained['steps']} steps in {trained['wall'] / 60:.1f} min** of wall time; "
        f"**{trained['frames_s']:.0f} training frames/s** (mel frames of 10.7 ms; the "
        f"trainer's figure, checkpoint and export at the end of every {args.chunk}-step chunk "
        "included)",
        f"- span loss: {curve[0][1]:.3f} (steps 1-{curve[0][0]}) -> {curve[-1][1]:.3f} "
        f"(last {args.chunk} steps)",
        "",
        f"![loss]({loss_png.name})",
        "",
        "| step | loss (mean of the chunk ending here) |",
        "|---:|---:|",
        *rows,
        "",
        "## Sample and attention after training",
        "",
        "Held-out test utterance, first 30 % as the audio prompt, the rest generated by the "
        "EMA model (Euler NFE 8, sway -1, CFG 2, no vocoder). F5's DiT has no text-to-frame "
        "attention (text enters as per-frame input features), so the picture is the first "
        "attention layer's frame-to-frame map (mean over heads, conditional row, last step).",
        "",
        f"![mel]({pictures[0].name})",
        f"![attention]({pictures[1].name})",
        "",
        "## Training speed, tiny vs small (side by side, same run)",
        "",
        f"Forward + backward + AdamW on one fixed batch of 1 x 200 frames, fp32, CPU, "
        f"mean of {args.speed_steps} steps after one warm-up step.",
        "",
        "| preset | training frames/s | ratio to tiny |",
        "|---|---:|---:|",
        *[f"| {p} | {v:.1f} | {v / speeds['tiny']:.3f} |" for p, v in speeds.items()],
    ]
    out = RESULTS / f"{NAME}.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(out.read_text())


if __name__ == "__main__":
    main()
