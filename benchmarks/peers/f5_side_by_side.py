"""flowvox's infilling DiT beside the released f5-tts 1.1.22, same weights, same inputs.

# b: batch, n: mel frames, f: mel bins (100)
Both run in one process (the peers venv has flowvox installed editable, and f5-tts imported
with the torchaudio stand-in of ``f5_peer``). One seeded f5-tts model is written as an F5
release file and loaded by both (see ``f5_pair``). Checks, all fp32 on CPU:
  a. DiT forward, batch 1, every combination of the drop flags: max |v_f5 − v_flowvox|;
     a padded batch of 2 (F5 attends to padding keys: flowvox with ``hide_padding=False``
     should match on real frames, the default ``hide_padding=True`` deliberately not);
  b. sampling: ``CFM.sample`` (Euler, NFE, CFG, sway, uniform grid, ``use_epss=False``) vs
     flowvox's ``sample_chunks`` from the same seed, max |mel diff| on the generated frames;
  c. training loss on F5's own random draws, replayed into flowvox's ``loss_with_draw``;
  d. speed: inference of a 10 s target after a 2 s reference (batch 1) and one training
     step (forward + backward + AdamW, batch 2 padded), interleaved medians, peak memory;
     each side in fp32 and under bfloat16 autocast;
  e. bf16: (b) with both sides under autocast, and each side's bf16 mel against its fp32 one.
``--device cuda`` runs the timings (d) on a GPU after the checks ran on the CPU, each call
synchronised, memory from ``torch.cuda.max_memory_allocated``; ``--bulk B`` adds one batch of
B copies of the inference line. The CUDA path has not run yet (no GPU was lent when it was
written); on the CPU both options are exercised.
When a forward differs, the modules of the common tree are compared one by one and the
first differing one is named.

    benchmarks/.peers-venv/bin/python -m benchmarks.peers.f5_side_by_side [--shapes tiny] \
        [--device cuda --bulk 16] [--out benchmarks/results/peers_gpu.md]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from benchmarks.peers.measure import (
    add_memory_json_option,
    exchange_peaks,
    interleaved,
    memory_pass,
)
from flowvox.infer.backends.infill import sample_chunks
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.sampling import ChunkJob
from flowvox.models.infill.model import TrainingDraw
from flowvox.nn.masks import lengths_to_mask, pad_token_ids
from tests.peers import f5_pair
from tests.peers.f5_peer import import_f5_model

FRAMES_PER_SECOND = 24000 / 256
REF_TEXT = "Some call me nature, others call me mother nature."
GEN_TEXT = (
    "I have been here for over four billion years, twenty two thousand five hundred times "
    "longer than you. I don't really need people, but people need me."
)


@dataclass(frozen=True)
class Check:
    """One equivalence figure: name, max |difference|, max |value| of the f5 output."""

    name: str
    diff: float
    scale: float
    note: str = ""


@dataclass
class Pair:
    """Both models on the same release file, and flowvox's tokenizer."""

    shape: f5_pair.PairShape
    f5: nn.Module  # CFM
    flowvox: nn.Module  # InfillTTS, hide_padding=True (default)
    flowvox_exact_pad: nn.Module  # InfillTTS, hide_padding=False (F5 1.1.22 padding)
    tokenizer: object


def make_pair(f5_model, shape: f5_pair.PairShape, seed: int, workdir: Path) -> Pair:
    source = f5_pair.build_f5(f5_model, shape, seed)
    release = workdir / f"{shape.name}_model.safetensors"
    f5_pair.save_release(source, release)
    f5 = f5_pair.build_f5(f5_model, shape, seed + 100)  # other weights, then overwritten
    f5_pair.load_release_into_f5(f5, release)
    loaded = []
    for hide in (True, False):
        config = f5_pair.flowvox_config(shape, hide_padding=hide)
        folder = f5_pair.release_to_flowvox_dir(release, config, workdir / f"{shape.name}_{hide}")
        loaded.append(f5_pair.load_flowvox(folder))
    return Pair(shape, f5.eval(), loaded[0].model, loaded[1].model, loaded[0].tokenizer)


