"""`flowvox vocode`: copy synthesis through a vocoder, to judge the vocoder on its own.
Part of the CLI (``flowvox.cli.main`` adds the verb)."""

from __future__ import annotations

import argparse

from flowvox.cli.options import add_device_option, add_progress_option
from flowvox.utils.atomic import check_output_folder

EXAMPLES = """Each input is loaded at the vocoder's sample rate, turned into the vocoder's own
log-mel and vocoded back; OUT_DIR gets <id>.wav per input (manifest lines by their "id",
files by their name). Files already in OUT_DIR are kept: run again to finish a stopped run.

examples:
  flowvox vocode data/testset.jsonl copy/vocos --vocoder runs/vocos/model
  flowvox vocode data/testset.jsonl copy/gl --vocoder griffin-lim --mel vocos24k
  flowvox eval run data/testset.jsonl eval/copy-vocos --audio-dir copy/vocos
  flowvox vocode me.wav recordings/ copy/ --vocoder flowvox/default_voice/vocoder
"""


def add_vocode_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    vocode = verbs.add_parser(
        "vocode",
        help="resynthesise recordings through a vocoder (audio -> mel -> audio)",
        description="Copy synthesis: write what the vocoder makes of each recording's own "
        "mel, to measure the vocoder apart from any acoustic model.",
        epilog=EXAMPLES,
        formatter_class=formatter_class,
    )
    vocode.add_argument(
        "inputs", nargs="+", metavar="INPUT",
        help="a manifest (.jsonl with 'audio' per line), a folder of audio files, or a file",
    )  # fmt: skip
    vocode.add_argument("out", metavar="OUT_DIR", help="folder for <id>.wav")
    vocode.add_argument(
        "--vocoder", required=True, metavar="DIR",
        help="vocoder folder (model.safetensors + config.json), or griffin-lim",
    )  # fmt: skip
    vocode.add_argument(
        "--mel", default="vocos24k", metavar="PRESET",
        help="Griffin-Lim's mel preset (default: vocos24k); a vocoder folder brings its own",
    )  # fmt: skip
    add_device_option(vocode)
    add_progress_option(vocode)
    vocode.set_defaults(run=run_vocode)


def run_vocode(args: argparse.Namespace) -> None:
    from flowvox.audio.mel import get_mel_preset
    from flowvox.eval.copy_synthesis import copy_sources, copy_synthesize
    from flowvox.vocoders.griffin_lim import griffin_lim_vocoder
    from flowvox.vocoders.pairing import GRIFFIN_LIM_NAMES

    check_output_folder(args.out)
    sources = copy_sources(args.inputs)  # every input checked before anything is written
    if args.vocoder.lower() in GRIFFIN_LIM_NAMES:
        vocoder = griffin_lim_vocoder(get_mel_preset(args.mel)).to(args.device)
    else:
        from flowvox.vocoders.io import load_vocoder

        vocoder = load_vocoder(args.vocoder, device=args.device)
    report = copy_synthesize(sources, args.out, vocoder, progress=not args.no_progress)
    print(report.summary())
