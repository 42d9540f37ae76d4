"""flowvox beside the released matcha-tts 0.0.7.2: alignment search, synthesis and training.

# b: batch, l: tokens (blanks included), n: mel frames, f: mel bins
Both run in one process (the peers venv). Two comparisons:
  1. Monotonic alignment search, same inputs: matcha's compiled Cython ``maximum_path``
     (batch loop over items) vs ``flowvox.nn.mas.monotonic_alignment_search`` (batched torch);
     paths must be identical (random Gaussian log-likelihoods, a padded batch, fp32).
  2. Whole models, random weights, no shared weights (the architectures differ: Matcha's
     decoder is a 1-D U-Net over 80 mels at 22.05 kHz, flowvox's aligned model a DiT over 100
     mels at 24 kHz): matcha-tts at its LJSpeech shape beside flowvox's aligned ``small``
     preset and a flowvox shape of about Matcha's size. Synthesis of 10 s at NFE 10 (Euler,
     no guidance on any side), batch 1, with fixed even per-token durations, and one
     training step (all losses + backward + AdamW) on a padded batch of 2.

    benchmarks/.peers-venv/bin/python -m benchmarks.peers.matcha_side_by_side [--append FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor, nn

from benchmarks.peers.measure import (
    Timing,
    add_memory_json_option,
    exchange_peaks,
    interleaved,
    memory_note,
    memory_pass,
)
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.model import AlignedTTS
from flowvox.nn.mas import monotonic_alignment_search

MATCHA_FPS, FLOWVOX_FPS = 22050 / 256, 24000 / 256
PHONES = 140  # tokens before blanks for 10 s of speech (14 per second)


def matcha_release_shape() -> dict:
    """The MatchaTTS arguments of configs/model/matcha.yaml (LJSpeech, 18.2M parameters)."""
    from omegaconf import OmegaConf

    encoder = dict(
        encoder_type="RoPE Encoder",
        encoder_params=dict(
            n_feats=80,
            n_channels=192,
            filter_channels=768,
            filter_channels_dp=256,
            n_heads=2,
            n_layers=6,
            kernel_size=3,
            p_dropout=0.1,
            spk_emb_dim=64,
            n_spks=1,
            prenet=True,
        ),
        duration_predictor_params=dict(filter_channels_dp=256, kernel_size=3, p_dropout=0.1),
    )
    decoder = dict(
        channels=[256, 256],
        dropout=0.05,
        attention_head_dim=64,
        n_blocks=1,
        num_mid_blocks=2,
        num_heads=2,
        act_fn="snakebeta",
    )
    cfm = dict(name="CFM", solver="euler", sigma_min=1e-4)
    return dict(
        n_vocab=178,
        n_spks=1,
        spk_emb_dim=64,
        n_feats=80,
        encoder=OmegaConf.create(encoder),
        decoder=OmegaConf.create(decoder),
        cfm=OmegaConf.create(cfm),
        data_statistics=dict(mel_mean=0.0, mel_std=1.0),
        out_size=None,
    )


class FixedDurations(nn.Module):
    """Matcha's text encoder with its log-durations replaced so that ceil(exp(logw)) = d."""

    def __init__(self, encoder: nn.Module, durations: Tensor) -> None:
        super().__init__()
        self.encoder, self.durations = encoder, durations  # (b, l)

    def forward(self, x, x_lengths, spks=None):
        mu_x, _, x_mask = self.encoder(x, x_lengths, spks)
        logw = torch.log(self.durations[:, None].to(mu_x) - 0.5) * x_mask  # (b, 1, l)
        return mu_x, logw, x_mask