def first_difference(pair: Pair, run_f5, run_flowvox, tol: float = 1e-5) -> str:
    """Name the first module (f5 execution order) whose output differs by more than tol."""
    captured: dict[str, dict[str, Tensor]] = {"f5": {}, "fv": {}}
    order: list[str] = []
    hooks = []
    f5_modules = dict(pair.f5.transformer.named_modules())
    fv_modules = dict(pair.flowvox.transformer.named_modules())
    for name in f5_modules.keys() & fv_modules.keys():
        if not name:
            continue
        for side, module in (("f5", f5_modules[name]), ("fv", fv_modules[name])):

            def hook(_m, _i, out, side=side, name=name):
                if isinstance(out, Tensor):
                    captured[side].setdefault(name, out.detach().clone())
                    if side == "f5" and name not in order:
                        order.append(name)

            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            run_f5()
            run_flowvox()
    finally:
        for handle in hooks:
            handle.remove()
    for name in order:
        a, b = captured["f5"][name], captured["fv"].get(name)
        if b is None or a.shape != b.shape:
            return f"{name}: shape {tuple(a.shape)} vs {None if b is None else tuple(b.shape)}"
        diff = (a - b).abs().max().item()
        if diff > tol:
            return f"{name}: max diff {diff:.3g}"
    return "no module output differs"


