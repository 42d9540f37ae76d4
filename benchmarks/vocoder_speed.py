"""Vocoder speed on this CPU: flowvox Vocos against the released vocos package, side by side.

    benchmarks/peers/setup_peers.sh                      # once: the peers venv
    benchmarks/.peers-venv/bin/python -m benchmarks.vocoder_speed   # -> results/vocoder_speed.md
    python -m benchmarks.vocoder_speed --quick           # smoke run, prints only (~20-40 s)

# b: batch, n: mel frames, f: mel bins, s: samples
Decodes ``--seconds`` of audio per item at each batch size with flowvox Vocos (vocos-mel-24khz
shape), the released ``vocos`` 0.1.0 Vocos holding the SAME weights (random-initialised official
model, perturbed, saved in the release format and loaded with ``load_vocos_release`` as in
tests/vocoders/test_vocos_equivalence.py), HiFi-GAN V1/V2/V3 (22.05 kHz, weight norm folded)
and Griffin-Lim (vocos24k). Weights are random: speed does not depend on their values. Every
round calls every vocoder once, in a rotated order, after warm-up calls; the table gives the
median over rounds. xRT = audio seconds / compute seconds (higher is faster), RTF = 1 / xRT.
The flowvox / package figure is measured in the same rounds, as the ratio of medians and as
the median of the per-round ratios. Any python with flowvox works; the vocos rows need the
vocos package (the peers venv, or the project venv, which has it too).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from flowvox.vocoders import load_vocos_release
from flowvox.vocoders.griffin_lim import GriffinLim, GriffinLimConfig
from flowvox.vocoders.hifigan import HiFiGAN, HiFiGANConfig
from flowvox.vocoders.vocos.model import Vocos
from tests.peers.vocos_peer import import_vocos_pretrained, release_config

RESULTS = Path(__file__).parent / "results" / "vocoder_speed.md"
FLOWVOX_VOCOS = "flowvox Vocos"
PACKAGE_VOCOS = "vocos 0.1.0 Vocos"
COMPILED_VOCOS = "flowvox Vocos, torch.compile"
PAIR = (FLOWVOX_VOCOS, PACKAGE_VOCOS)


@dataclass
class Contender:
    """One vocoder: ``decode`` maps a log-mel (b, n, f) to a waveform (b, s)."""

    name: str
    sample_rate: int
    n_mels: int
    frames_for: Callable[[float], int]  # audio seconds -> mel frames
    decode: Callable[[torch.Tensor], torch.Tensor]
    note: str = ""


@dataclass
class Timing:
    """Seconds per call over the rounds, and the audio seconds one call produces."""

    seconds: list[float] = field(default_factory=list)
    audio_seconds: float = 0.0
    first_call: float = 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def xrt(self) -> float:
        return self.audio_seconds / self.median


def frames_center(sample_rate: int, hop: int) -> Callable[[float], int]:
    """Frames n so a centred-STFT vocoder ((n - 1)·hop samples) gives at least the duration."""
    return lambda seconds: -(-round(seconds * sample_rate) // hop) + 1


def frames_same(sample_rate: int, hop: int) -> Callable[[float], int]:
    """Frames n so an n·hop vocoder gives at least the duration."""
    return lambda seconds: -(-round(seconds * sample_rate) // hop)


def vocos_pair(workdir: Path) -> tuple[Vocos, torch.nn.Module | None, str]:
    """flowvox Vocos and the package's Vocos on the same weights (package None if missing)."""
    try:
        package = import_vocos_pretrained()
    except ImportError as error:
        print(f"vocos package unavailable, flowvox Vocos only: {error}")
        torch.manual_seed(0)
        return Vocos().eval(), None, str(error)
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(release_config("center", 512, 1536, 8)))
    torch.manual_seed(0)
    official = package.Vocos.from_hparams(str(config_path)).eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # move every parameter off its init so biases, norms and γ count
        for p in official.parameters():
            p.add_(torch.randn(p.shape, generator=generator) * 0.05)
    torch.save(official.state_dict(), workdir / "pytorch_model.bin")
    return load_vocos_release(workdir), official, ""


