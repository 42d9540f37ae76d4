"""`flowvox export-onnx`: a model folder as ONNX graphs for `speak --backend onnx`. Part of
the CLI (``flowvox.cli.main`` adds the verb); the library import sits inside the verb."""

from __future__ import annotations

import argparse

from flowvox.errors import FlowvoxError

EXAMPLES = """OUT_DIR is a new, self-contained model folder: the model's files (config.json,
weights, vocab, voices, sampling defaults), velocity.onnx (one ODE velocity evaluation with
classifier-free guidance inside; the guidance weight and the time are inputs, so --nfe and
--cfg stay free), and vocoder/vocoder.onnx for a Vocos or HiFi-GAN vocoder. Text encoding,
durations and the solver loop stay in Python. Only aligned models export (the bundled
voice's family). Needs the onnx extra: pip install 'flowvox[onnx]'.

examples:
  flowvox export-onnx voice-onnx/                 # the bundled default voice
  flowvox export-onnx runs/voice-en7/model voice-onnx/
  flowvox speak "Hello there." -o hello.wav --model voice-onnx/ --backend onnx
"""


def add_export_onnx_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    export = verbs.add_parser(
        "export-onnx",
        help="export an aligned model and its vocoder as ONNX graphs (speak --backend onnx)",
        description="Write MODEL_DIR (default: the bundled voice) into the new folder OUT_DIR "
        "with ONNX graphs of its velocity field and vocoder, each checked against torch.",
        epilog=EXAMPLES,
        formatter_class=formatter_class,
    )
    export.add_argument(
        "model", nargs="?", metavar="MODEL_DIR",
        help="an aligned model folder (default: the bundled voice, or $FLOWVOX_MODEL)",
    )  # fmt: skip
    export.add_argument("out", metavar="OUT_DIR", help="new folder to write")
    export.add_argument(
        "--exporter", choices=("dynamo", "torchscript"), default="dynamo",
        help="torch.onnx exporter: dynamo (falls back to torchscript if it fails) or "
        "torchscript (faster to export) (default: dynamo)",
    )  # fmt: skip
    export.set_defaults(run=run_export_onnx)


def run_export_onnx(args: argparse.Namespace) -> None:
    from flowvox.infer.model_dir import MODEL_ENV, bundled_model_dir
    from flowvox.infer.onnx.folder import export_onnx
    from flowvox.utils.atomic import check_new_folder

    check_new_folder(args.out)  # before a model loads
    model = args.model if args.model is not None else bundled_model_dir()
    if model is None:
        raise FlowvoxError(
            f"no bundled default voice in this install; pass MODEL_DIR or set {MODEL_ENV}"
        )
    print(export_onnx(model, args.out, args.exporter).summary())