def forward_checks(pair: Pair, seed: int, n: int = 300) -> list[Check]:
    """(a): batch 1 with each drop-flag combination, then a padded batch of 2."""
    g = torch.Generator().manual_seed(seed)
    text = REF_TEXT + " " + GEN_TEXT[:80]
    ids = pad_token_ids([pair.tokenizer.encode(text)])  # flowvox tokenizer
    from f5_tts.model.utils import list_str_to_idx

    ids_f5 = list_str_to_idx([text], pair.f5.vocab_char_map)  # f5's own tokenization
    differing = float((ids != ids_f5).sum())
    checks = [Check("tokenization: ids differing", differing, float(ids.numel()), "scale = ids")]
    x = torch.randn(1, n, 100, generator=g)
    cond = torch.randn(1, n, 100, generator=g)
    cond[:, n // 2 :] = 0.0
    t = torch.rand(1, generator=g)
    for drop_audio, drop_text in [(False, False), (True, False), (False, True), (True, True)]:

        def run_f5(da=drop_audio, dt=drop_text):
            return pair.f5.transformer(
                x=x, cond=cond, text=ids_f5, time=t, drop_audio_cond=da, drop_text=dt
            )

        def run_fv(da=drop_audio, dt=drop_text):
            return pair.flowvox(x, cond, ids, t, None, da, dt)

        with torch.no_grad():
            a, b = run_f5(), run_fv()
        diff = (a - b).abs().max().item()
        note = "" if diff <= 1e-5 else first_difference(pair, run_f5, run_fv)
        label = f"DiT forward, b=1, drop_audio={drop_audio}, drop_text={drop_text}"
        checks.append(Check(label, diff, a.abs().max().item(), note))

    lens = torch.tensor([n, n - 80])
    mask = lengths_to_mask(lens, n)  # (2, n)
    texts = [text, text[: len(text) // 2]]
    ids2 = pad_token_ids([pair.tokenizer.encode(s) for s in texts])
    x2 = torch.randn(2, n, 100, generator=g) * mask[..., None]
    cond2 = torch.randn(2, n, 100, generator=g) * mask[..., None]
    t2 = torch.rand(2, generator=g)
    with torch.no_grad():
        a = pair.f5.transformer(x=x2, cond=cond2, text=ids2, time=t2, mask=mask)
        for model, label in ((pair.flowvox_exact_pad, False), (pair.flowvox, True)):
            b = model(x2, cond2, ids2, t2, mask)
            diff = ((a - b).abs() * mask[..., None]).max().item()
            note = "expected 0" if not label else "differs by design: padding hidden"
            checks.append(
                Check(
                    f"DiT forward, b=2 padded, hide_padding={label}",
                    diff,
                    a.abs().max().item(),
                    note,
                )
            )
    return checks


def sample_f5(
    pair: Pair, ref: Tensor, text: str, total: int, nfe: int, cfg: float, seed: int, batch: int = 1
):
    """f5-tts ``CFM.sample`` of ``batch`` copies of one line (one noise draw for the batch);
    the first item's generated frames (g, f)."""
    out, _ = pair.f5.sample(
        cond=ref[None].expand(batch, -1, -1),
        text=[text] * batch,
        duration=total,
        steps=nfe,
        cfg_strength=cfg,
        sway_sampling_coef=-1.0,
        seed=seed,
        use_epss=False,
    )
    return out[0, ref.shape[0] : total]  # (g, f): generated frames only


def sample_flowvox(
    pair: Pair,
    ref: Tensor,
    text: str,
    total: int,
    nfe: int,
    cfg: float,
    seed: int,
    batch: int = 1,
) -> Tensor:
    """flowvox ``sample_chunks`` of ``batch`` copies of one line (seeds ``seed`` + i), padded
    into one batch; the first item's generated frames (g, f)."""
    ids = pair.tokenizer.encode(text)
    jobs = [ChunkJob(ref, ids, total, seed + i) for i in range(batch)]
    options = SynthesisOptions(nfe=nfe, cfg=cfg, sway=-1.0, seed=seed)
    return sample_chunks(pair.flowvox, jobs, options).mels[0]


def sampling_check(pair: Pair, seed: int, nfe: int, cfg: float) -> Check:
    """(b): same reference, text, noise seed and grid; compare the generated mel."""
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(120, 100, generator=g) - 4.0  # (r, f) a log-mel-like prompt
    text = REF_TEXT + " " + GEN_TEXT[:100]
    a = sample_f5(pair, ref, text, 400, nfe, cfg, seed)
    b = sample_flowvox(pair, ref, text, 400, nfe, cfg, seed)
    label = f"CFM.sample vs sample_chunks, b=1, 400 frames, NFE {nfe}, CFG {cfg}, sway -1"
    return Check(label, (a - b).abs().max().item(), a.abs().max().item())


def replay_f5_draw(lens: Tensor, x_1: Tensor, seed: int, audio_p: float, cond_p: float):
    """F5's CFM.forward random choices from torch/python seeds, as a flowvox TrainingDraw."""
    torch.manual_seed(seed)
    random.seed(seed)
    b, n = x_1.shape[:2]
    frac = torch.zeros((b,)).float().uniform_(0.7, 1.0)
    start_u = torch.rand_like(frac)
    span = (frac * lens).long()
    start = ((lens - span) * start_u).long().clamp(min=0)
    frames = torch.arange(n)[None, :]
    span_mask = (frames >= start[:, None]) & (frames < (start + span)[:, None])
    span_mask &= lengths_to_mask(lens, n)
    x_0 = torch.randn_like(x_1)
    t = torch.rand((b,), dtype=x_1.dtype)
    drop_audio = random.random() < audio_p
    drop_text = random.random() < cond_p
    drop_audio = drop_audio or drop_text
    flags = (torch.full((b,), drop_audio), torch.full((b,), drop_text))
    return TrainingDraw(span_mask, x_0, t, *flags)


def draw_seeds_per_flags(seed: int, audio_p: float, cond_p: float) -> list[int]:
    """Seeds from ``seed`` on whose python draws give, in turn, no drop, audio dropped, both
    dropped (F5 draws drop_audio = random() < audio_p, then drop both if random() < cond_p)."""
    wanted: dict[tuple[bool, bool], int] = {}
    for candidate in range(seed, seed + 1000):
        rng = random.Random(candidate)
        audio = rng.random() < audio_p
        both = rng.random() < cond_p
        wanted.setdefault((audio or both, both), candidate)
        if len(wanted) == 3:
            break
    return [wanted[k] for k in ((False, False), (True, False), (True, True)) if k in wanted]


def loss_checks(pair: Pair, seed: int, n: int = 300) -> list[Check]:
    """(c): the training loss of a padded batch of 2 on the same random draws (eval mode)."""
    g = torch.Generator().manual_seed(seed)
    lens = torch.tensor([n, n - 70])
    mel = torch.randn(2, n, 100, generator=g) * lengths_to_mask(lens, n)[..., None]
    texts = [REF_TEXT + " " + GEN_TEXT[:60], REF_TEXT]
    ids = pad_token_ids([pair.tokenizer.encode(s) for s in texts])
    checks = []
    for draw_seed in draw_seeds_per_flags(seed, pair.f5.audio_drop_prob, pair.f5.cond_drop_prob):
        torch.manual_seed(draw_seed)
        random.seed(draw_seed)
        with torch.no_grad():
            loss_f5, _, _ = pair.f5(mel, ids, lens=lens)
            draw = replay_f5_draw(
                lens, mel, draw_seed, pair.f5.audio_drop_prob, pair.f5.cond_drop_prob
            )
            out = pair.flowvox_exact_pad.loss_with_draw(mel, lens, ids, draw)
        flags = f"drop_audio={bool(draw.drop_audio[0])}, drop_text={bool(draw.drop_text[0])}"
        checks.append(
            Check(
                f"training loss, b=2 padded, hide_padding=False, {flags}",
                abs(loss_f5.item() - out.loss.item()),
                loss_f5.item(),
            )
        )
    return checks


PRECISIONS = ("fp32", "bf16")
SIDES = ("f5-tts", "flowvox")


def in_precision(fn, precision: str, device_type: str = "cpu"):
    """``fn`` as is ("fp32"), or run under bfloat16 autocast ("bf16": matrix products in
    bfloat16, what flowvox's ``--precision bf16`` and ``train.mixed_precision: bf16`` do, and
    what either side gets from ``torch.autocast``)."""
    if precision == "fp32":
        return fn

    def run():
        with torch.autocast(device_type, dtype=torch.bfloat16):
            return fn()

    return run


def contender(side: str, precision: str) -> str:
    """Timing key: "f5-tts" / "flowvox" for fp32 (the key earlier reports used), else
    "<side> bf16"."""
    return side if precision == "fp32" else f"{side} {precision}"


def bf16_checks(pair: Pair, seed: int, nfe: int, cfg: float) -> list[Check]:
    """(e): the sampling check of (b) with both sides under bf16 autocast, and how far bf16
    moves each side's mel from its fp32 result (max abs, and RMS relative to the mel's
    standard deviation in the note)."""
    g = torch.Generator().manual_seed(seed)
    ref = torch.randn(120, 100, generator=g) - 4.0  # (r, f)
    text = REF_TEXT + " " + GEN_TEXT[:100]
    mels = {}
    for side, sample in (("f5-tts", sample_f5), ("flowvox", sample_flowvox)):
        for precision in PRECISIONS:
            run = in_precision(
                lambda sample=sample: sample(pair, ref, text, 400, nfe, cfg, seed), precision
            )
            with torch.no_grad():
                mels[side, precision] = run().float()
    label = f"b=1, 400 frames, NFE {nfe}, CFG {cfg}, sway -1"
    a, b = mels["f5-tts", "bf16"], mels["flowvox", "bf16"]
    checks = [
        Check(
            f"bf16 autocast, both sides: CFM.sample vs sample_chunks, {label}",
            (a - b).abs().max().item(),
            a.abs().max().item(),
        )
    ]
    for side in SIDES:
        fp32, bf16 = mels[side, "fp32"], mels[side, "bf16"]
        rel = ((bf16 - fp32).pow(2).mean().sqrt() / fp32.std()).item()
        checks.append(
            Check(
                f"{side} bf16 vs its fp32 sample, {label}",
                (bf16 - fp32).abs().max().item(),
                fp32.abs().max().item(),
                f"bf16 rounding; relative RMS {rel:.2g}",
            )
        )
    return checks


def speed(
    pair: Pair, seed: int, nfe: int, cfg: float, rounds: int, device: str = "cpu", bulk: int = 0
) -> dict[str, dict]:
    """(d): inference of a 10 s target, one training step and, with ``bulk`` > 0, one batch of
    ``bulk`` 10 s targets; both implementations, each in fp32 and under bf16 autocast; one
    interleaved run per task, on ``device``."""
    ref_frames, gen_frames = round(2 * FRAMES_PER_SECOND), round(10 * FRAMES_PER_SECOND)
    total = ref_frames + gen_frames
    g = torch.Generator().manual_seed(seed)
    ref = (torch.randn(ref_frames, 100, generator=g) - 4.0).to(device)
    text = REF_TEXT + " " + GEN_TEXT

    def infer(side: str, batch: int):
        def run():
            with torch.no_grad():
                if side == "f5-tts":
                    return sample_f5(pair, ref, text, total, nfe, cfg, seed, batch)
                return sample_flowvox(pair, ref, text, total, nfe, cfg, seed, batch)

        return run

    lens = torch.tensor([total, gen_frames])
    mel = torch.randn(2, total, 100, generator=g) * lengths_to_mask(lens, total)[..., None]
    ids = pad_token_ids([pair.tokenizer.encode(text), pair.tokenizer.encode(GEN_TEXT)])
    lens, mel, ids = lens.to(device), mel.to(device), ids.to(device)
    steps = {
        "f5-tts": training_step_f5(pair, mel, lens, ids),
        "flowvox": training_step_flowvox(pair, mel, lens, ids, seed),
    }
    every = [(side, precision) for precision in PRECISIONS for side in SIDES]
    kind = torch.device(device).type

    def timed(make) -> dict:
        calls = {contender(sd, pr): in_precision(make(sd), pr, kind) for sd, pr in every}
        return interleaved(calls, rounds, device)

    out = {
        "infer": timed(lambda side: infer(side, 1)),
        "train": timed(lambda side: steps[side]),
        "frames": {"ref": ref_frames, "gen": gen_frames, "bulk": bulk},
    }
    if bulk > 0:
        out["bulk"] = timed(lambda side: infer(side, bulk))
    return out


def move_pair(pair: Pair, device: str) -> Pair:
    """The pair's three models on ``device`` (the checks run on the CPU before this)."""
    for name in ("f5", "flowvox", "flowvox_exact_pad"):
        setattr(pair, name, getattr(pair, name).to(device))
    return pair


def training_step_f5(pair: Pair, mel: Tensor, lens: Tensor, ids: Tensor):
    model = pair.f5
    optimizer = torch.optim.AdamW(model.parameters(), lr=7.5e-5)

    def step() -> None:
        model.train()
        loss, _, _ = model(mel, ids, lens=lens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.eval()

    return step


def training_step_flowvox(pair: Pair, mel: Tensor, lens: Tensor, ids: Tensor, seed: int):
    model = pair.flowvox
    optimizer = torch.optim.AdamW(model.parameters(), lr=7.5e-5)
    generator = torch.Generator().manual_seed(seed)

    def step() -> None:
        model.train()
        out = model.loss(mel, lens, ids, generator)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        model.eval()

    return step


def run(args: argparse.Namespace) -> dict:
    """Every check and timing; returns what ``peers_report`` writes."""
    torch.set_num_threads(args.threads)
    f5_model = import_f5_model()
    results: dict = {"checks": {}, "speed": {}, "params": {}, "shapes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.shapes:
            shape = f5_pair.SHAPES[name]
            pair = make_pair(f5_model, shape, args.seed, Path(tmp))
            results["shapes"][name] = shape.describe()
            results["params"][name] = (
                f5_pair.count_parameters(pair.f5),
                f5_pair.count_parameters(pair.flowvox),
            )
            checks = forward_checks(pair, args.seed)
            if name == args.shapes[0]:
                checks.append(sampling_check(pair, args.seed, args.nfe, args.cfg))
                checks += loss_checks(pair, args.seed)
                checks += bf16_checks(pair, args.seed, args.nfe, args.cfg)
            results["checks"][name] = checks
            for check in checks:
                print(
                    f"[{name}] {check.name}: diff {check.diff:.3g} (scale {check.scale:.3g})"
                    f" {check.note}"
                )
            if args.rounds > 0:
                pair = move_pair(pair, args.device)
                results["speed"][name] = speed(
                    pair, args.seed, args.nfe, args.cfg, args.rounds, args.device, args.bulk
                )
                for task in ("infer", "train", "bulk"):
                    timings = results["speed"][name].get(task, {})
                    print(
                        f"[{name}] "
                        + ", ".join(f"{key} {t.median:.2f} s" for key, t in timings.items())
                    )
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--shapes", nargs="+", default=["tiny", "small6"], choices=sorted(f5_pair.SHAPES)
    )
    parser.add_argument("--nfe", type=int, default=8)
    parser.add_argument("--cfg", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (0: no timing)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--device", default="cpu", help="device of the timed runs (checks run on the CPU)"
    )
    parser.add_argument(
        "--bulk",
        type=int,
        default=0,
        metavar="B",
        help="also time one batch of B 10 s targets (default 0: off; for GPU runs)",
    )
    add_memory_json_option(parser)
    parser.add_argument("--out", type=Path, default=None, help="markdown report to write")
    return parser.parse_args(argv)


if __name__ == "__main__":
    from benchmarks.peers.peers_report import write_f5_report

    arguments = parse_args()
    outcome = run(arguments)
    outcome["speed"] = exchange_peaks(outcome["speed"], arguments.memory_json)
    if arguments.out is not None and not memory_pass():
        write_f5_report(outcome, arguments, arguments.out)
