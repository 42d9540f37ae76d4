"""`flowvox sound`: latent text-to-audio, one caption into a file or a caption file into a
folder (``flowvox.infer.sound``)."""

from __future__ import annotations

import argparse

from flowvox.cli.options import add_device_option, add_threads_option, set_threads, text_argument
from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import check_output_file, check_output_folder

EXAMPLES_SOUND = """A sound model is a folder: a latent flow model (model.safetensors + config.json)
with its mel VAE in vae/ and a vocoder for the VAE's mel in vocoder/ (else Griffin-Lim).
Without --model the bundled one (flowvox/sound_model, trained on `flowvox corpus sounds`) runs.
--cfg is LAFMA's weight w in u = u_u + w (u_c - u_u): 1 = no guidance, 0 = ignore the
caption, 3 = LAFMA's default. --seconds is rounded to the VAE's 40 ms frame steps.
--captions FILE OUT_DIR: line n -> OUT_DIR/<n>.wav (n zero-padded to 5 digits, seed S + n
with --seed S) and OUT_DIR/manifest.jsonl; run it again to finish: finished wavs are kept.

examples:
  flowvox sound "three short high beeps, then a man speaks" -o out.wav
  flowvox sound "brown noise fading in" -o n.wav --seconds 5 --steps 20 --seed 1
  echo "a low square tone" | flowvox sound - -o tone.wav --model runs/tta/sound
  flowvox sound --captions captions.txt sounds/ --seconds 5 --seed 0
"""


def add_sound_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    sound = verbs.add_parser(
        "sound",
        help="make a sound from a caption (latent text-to-audio)",
        description='Generate the sound CAPTION describes ("-" reads stdin) into OUT '
        "(.wav, .flac or .ogg), or every line of --captions FILE into OUT_DIR.",
        epilog=EXAMPLES_SOUND,
        formatter_class=formatter_class,
    )
    sound.add_argument("caption", nargs="?", metavar="CAPTION", help='the sound, or "-": stdin')
    sound.add_argument("-o", "--output", metavar="OUT.wav", help="audio file to write")
    sound.add_argument(
        "--captions", nargs=2, metavar=("FILE", "OUT_DIR"),
        help="bulk: one caption a line of FILE -> OUT_DIR (resumable)",
    )  # fmt: skip
    sound.add_argument(
        "--seconds", type=float, metavar="S", help="length (default: the model's, e.g. 10.24)"
    )
    sound.add_argument(
        "--steps", type=int, default=10, metavar="N", help="flow steps (default: 10)"
    )
    sound.add_argument(
        "--cfg", type=float, default=3.0, metavar="W", help="guidance weight, 1 = off (default: 3)"
    )
    sound.add_argument("--seed", type=int, metavar="N", help="seed for reproducible output")
    sound.add_argument("--model", metavar="DIR", help="sound-model folder (default: the bundled)")
    sound.add_argument(
        "--batch-size", type=int, default=8, metavar="N", help="captions per batch (default: 8)"
    )
    add_device_option(sound)
    add_threads_option(sound)
    sound.set_defaults(run=run_sound)


def run_sound(args: argparse.Namespace) -> None:
    from flowvox.infer.sound_files import sound_to_file, sounds_to_folder

    set_threads(args)
    sampling = dict(
        model=args.model, device=args.device, seconds=args.seconds, steps=args.steps,
        cfg=args.cfg, seed=args.seed,
    )  # fmt: skip
    if args.captions is not None:
        if args.caption is not None or args.output is not None:
            raise FlowvoxError("--captions FILE OUT_DIR makes its own files; drop CAPTION and -o")
        check_output_folder(args.captions[1])
        report = sounds_to_folder(*args.captions, batch_size=args.batch_size, **sampling)
    else:
        if args.caption is None or args.output is None:
            raise FlowvoxError("give CAPTION and -o OUT.wav (or --captions FILE OUT_DIR)")
        check_output_file(args.output)
        caption = text_argument(args.caption)
        report = sound_to_file(caption, args.output, **sampling)
    print(report.summary())
