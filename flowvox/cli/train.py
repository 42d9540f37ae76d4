"""`flowvox train` and `flowvox export`: train from a run file, export a model folder.

Part of the CLI (``flowvox.cli.main`` adds these verbs); the library imports sit inside each
verb so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import os

from flowvox.utils.atomic import check_output_folder

EXAMPLES_TRAIN = """a run file (YAML) names the task, the output folder and the options
(see configs/ for complete ones: infill-tiny.yaml, vocoder-tiny.yaml, ...):

  task: infill_tts              # infill_tts, vocoder, or a 'package.module:ClassName'
  out_dir: runs/infill-tiny     # default: runs/<file name without .yaml>
  train:                        # the shared trainer (flowvox.train.TrainConfig)
    max_steps: 2000
    lr: 1.0e-3
    warmup_steps: 100
    max_frames: 3000            # padded frames per batch, per process
    checkpoint_every: 500
  model: tiny                   # every other key belongs to the task
  data: {prepared: prepared/}

outputs, under out_dir:
  checkpoints/step-XXXXXXX/     the newest checkpoints (weights, EMA, optimiser, RNG state)
  tensorboard/                  scalars and media: tensorboard --logdir OUT_DIR/tensorboard
  model/                        the exported model (EMA weights + config.json), for `speak`

examples:
  flowvox train configs/infill-tiny.yaml --set data.prepared=prepared/
  flowvox train configs/infill-tiny.yaml --set train.lr=5e-4 train.max_steps=4000
  flowvox train configs/infill-tiny.yaml --resume            # continue the newest checkpoint
  flowvox train run.yaml --resume --set train.time_limit_minutes=25   # a 25-minute slice
  flowvox train run.yaml --resume --stop-at-step 8000   # stop there, schedule unchanged
  flowvox train configs/voice-es-finetune.yaml   # init_from a model, its vocab extended
  accelerate launch --num_processes 4 -m flowvox train run.yaml   # DDP on 4 GPUs
  torchrun --nproc_per_node 2 -m flowvox train run.yaml
"""

EXAMPLES_EXPORT = """examples:
  flowvox export runs/infill-tiny/checkpoints/step-0000500 models/tiny-500
  flowvox speak "Hello." -o hello.wav --model models/tiny-500 --ref-audio me.wav
"""


def add_train_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    train = verbs.add_parser(
        "train",
        help="train a model from a run file (one process, DDP or FSDP; resumable)",
        description="Train the task a run file names, on one process or many (launch with "
        "accelerate launch or torchrun for DDP/FSDP). Checkpoints are written every "
        "train.checkpoint_every steps; --resume continues the newest one exactly.",
        epilog=EXAMPLES_TRAIN,
        formatter_class=formatter_class,
    )
    train.add_argument("config", metavar="CONFIG.yaml", help="the run file")
    train.add_argument(
        "--set",
        dest="overrides",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="override values of the run file, dotted keys: train.lr=1e-4 model.depth=4",
    )
    train.add_argument(
        "--resume", action="store_true", help="continue from the newest checkpoint in out_dir"
    )
    train.add_argument(
        "--stop-at-step", type=int, metavar="N",
        help="stop at step N (checkpoint + export) with the lr schedule still that of "
        "train.max_steps; --resume continues later",
    )  # fmt: skip
    train.set_defaults(run=run_train)


def add_export_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    export = verbs.add_parser(
        "export",
        help="turn a training checkpoint into a model folder (EMA weights + config.json)",
        description="Write the EMA weights and config of a training checkpoint folder as a "
        "model folder that `flowvox speak --model` reads.",
        epilog=EXAMPLES_EXPORT,
        formatter_class=formatter_class,
    )
    export.add_argument("checkpoint", metavar="CHECKPOINT_DIR", help="OUT/checkpoints/step-N")
    export.add_argument("out_dir", metavar="OUT_DIR", help="the model folder to write")
    export.set_defaults(run=run_export)


def run_train(args: argparse.Namespace) -> None:
    from flowvox.train import train_from_config
    from flowvox.train.setup import leave_process_group

    try:
        result = train_from_config(
            args.config, args.overrides, resume=args.resume, stop_at_step=args.stop_at_step
        )
    finally:
        leave_process_group()  # this process ends here; a live gloo group can abort its exit
    if os.environ.get("RANK", "0") == "0":  # one summary under torchrun / accelerate launch
        skipped = sum(result.skipped.values())
        print(
            f"trained to step {result.step} in {result.train_seconds / 3600:.2f} h "
            f"({result.frames_per_second:.0f} frames/s"
            + (f", {skipped} updates skipped for NaN/inf" if skipped else "")
            + f"); model in {result.export_dir}, checkpoint {result.checkpoint_dir}"
        )


def run_export(args: argparse.Namespace) -> None:
    from flowvox.train import export_checkpoint

    check_output_folder(args.out_dir)
    print(f"wrote {export_checkpoint(args.checkpoint, args.out_dir)}")