def build_contenders(workdir: Path, compile_vocos: bool) -> list[Contender]:
    ours, official, _ = vocos_pair(workdir)
    sr, hop = ours.config.mel.sample_rate, ours.config.hop_length
    contenders = [Contender(FLOWVOX_VOCOS, sr, 100, frames_center(sr, hop), ours)]
    if official is not None:
        contenders.append(
            Contender(
                PACKAGE_VOCOS,
                sr,
                100,
                frames_center(sr, hop),
                lambda mel: official.decode(mel.transpose(1, 2)),  # it takes (b, f, n)
            )
        )
    if compile_vocos:
        compiled = torch.compile(ours)
        contenders.append(Contender(COMPILED_VOCOS, sr, 100, frames_center(sr, hop), compiled))
    for preset in ("v1", "v2", "v3"):
        config = HiFiGANConfig.preset(preset)
        model = HiFiGAN(config).eval().remove_weight_norm()
        mel = config.mel
        contenders.append(
            Contender(
                f"flowvox HiFi-GAN {preset.upper()}",
                mel.sample_rate,
                mel.n_mels,
                frames_same(mel.sample_rate, mel.hop_length),
                model,
            )
        )
    gl_config = GriffinLimConfig()
    gl = GriffinLim(gl_config)
    gl_mel = gl_config.mel
    contenders.append(
        Contender(
            "flowvox Griffin-Lim",
            gl_mel.sample_rate,
            gl_mel.n_mels,
            frames_center(gl_mel.sample_rate, gl_mel.hop_length),
            gl,
            f"{gl_config.n_iter} iterations, momentum {gl_config.momentum}, "
            f"{gl_config.nnls_iter} NNLS steps, {gl_mel.name} mel",
        )
    )
    return contenders


def time_batch(
    contenders: list[Contender], batch: int, seconds: dict[str, float], args: argparse.Namespace
) -> tuple[dict[str, Timing], dict[str, torch.Tensor]]:
    """Interleaved timing of every contender at one batch size; also the first outputs.

    Warm-up calls decode 1 s of audio at the same batch size. The Vocos pair runs all
    ``args.rounds`` rounds; any other vocoder stops once its timed calls add up to
    ``args.budget`` seconds (at least one call).
    """
    generator = torch.Generator().manual_seed(2)
    mels, warm = {}, {}
    for c in contenders:  # (b, n, f) log-mel-like values
        frames = c.frames_for(seconds[c.name])
        mels[c.name] = torch.randn(batch, frames, c.n_mels, generator=generator) * 2.0 - 6.0
        warm[c.name] = mels[c.name][:, : c.frames_for(min(1.0, seconds[c.name]))]
    if FLOWVOX_VOCOS in mels:  # one mel for flowvox Vocos and its peers
        for name in (PACKAGE_VOCOS, COMPILED_VOCOS):
            mels[name], warm[name] = mels[FLOWVOX_VOCOS], warm[FLOWVOX_VOCOS]
    timings = {c.name: Timing() for c in contenders}
    outputs = {}
    with torch.inference_mode():
        for c in contenders:
            for i in range(max(args.warmup, 1)):
                start = time.perf_counter()
                c.decode(warm[c.name])
                if i == 0:
                    timings[c.name].first_call = time.perf_counter() - start
        for r in range(args.rounds):
            shift = r % len(contenders)
            for c in contenders[shift:] + contenders[:shift]:
                timing = timings[c.name]
                if c.name not in PAIR and timing.seconds and sum(timing.seconds) > args.budget:
                    continue
                start = time.perf_counter()
                wav = c.decode(mels[c.name])  # (b, s)
                timing.seconds.append(time.perf_counter() - start)
                if c.name not in outputs:
                    outputs[c.name] = wav
                    timing.audio_seconds = wav.numel() / c.sample_rate
            print(f"  batch {batch} round {r + 1}/{args.rounds} done", flush=True)
    return timings, outputs


def cpu_model() -> str:
    """Model name, family/model numbers and widest vector unit from /proc/cpuinfo."""
    try:
        info = dict(
            line.split(":", 1)
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if ":" in line
        )
    except OSError:
        return platform.processor() or platform.machine()
    info = {k.strip(): v.strip() for k, v in info.items()}
    flags = info.get("flags", "").split()
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return (
        f"{info.get('model name', platform.machine())} (family {info.get('cpu family', '?')}, "
        f"model {info.get('model', '?')}, {vector})"
    )


