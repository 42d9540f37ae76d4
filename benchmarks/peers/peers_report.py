"""Markdown for benchmarks/results/peers.md from the side-by-side runs."""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
from pathlib import Path

from benchmarks.peers.measure import hardware_line, memory_note

EXACT = 1e-5  # fp32 differences at or under this count as equal


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def f5_lines(results: dict, args: argparse.Namespace) -> list[str]:
    """The f5-tts section: shapes, equivalence table, speed table."""
    lines = [
        "## f5-tts 1.1.22 vs flowvox (infilling DiT, same weights)",
        "",
        f"Command: `python -m benchmarks.peers.f5_side_by_side --nfe {args.nfe} --cfg {args.cfg}"
        f" --rounds {args.rounds} --threads {args.threads} --seed {args.seed}"
        f"{'' if args.device == 'cpu' else ' --device ' + args.device}"
        f"{' --bulk ' + str(args.bulk) if args.bulk else ''}`. Both "
        "implementations run in one process (the peers venv holds flowvox editable and the "
        "f5-tts package; torchaudio is the stand-in of `tests/peers/f5_peer.py`). One "
        "random f5-tts model per shape (zero-init layers filled with N(0, 0.05²)) is saved as an "
        "F5 release file (`ema_model.` keys + `initted`/`step`, safetensors) and loaded by both "
        "sides. Vocoder: none (mel only). CPU; equivalence in fp32 unless a row says bf16.",
        "",
        "| shape | layout | params (f5-tts / flowvox) |",
        "|---|---|---|",
    ]
    for name, described in results["shapes"].items():
        f5_params, fv_params = results["params"][name]
        lines.append(f"| {name} | {described} | {f5_params:,} / {fv_params:,} |")
    lines += [
        "",
        "### Equivalence",
        "",
        "| shape | check | max abs diff | max abs f5 value | note |",
        "|---|---|---|---|---|",
    ]
    for name, checks in results["checks"].items():
        for check in checks:
            verdict = "equal" if check.diff <= EXACT else check.note or "DIFFERS"
            if check.note and check.diff <= EXACT:
                verdict = f"equal ({check.note})"
            lines.append(
                f"| {name} | {check.name} | {check.diff:.3g} | {check.scale:.3g} | {verdict} |"
            )
    if results["speed"]:
        lines += speed_lines(results, args)
    return lines


def speed_lines(results: dict, args: argparse.Namespace) -> list[str]:
    any_speed = next(iter(results["speed"].values()))
    frames = any_speed["frames"]
    total = frames["ref"] + frames["gen"]
    lines = [
        "",
        "### Speed and memory",
        "",
        f"Inference: batch 1, a {frames['ref']}-frame (2 s) reference + {frames['gen']} "
        f"generated frames (10 s), {total} frames in all; Euler, NFE {args.nfe}, CFG {args.cfg} "
        "(doubled batch: cond + uncond rows), sway −1, uniform grid (no EPSS); f5-tts "
        "`CFM.sample` vs flowvox `sample_chunks`; vocoder none. Training step: batch 2 padded "
        f"({total} and {frames['gen']} frames), forward + loss + backward + clip 1.0 + AdamW, "
        "each side's own random draws; flowvox at its default `hide_padding=True` (padding "
        "masked in attention), f5-tts without a mask in attention. "
        f"Bulk (with --bulk B): one batch of B copies of the inference line. Device: "
        f"{_device_name(args.device)}. "
        f"Median of {args.rounds} interleaved rounds after one warm-up call each; memory: "
        f"{memory_note() if args.device == 'cpu' else 'growth of CUDA max_memory_allocated'}. "
        "Ratio > 1: flowvox faster.",
        "",
        'Each side also runs under bfloat16 autocast (`torch.autocast("cpu", '
        "torch.bfloat16)`: matrix products in bf16; flowvox's `--precision bf16` and "
        "`train.mixed_precision: bf16`); f5-tts's own CLI runs fp32 on a CPU.",
        "",
        "| shape | task | f5-tts fp32 s | flowvox fp32 s | f5-tts bf16 s | flowvox bf16 s "
        "| f5-tts / flowvox, fp32 | f5-tts / flowvox, bf16 | f5-tts fp32 / flowvox bf16 |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    memory = [
        "",
        "Peak memory, MiB:",
        "",
        "| shape | task | f5-tts fp32 | flowvox fp32 | f5-tts bf16 | flowvox bf16 |",
        "|---|---|---|---|---|---|",
    ]
    keys = ("f5-tts", "flowvox", "f5-tts bf16", "flowvox bf16")
    for name, figures in results["speed"].items():
        tasks = [("infer", "inference 10 s"), ("train", "training step")]
        if "bulk" in figures:
            tasks.append(("bulk", f"bulk {figures['frames']['bulk']} × 10 s"))
        for task, label in tasks:
            t = figures[task]
            f5, fv, f5b, fvb = (t[k].median for k in keys)
            lines.append(
                f"| {name} | {label} | {f5:.2f} | {fv:.2f} | {f5b:.2f} | {fvb:.2f} "
                f"| {f5 / fv:.2f} | {f5b / fvb:.2f} | {f5 / fvb:.2f} |"
            )
            memory.append(
                f"| {name} | {label} | " + " | ".join(_mb(t[k].peak_mb) for k in keys) + " |"
            )
    rtf = [
        f"{name}: f5-tts {figures['infer']['f5-tts'].median / 10:.2f}, "
        f"flowvox {figures['infer']['flowvox'].median / 10:.2f}, "
        f"flowvox bf16 {figures['infer']['flowvox bf16'].median / 10:.2f}"
        for name, figures in results["speed"].items()
    ]
    lines += memory
    lines += ["", f"RTF (compute s / 10 s of generated audio, mel only): {'; '.join(rtf)}."]
    return lines


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(torch.device(device))})"
    return device


def _mb(peak: float | None) -> str:
    return "n/a" if peak is None else f"{peak:.0f}"


def header_lines() -> list[str]:
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [
        "# Peers side by side",
        "",
        "Written by `benchmarks/peers/run_all.sh` (setup: `benchmarks/peers/setup_peers.sh`; "
        "peers run from their released packages in `benchmarks/.peers-venv`).",
        "",
        f"- Date: {stamp}",
        f"- Hardware: {hardware_line()}",
        f"- Packages: flowvox {_version('flowvox')}, f5-tts {_version('f5-tts')}, "
        f"x-transformers {_version('x-transformers')}, matcha-tts {_version('matcha-tts')}, "
        f"vocos {_version('vocos')}",
        "",
    ]


def write_f5_report(results: dict, args: argparse.Namespace, path: Path) -> None:
    """Write the header and the f5-tts section to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header_lines() + f5_lines(results, args)) + "\n", encoding="utf-8")
    print(f"wrote {path}")