def even_durations(tokens: int, frames: int) -> Tensor:
    """(1, tokens) frames per token, as even as possible, summing to ``frames``."""
    base = torch.full((1, tokens), frames // tokens, dtype=torch.long)
    base[0, : frames % tokens] += 1
    return base


def mas_comparison(rounds: int, seed: int) -> dict:
    """Paths equal? and timings, batch 16, 201 tokens (100 + blanks) x 800 frames, padded."""
    from matcha.utils.monotonic_align import maximum_path

    g = torch.Generator().manual_seed(seed)
    b, tokens, n = 16, 201, 800
    log_p = torch.randn(b, tokens, n, generator=g)
    t_len = torch.randint(tokens // 2, tokens + 1, (b,), generator=g)
    t_len[0] = tokens
    f_len = torch.randint(n // 2, n + 1, (b,), generator=g)
    f_len[0] = n
    mask = (torch.arange(tokens)[None, :, None] < t_len[:, None, None]) & (
        torch.arange(n)[None, None, :] < f_len[:, None, None]
    )  # (b, l, n)
    ours = monotonic_alignment_search(log_p, t_len, f_len).path
    theirs = maximum_path(log_p, mask.float())
    differing = int((ours != theirs).sum())
    timings = interleaved(
        {
            "matcha-tts": lambda: maximum_path(log_p, mask.float()),
            "flowvox": lambda: monotonic_alignment_search(log_p, t_len, f_len),
        },
        rounds,
    )
    return {
        "differing": differing,
        "cells": int(mask.sum()),
        "timings": timings,
        "shape": (b, tokens, n),
    }


FLOWVOX_SHAPES = {
    "flowvox small": {},  # the preset: DiT 512 x 12 layers
    "flowvox matched": {"dim": 384, "depth": 6, "heads": 6},  # about Matcha's size
}


def build_models(seed: int) -> dict[str, nn.Module]:
    """matcha-tts at its release shape, and flowvox's aligned model at two shapes."""
    from matcha.models.matcha_tts import MatchaTTS

    torch.manual_seed(seed)
    models = {"matcha-tts": MatchaTTS(**matcha_release_shape()).eval()}
    for name, changes in FLOWVOX_SHAPES.items():
        config = AlignedTTSConfig.preset("small").replace(text_vocab_size=178, **changes)
        torch.manual_seed(seed)
        models[name] = AlignedTTS(config).eval()
    return models


def synthesis_contenders(models: dict[str, nn.Module], nfe: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 178, (1, PHONES), generator=g)
    with_blanks = torch.zeros(1, 2 * PHONES + 1, dtype=torch.long)
    with_blanks[:, 1::2] = ids  # matcha's intersperse(text, 0)
    m_frames, f_frames = round(10 * MATCHA_FPS), round(10 * FLOWVOX_FPS)
    m_dur = even_durations(with_blanks.shape[1], m_frames)
    f_dur = even_durations(2 * PHONES + 1, f_frames)
    matcha = models["matcha-tts"]
    real_encoder = matcha.encoder
    lengths = torch.tensor([PHONES])

    def run_matcha() -> Tensor:
        matcha.encoder = FixedDurations(real_encoder, m_dur)
        try:
            out = matcha.synthesise(
                with_blanks, torch.tensor([with_blanks.shape[1]]), nfe, temperature=0.667
            )
        finally:
            matcha.encoder = real_encoder
        assert out["mel"].shape[-1] == m_frames, out["mel"].shape
        return out["mel"]

    def run_flowvox(flowvox: nn.Module) -> Tensor:
        gen = torch.Generator().manual_seed(seed)
        out = flowvox.synthesize(ids, lengths, durations=f_dur, nfe=nfe, cfg=0.0, generator=gen)
        assert out.mel.shape[1] == f_frames, out.mel.shape
        return out.mel

    contenders = {"matcha-tts": run_matcha}
    for name in FLOWVOX_SHAPES:
        contenders[name] = lambda model=models[name]: run_flowvox(model)
    return contenders, (m_frames, f_frames)


def training_contenders(models: dict[str, nn.Module], seed: int):
    g = torch.Generator().manual_seed(seed)
    m_frames = [round(6 * MATCHA_FPS), round(5 * MATCHA_FPS)]
    f_frames = [round(6 * FLOWVOX_FPS), round(5 * FLOWVOX_FPS)]
    tokens = [90, 75]
    ids = torch.zeros(2, max(tokens), dtype=torch.long)
    for row, count in enumerate(tokens):
        ids[row, :count] = torch.randint(1, 178, (count,), generator=g)
    lengths = torch.tensor(tokens)
    blanks = torch.zeros(2, 2 * max(tokens) + 1, dtype=torch.long)
    blanks[:, 1::2] = ids
    m_len = torch.tensor(m_frames)
    m_n = -(-max(m_frames) // 4) * 4  # matcha pads to a multiple of 4 (U-Net)
    m_mel = torch.randn(2, 80, m_n, generator=g)
    f_len = torch.tensor(f_frames)
    f_mel = torch.randn(2, max(f_frames), 100, generator=g)
    matcha = models["matcha-tts"]
    m_opt = torch.optim.AdamW(matcha.parameters(), lr=1e-4)

    def step_matcha() -> None:
        matcha.train()
        dur, prior, diff, _ = matcha(blanks, 2 * lengths + 1, m_mel, m_len)
        (dur + prior + diff).backward()
        torch.nn.utils.clip_grad_norm_(matcha.parameters(), 1.0)
        m_opt.step()
        m_opt.zero_grad(set_to_none=True)
        matcha.eval()

    def step_flowvox_of(flowvox: nn.Module):
        f_opt = torch.optim.AdamW(flowvox.parameters(), lr=1e-4)
        f_gen = torch.Generator().manual_seed(seed)

        def step() -> None:
            flowvox.train()
            out = flowvox.loss(f_mel, f_len, ids, lengths, f_gen)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(flowvox.parameters(), 1.0)
            f_opt.step()
            f_opt.zero_grad(set_to_none=True)
            flowvox.eval()

        return step

    contenders = {"matcha-tts": step_matcha}
    for name in FLOWVOX_SHAPES:
        contenders[name] = step_flowvox_of(models[name])
    return contenders


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    results = {"mas": mas_comparison(5 * max(args.rounds, 1), args.seed)}  # ~0.1 s a round
    mas = results["mas"]
    print(
        f"MAS: {mas['differing']} differing cells; "
        + ", ".join(f"{k} {v.median * 1000:.1f} ms" for k, v in mas["timings"].items())
    )
    if args.rounds > 0:
        models = build_models(args.seed)
        results["params"] = {name: count(model) for name, model in models.items()}
        # training first: matcha's RoPE caches cos/sin on first use, and a cache built under
        # its synthesise (inference mode) cannot be used by autograd afterwards
        results["train"] = interleaved(training_contenders(models, args.seed), args.rounds)
        contenders, frames = synthesis_contenders(models, args.nfe, args.seed)
        results["frames"] = frames
        results["synth"] = interleaved(contenders, args.rounds)
        for task in ("synth", "train"):
            print(task, {k: round(v.median, 3) for k, v in results[task].items()})
    return results


def count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def markdown(results: dict, args: argparse.Namespace) -> list[str]:
    def mb(t: Timing) -> str:
        return "n/a" if t.peak_mb is None else f"{t.peak_mb:.0f}"

    mas = results["mas"]
    b, tokens, n = mas["shape"]
    m, f = mas["timings"]["matcha-tts"], mas["timings"]["flowvox"]  # MAS: one flowvox
    verdict = "identical" if mas["differing"] == 0 else f"{mas['differing']} cells differ"
    lines = [
        "",
        "## matcha-tts 0.0.7.2 vs flowvox",
        "",
        f"Command: `python -m benchmarks.peers.matcha_side_by_side --nfe {args.nfe} --rounds "
        f"{args.rounds} --threads {args.threads} --seed {args.seed}`; one process, fp32, CPU.",
        "",
        f"Monotonic alignment search, batch {b}, {tokens} tokens × {n} frames, padded lengths, "
        f"random Gaussian log-likelihoods: paths {verdict} ({mas['cells']:,} valid cells). "
        f"matcha-tts (Cython, per item) {m.median * 1000:.1f} ms, flowvox (batched torch) "
        f"{f.median * 1000:.1f} ms: matcha / flowvox = {m.median / f.median:.2f} (median of "
        f"{5 * max(args.rounds, 1)}).",
    ]
    if "synth" not in results:
        return lines
    params = results["params"]
    mf, ff = results["frames"]
    lines += [
        "",
        "Whole models, random weights (different architectures, not the same weights): "
        f"matcha-tts at its LJSpeech config ({params['matcha-tts'] / 1e6:.1f}M parameters, "
        "U-Net decoder, 80 mels at 22.05 kHz) vs flowvox's aligned model (Matcha's text encoder "
        "and duration predictor, DiT decoder, 100 mels at 24 kHz) at its `small` preset (DiT "
        f"512 × 12, {params['flowvox small'] / 1e6:.1f}M) and at about Matcha's size (DiT "
        f"384 × 6, {params['flowvox matched'] / 1e6:.1f}M). Synthesis: 10 s ({mf} and {ff} "
        f"frames), {PHONES} phones + blanks with fixed even durations, batch 1, Euler NFE "
        f"{args.nfe}, no guidance, vocoder none. Training step: batch 2 padded (6 s and 5 s), "
        "all losses (duration, prior, flow) + backward + clip 1.0 + AdamW; MAS runs inside both. "
        f"Median of {args.rounds} interleaved rounds after one warm-up call each; memory: "
        f"{memory_note()}.",
        "",
        "| task | implementation | params | s | matcha-tts s / this | peak MiB |",
        "|---|---|---|---|---|---|",
    ]
    for task, label in (("synth", "synthesis 10 s"), ("train", "training step")):
        base = results[task]["matcha-tts"].median
        for name, timing in results[task].items():
            lines.append(
                f"| {label} | {name} | {params[name] / 1e6:.1f}M | {timing.median:.2f} "
                f"| {base / timing.median:.2f} | {mb(timing)} |"
            )
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nfe", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (0: MAS only)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    add_memory_json_option(parser)
    parser.add_argument("--append", type=Path, default=None, help="markdown file to extend")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args()
    outcome = run(arguments)
    tasks = {task: outcome[task] for task in ("synth", "train") if task in outcome}
    outcome.update(exchange_peaks(tasks, arguments.memory_json))
    if arguments.append is not None and not memory_pass():
        with arguments.append.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(markdown(outcome, arguments)) + "\n")
        print(f"appended to {arguments.append}")