def section(contenders: list[Contender], batch: int, args: argparse.Namespace) -> list[str]:
    """Markdown for one batch size."""
    seconds = {
        c.name: args.seconds if "Vocos" in c.name else args.other_seconds for c in contenders
    }
    timings, outputs = time_batch(contenders, batch, seconds, args)
    lines = [
        f"### batch {batch}",
        "",
        "| vocoder | audio per item | calls | median s/call | xRT | RTF | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in contenders:
        t = timings[c.name]
        note = c.note
        if c.name == COMPILED_VOCOS:
            note = f"compile + first call (1 s of audio) {t.first_call:.1f} s"
        lines.append(
            f"| {c.name} | {t.audio_seconds / batch:.2f} s at {c.sample_rate} Hz "
            f"| {len(t.seconds)} | {t.median:.3f} | {t.xrt:.2f} | {1 / t.xrt:.4f} | {note} |"
        )
    if PACKAGE_VOCOS in timings and FLOWVOX_VOCOS in timings:
        ours, theirs = timings[FLOWVOX_VOCOS], timings[PACKAGE_VOCOS]
        paired = statistics.median(b / a for a, b in zip(ours.seconds, theirs.seconds, strict=True))
        diff = (outputs[FLOWVOX_VOCOS] - outputs[PACKAGE_VOCOS]).abs().max().item()
        peak = outputs[PACKAGE_VOCOS].abs().max().item()
        lines += [
            "",
            f"**flowvox Vocos / vocos package speed: {theirs.median / ours.median:.2f}× "
            f"(ratio of medians), {paired:.2f}× (median of per-round ratios)**; "
            f"max abs waveform difference on the same mel {diff:.2e} (peak |x| {peak:.2f}).",
        ]
    return lines + [""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="audio per batch item")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument(
        "--other-seconds", type=float, default=None, help="audio per item, non-Vocos rows"
    )
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (median)")
    parser.add_argument(
        "--budget", type=float, default=120.0, help="timed seconds per non-Vocos row and batch"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls per vocoder")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument("--compile", action="store_true", help="also torch.compile'd Vocos")
    parser.add_argument(
        "--only", nargs="+", default=None, help="keep vocoders whose name contains a word"
    )
    parser.add_argument("--quick", action="store_true", help="0.25 s, batches 1 and 2, 1 round")
    parser.add_argument("--out", type=Path, default=None, help=f"markdown (default {RESULTS})")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.batches, args.rounds, args.warmup = 0.25, [1, 2], 1, 1
    if args.other_seconds is None:
        args.other_seconds = args.seconds
    out = args.out or (None if args.quick else RESULTS)
    threads = args.threads or [torch.get_num_threads()]
    command = " ".join(["python", "benchmarks/vocoder_speed.py", *sys.argv[1:]])
    lines = [
        "# Vocoder speed (CPU)",
        "",
        f"CPU: {cpu_model()}, {os.cpu_count()} logical cores; torch {torch.__version__}; "
        f"python {platform.python_version()} ({sys.executable}).",
        f"`{command}`: {args.seconds:g} s of audio per batch item for Vocos, "
        f"{args.other_seconds:g} s for the others; random log-mel input, random weights, "
        f"inference mode, float32. Median over up to {args.rounds} interleaved rounds (the "
        f"Vocos pair runs all of them; other rows stop after {args.budget:g} s of timed "
        f"calls), after {max(args.warmup, 1)} warm-up call(s) per vocoder on up to 1 s of "
        "audio. "
        "xRT = audio seconds per compute second (batch included); RTF = 1 / xRT.",
        "The machine is shared: the load average (1 min) is given per section; compare rows "
        "within one section, measured side by side.",
        "",
    ]
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        contenders = build_contenders(Path(workdir), args.compile)
        print(f"models built in {time.perf_counter() - start:.1f} s", flush=True)
        if args.only:
            words = [w.lower() for w in args.only]
            contenders = [c for c in contenders if any(w in c.name.lower() for w in words)]
        for count in threads:
            torch.set_num_threads(count)
            before = os.getloadavg()[0]
            print(f"torch threads {torch.get_num_threads()}, CPU {cpu_model()}", flush=True)
            body = []
            for batch in args.batches:
                body += section(contenders, batch, args)
            after = os.getloadavg()[0]
            lines += [
                f"## torch.get_num_threads() = {torch.get_num_threads()} "
                f"(load average {before:.1f} before, {after:.1f} after)",
                "",
                *body,
            ]
    text = "\n".join(lines)
    print(text)
    if out is not None:
        out.parent.mkdir(exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
