"""`flowvox convert f5`: a released F5-TTS checkpoint as a flowvox model folder. Part of the CLI
(``flowvox.cli.main`` adds the verb)."""

from __future__ import annotations

import argparse

EXAMPLES = """The model folder it writes is what `flowvox speak --model DIR` and
`Synthesizer.from_pretrained(DIR)` read. Release files (.safetensors) hold the EMA weights;
training checkpoints (.pt) are read as plain tensors only (torch.load weights_only).

examples:
  flowvox convert f5 F5TTS_v1_Base/model_1250000.safetensors --vocab vocab.txt models/f5-v1-base
  flowvox convert f5 F5TTS_Base/model_1200000.pt --vocab vocab.txt models/f5-v0 --version v0
  flowvox convert f5 E2TTS_Base/model_1200000.safetensors --vocab vocab.txt models/e2 --version v0
  flowvox speak "Hello there." -o hi.wav --model models/f5-v1-base --ref-audio me.wav
"""


def add_convert_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    convert = verbs.add_parser(
        "convert",
        help="turn a released checkpoint into a flowvox model folder",
        description="Convert released weights of another toolkit into a flowvox model folder.",
        formatter_class=formatter_class,
    )
    kinds = convert.add_subparsers(dest="kind", required=True, metavar="KIND")
    f5 = kinds.add_parser(
        "f5",
        help="an F5-TTS checkpoint: DiT (v1 or v0) or E2 UNetT; Base, Small or any size",
        description="Read an F5-TTS checkpoint (DiT, or E2-TTS's UNetT), infer its backbone "
        "and shape from the tensors, write model.safetensors + config.json + vocab.txt into "
        "OUT_DIR and load it back.",
        epilog=EXAMPLES,
        formatter_class=formatter_class,
    )
    f5.add_argument("checkpoint", metavar="CHECKPOINT", help=".safetensors release or .pt file")
    f5.add_argument("out", metavar="OUT_DIR", help="new model folder")
    f5.add_argument("--vocab", required=True, metavar="VOCAB.txt", help="the release's vocab")
    f5.add_argument(
        "--version", choices=("v1", "v0"), default="v1",
        help="v1 (F5TTS_v1_*, default) or v0 (F5TTS_Base, E2): filler masking and RoPE heads",
    )  # fmt: skip
    f5.add_argument(
        "--heads", type=int,
        help="attention heads, a check: read off the rotary table (width / head width); "
        "chosen only for a file without one (default then: width / 64, as F5)",
    )  # fmt: skip
    f5.add_argument("--no-ema", action="store_true", help=".pt only: the raw, not EMA, weights")
    f5.add_argument(
        "--tokenizer", choices=("pinyin", "char"), default="pinyin",
        help="pinyin (the official models; Chinese via jieba + pypinyin) or char (default: pinyin)",
    )  # fmt: skip
    f5.set_defaults(run=run_convert_f5)
    vocos = kinds.add_parser(
        "vocos",
        help="a released Vocos vocoder (e.g. vocos-mel-24khz: config.yaml + pytorch_model.bin)",
        description="Read a released Vocos folder (weights as plain tensors only) and write a "
        "flowvox vocoder folder (model.safetensors + config.json with its mel), loaded back "
        "before it is kept.",
        epilog="examples:\n  flowvox convert vocos vocos-mel-24khz/ models/vocos-24k\n"
        '  flowvox speak "Hi." -o hi.wav --model M --vocoder models/vocos-24k',
        formatter_class=formatter_class,
    )
    vocos.add_argument("source", metavar="RELEASE_DIR", help="config.yaml + pytorch_model.bin")
    vocos.add_argument("out", metavar="OUT_DIR", help="new vocoder folder")
    vocos.set_defaults(run=run_convert_vocos)


def run_convert_f5(args: argparse.Namespace) -> None:
    from flowvox.models.infill.convert_f5 import convert_f5

    c = convert_f5(
        args.checkpoint, args.vocab, args.out, args.version, args.heads, not args.no_ema,
        args.tokenizer,
    )  # fmt: skip
    backbone = "DiT" if c.backbone == "dit" else "E2"
    print(
        f"wrote {args.out}: F5 {backbone} {c.version}, dim {c.dim}, depth {c.depth}, "
        f"heads {c.heads}, text_dim {c.text_dim}, {c.conv_layers} ConvNeXt blocks, "
        f"vocab {c.text_vocab_size} ({c.tokenizer})"
    )


def run_convert_vocos(args: argparse.Namespace) -> None:
    from flowvox.utils.atomic import atomic_folder, check_new_folder
    from flowvox.vocoders import load_vocoder, load_vocos_release, save_vocoder

    out = check_new_folder(args.out)  # before the release is read
    model = load_vocos_release(args.source)
    with atomic_folder(out, "converting") as tmp:
        save_vocoder(tmp, model)
        load_vocoder(tmp, expect_mel=model.config.mel)
    params = sum(p.numel() for p in model.parameters())
    print(f"wrote {out}: Vocos, {params / 1e6:.2f} M parameters, mel {model.config.mel.name}")
