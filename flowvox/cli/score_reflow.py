"""`flowvox score` and `flowvox reflow pairs`: flow-matching tools for aligned TTS models.

Part of the CLI (``flowvox.cli.main`` adds these verbs); the library imports sit inside each
verb so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse

from flowvox.cli.options import add_device_option, add_progress_option
from flowvox.utils.atomic import check_output_file, check_output_folder

EXAMPLES_SCORE = """DATA: a prepared folder (its --split is scored, mels from its cache), a .jsonl
manifest, or a corpus folder with manifest.jsonl (mels computed from the audio).
OUT.jsonl gets one line per utterance: {"id", "nats_per_frame", "nats_per_element", "frames"},
log p(mel | text) under the model's flow decoder (MAS durations, no audio prompt).

examples:
  flowvox score runs/aligned-tiny/model prepared/ scores.jsonl
  flowvox score M prepared/ train.jsonl --split train --probes 8 --nfe 32 --solver rk4
  flowvox score M prepared/ exact.jsonl --divergence exact   # exact trace: short clips only
"""

EXAMPLES_REFLOW = """Reflow (rectified flow, VoiceFlow): decode every training utterance from saved
noise with the trained model along its MAS durations, then train on the (noise, decode) pairs.
Make the pairs at the settings you will synthesize with (NFE, solver, temperature).

examples:
  flowvox reflow pairs runs/aligned-tiny/model prepared/ pairs/ --nfe 10 --seed 0
  flowvox reflow pairs runs/aligned-tiny/model prepared/ pairs/   # again: finishes the rest
  flowvox train configs/aligned-tiny.yaml --set data.prepared=prepared/ \\
      data.reflow_pairs=pairs/ model.path=rectified init_from=runs/aligned-tiny/model \\
      out_dir=runs/aligned-tiny-reflow
"""


def add_solver_options(
    parser: argparse.ArgumentParser, nfe: int, solver: str, nfe_help: str
) -> None:
    """--nfe (default ``nfe``), --solver (default ``solver``), --device and --no-progress: the
    options of every verb that integrates a model's flow."""
    parser.add_argument("--nfe", type=int, default=nfe, metavar="N", help=nfe_help)
    parser.add_argument(
        "--solver", choices=("euler", "midpoint", "rk4"), default=solver,
        help=f"ODE solver (default: {solver})",
    )  # fmt: skip
    add_device_option(parser)
    add_progress_option(parser)


def add_score_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    score = verbs.add_parser(
        "score",
        help="log-likelihood of each utterance's mel under an aligned TTS model",
        description="Integrate each utterance's mel back to noise through the model's flow "
        "decoder (conditioned on its text) and write log p(mel | text) per frame and per "
        "mel element. Batched with padding; a score does not depend on its batch.",
        epilog=EXAMPLES_SCORE,
        formatter_class=formatter_class,
    )
    score.add_argument("model", metavar="MODEL_DIR", help="aligned TTS model folder")
    score.add_argument("data", metavar="DATA", help="prepared folder, manifest or corpus folder")
    score.add_argument("out", metavar="OUT.jsonl", help="scores, one JSON line per utterance")
    score.add_argument(
        "--divergence", choices=("exact", "hutchinson"), default="hutchinson",
        help="exact trace (frames x mel bins backward passes) or Hutchinson (default)",
    )  # fmt: skip
    score.add_argument(
        "--probes", type=int, default=4, metavar="K",
        help="Hutchinson probes per utterance (default: 4)",
    )  # fmt: skip
    score.add_argument("--split", default="test", help="split of a prepared folder (default: test)")
    score.add_argument("--seed", type=int, default=0, help="seed of the Hutchinson probes")
    score.add_argument(
        "--batch-frames", type=int, default=2000, metavar="N",
        help="padded frames per batch (default: 2000)",
    )  # fmt: skip
    add_solver_options(score, 16, "midpoint", "ODE steps, data to noise (default: 16)")
    score.set_defaults(run=run_score)


def add_reflow_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    reflow = verbs.add_parser(
        "reflow",
        help="reflow an aligned TTS model: make (noise, decode) training pairs",
        description="Reflow (VoiceFlow): pairs of saved noise and the model's decode of it.",
        epilog=EXAMPLES_REFLOW,
        formatter_class=formatter_class,
    )
    actions = reflow.add_subparsers(dest="action", required=True, metavar="ACTION")
    pairs = actions.add_parser(
        "pairs",
        help="decode the training split from saved noise into OUT_DIR (resumable)",
        description="For every utterance of PREPARED's training split, draw noise (seed + "
        "crc32(id)) and decode it with the model along the utterance's MAS durations; write "
        "OUT_DIR/pairs/<id>.safetensors (x_0, x_1, durations), pairs.jsonl and reflow.json. "
        "A rerun skips finished ids; other settings than the folder's are an error.",
        epilog=EXAMPLES_REFLOW,
        formatter_class=formatter_class,
    )
    pairs.add_argument("model", metavar="MODEL_DIR", help="the trained aligned TTS model")
    pairs.add_argument("prepared", metavar="PREPARED", help="the prepared training data folder")
    pairs.add_argument("out_dir", metavar="OUT_DIR", help="folder for the pairs")
    pairs.add_argument(
        "--temperature", type=float, default=1.0, metavar="T",
        help="noise scale; use the one inference uses (default: 1.0)",
    )  # fmt: skip
    pairs.add_argument(
        "--cfg", type=float, default=0.0, metavar="W",
        help="classifier-free guidance weight, 0 = off (default: 0)",
    )  # fmt: skip
    pairs.add_argument(
        "--prompt-fraction", type=float, default=0.0, metavar="P",
        help="decode each utterance prompted by its own first tokens covering up to this "
        "fraction of its frames (the prompt frames are kept real), so that a prompted "
        "multi-voice model keeps each voice; 0 = no prompt (default: 0)",
    )  # fmt: skip
    pairs.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    pairs.add_argument("--split", default="train", help="split to decode (default: train)")
    pairs.add_argument(
        "--batch-frames", type=int, default=4000, metavar="N",
        help="padded frames per batch (default: 4000)",
    )  # fmt: skip
    add_solver_options(pairs, 10, "euler", "ODE steps (default: 10, as VoiceFlow)")
    pairs.set_defaults(run=run_reflow_pairs)


def run_score(args: argparse.Namespace) -> None:
    from flowvox.eval.likelihood import score_utterances

    check_output_file(args.out)
    scores = score_utterances(
        args.model,
        args.data,
        args.divergence,
        args.probes,
        args.nfe,
        args.solver,
        split=args.split,
        seed=args.seed,
        batch_frames=args.batch_frames,
        device=args.device,
        out=args.out,
        progress=not args.no_progress,
    )
    mean = sum(s.nats_per_frame * s.frames for s in scores) / max(1, sum(s.frames for s in scores))
    print(f"scored {len(scores)} utterances: {mean:.3f} nats per frame; wrote {args.out}")


def run_reflow_pairs(args: argparse.Namespace) -> None:
    from flowvox.models.aligned.reflow import make_reflow_pairs

    check_output_folder(args.out_dir)
    report = make_reflow_pairs(
        args.model,
        args.prepared,
        args.out_dir,
        args.nfe,
        args.solver,
        args.temperature,
        args.seed,
        cfg=args.cfg,
        prompt_fraction=args.prompt_fraction,
        split=args.split,
        batch_frames=args.batch_frames,
        device=args.device,
        progress=not args.no_progress,
    )
    print(report.summary())
