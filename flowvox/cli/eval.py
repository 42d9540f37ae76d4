"""`flowvox eval run` and `flowvox eval testset`: judge speech, build the standard test set.

Part of the CLI (``flowvox.cli.main`` adds the verb); the library imports sit inside each action
so that ``--help`` stays fast.
"""

from __future__ import annotations

import argparse

from flowvox.cli.options import add_device_option, add_progress_option
from flowvox.utils.atomic import check_output_file, check_output_folder

EXAMPLES_RUN = """MANIFEST: JSONL, one utterance per line: "text", and optionally "id", "ref_audio",
"ref_text" (the voice prompt) and "audio" (the ground-truth recording); make the standard
one with `flowvox eval testset`. OUT_DIR gets results.json (per utterance + summary),
results.md (table), plots/*.png and, with --model, the generated audio (audio/nfe-N/).

judges: WER (pocketsphinx, offline; or --asr whisper:PATH for a local Whisper model),
speaker similarity to the reference and to the ground truth (resemblyzer), MCD and F0 RMSE
against the ground truth after DTW, duration ratio, RTF; the ground truth is judged too.

examples:
  flowvox eval testset corpus/ test.jsonl --unseen-voices flite:awb
  flowvox eval run test.jsonl eval/tiny --model runs/infill-tiny/model --nfe 8 16 32
  flowvox eval run test.jsonl eval/tiny --model M --vocoder runs/vocos/model --nfe 16
  flowvox eval run test.jsonl eval/mine --audio-dir generated/   # files named <id>.wav
  flowvox eval run test.jsonl eval/w --audio-dir gen/ --asr whisper:/models/whisper-small-ct2
"""

EXAMPLES_TESTSET = """groups (extra.group of each line; eval summarises each apart):
  seen      held-out sentences of the corpus (its test split), ground truth = their audio,
            reference = another utterance of the same voice
  unseen    utterances of the voices named by --unseen-voices (left out of training)
  librivox  real read speech (pocketsphinx-testdata): the five clips with ground truth, and
            held-out sentences spoken zero-shot in that reader's voice

examples:
  flowvox eval testset corpus/ test.jsonl
  flowvox eval testset corpus/ test.jsonl --unseen-voices flite:awb festival-ked_diphone
  flowvox eval testset LJSpeech-1.1/ lj-test.jsonl --no-librivox --per-voice 100
"""


EXAMPLES_SOUND = """examples:
  flowvox eval sound runs/sound/packed sounds/manifest.jsonl eval-sound/
  flowvox eval sound M sounds/manifest.jsonl out/ --steps 1 2 5 10 25 100 --cfg 3
  flowvox eval sound M sounds/manifest.jsonl out/ --steps 10 --cfg 1 2 3 5 --limit 100
"""


def add_eval_parser(verbs: argparse._SubParsersAction, formatter_class: type) -> None:
    verb = verbs.add_parser(
        "eval",
        help="judge a model or generated audio (WER, similarity, MCD, F0, RTF); make a test set",
        description="Judge speech against a test manifest, beside the ground truth.",
        epilog=EXAMPLES_RUN,
        formatter_class=formatter_class,
    )
    actions = verb.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser(
        "run",
        help="synthesise a test manifest with a model (or read generated audio) and judge it",
        description="Synthesise MANIFEST with --model at each --nfe (batched, resumable), or "
        "read --audio-dir, then judge every utterance and the ground truth with the same "
        "judges; write results.json, results.md and plots into OUT_DIR.",
        epilog=EXAMPLES_RUN,
        formatter_class=formatter_class,
    )
    run.add_argument("manifest", metavar="MANIFEST", help="test manifest (.jsonl)")
    run.add_argument("out_dir", metavar="OUT_DIR", help="folder for results (and audio)")
    source = run.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", metavar="DIR", help="model folder to synthesise with")
    source.add_argument("--audio-dir", metavar="DIR", help="generated audio, <id>.wav per line")
    run.add_argument("--vocoder", metavar="DIR", help="vocoder folder (default: the model's)")
    run.add_argument(
        "--nfe", type=int, nargs="+", metavar="N",
        help="ODE steps; several values are each synthesised and judged (default: the "
        "model's, from flowvox pack --nfe, else 32)",
    )  # fmt: skip
    run.add_argument(
        "--cfg", type=float,
        help="guidance weight (default: the model's, from flowvox pack --cfg, else 2.0)",
    )  # fmt: skip
    run.add_argument("--seed", type=int, default=0, help="noise seed (default: 0)")
    run.add_argument(
        "--batch-frames", type=int, default=None, metavar="N",
        help="padded mel frames per synthesis batch (default: 2000 on CPU, 8000 on GPU)",
    )  # fmt: skip
    run.add_argument("--name", help="system name for --audio-dir (default: the folder name)")
    run.add_argument(
        "--asr", default="pocketsphinx", metavar="SPEC",
        help="pocketsphinx (default) or whisper:PATH (a local faster-whisper folder or "
        "openai-whisper .pt; faster-whisper:PATH / openai-whisper:PATH force the package)",
    )  # fmt: skip
    run.add_argument(
        "--workers", type=int, default=1, metavar="N",
        help="ASR worker processes beside the main one (0: decode in it; default: 1)",
    )  # fmt: skip
    run.add_argument(
        "--mcd-coefficients", type=int, default=24, metavar="D",
        help="mel-cepstral coefficients c1..cD in MCD (default: 24)",
    )  # fmt: skip
    run.add_argument("--no-speaker", action="store_true", help="skip speaker similarity")
    run.add_argument("--no-ground-truth", action="store_true", help="do not judge the GT audio")
    add_device_option(run)
    add_progress_option(run)
    run.set_defaults(run=run_eval_cli)

    testset = actions.add_parser(
        "testset",
        help="write the standard test manifest from a corpus's held-out sentences",
        description="Write a test manifest (JSONL) for `flowvox eval run`: the corpus's "
        "held-out utterances with a reference clip of the same voice, the voices named as "
        "unseen, and the LibriVox clips of pocketsphinx-testdata as human voice prompts.",
        epilog=EXAMPLES_TESTSET,
        formatter_class=formatter_class,
    )
    testset.add_argument("corpus", metavar="CORPUS", help="corpus folder or manifest")
    testset.add_argument("out", metavar="OUT.jsonl", help="test manifest to write")
    testset.add_argument(
        "--unseen-voices", nargs="+", metavar="VOICE",
        help="voices left out of training (speaker names or engine voices, e.g. flite:awb)",
    )  # fmt: skip
    testset.add_argument(
        "--unseen-per-voice", type=int, default=20, metavar="N",
        help="utterances per unseen voice (default: 20)",
    )  # fmt: skip
    testset.add_argument(
        "--per-voice", type=int, default=None, metavar="N",
        help="at most N held-out utterances per seen voice (default: all)",
    )  # fmt: skip
    testset.add_argument(
        "--librivox-sentences", type=int, default=2, metavar="K",
        help="held-out sentences spoken zero-shot per LibriVox clip (default: 2)",
    )  # fmt: skip
    testset.add_argument("--no-librivox", action="store_true", help="leave the LibriVox clips out")
    testset.add_argument("--seed", type=int, default=0, help="seed for reference choice")
    testset.set_defaults(run=run_testset_cli)

    sound = actions.add_parser(
        "sound",
        help="generate a sound corpus's captions with a sound model and judge the attributes",
        description="Generate every caption of MANIFEST's --splits with the sound model at each "
        "(--steps, --cfg) pair (line i seeded seed + i; resumable), judge the generated clips "
        "and the ground-truth clips with the same attribute judges, and write per-attribute "
        "accuracy, the Frechet distance to the ground truth and RTF into OUT_DIR "
        "(results.json, results.md).",
        epilog=EXAMPLES_SOUND,
        formatter_class=formatter_class,
    )
    sound.add_argument("model", metavar="MODEL_DIR", help="a sound-model folder")
    sound.add_argument("manifest", metavar="MANIFEST", help="a `flowvox corpus sounds` manifest")
    sound.add_argument("out_dir", metavar="OUT_DIR", help="folder for wavs and results")
    sound.add_argument("--steps", type=int, nargs="+", default=[10], metavar="S")
    sound.add_argument("--cfg", type=float, nargs="+", default=[3.0], metavar="W")
    sound.add_argument(
        "--splits", nargs="+", default=["test", "test_unseen"], metavar="SPLIT",
        help="manifest splits to judge (default: test test_unseen)",
    )  # fmt: skip
    sound.add_argument("--limit", type=int, metavar="N", help="at most N lines")
    sound.add_argument("--seed", type=int, default=0, help="line i gets seed + i (default: 0)")
    sound.add_argument("--batch-size", type=int, default=8, metavar="B")
    sound.add_argument(
        "--no-copy", dest="copy", action="store_false",
        help="skip the copy-synthesis rows (the truth through the vocoder, and through the "
        "VAE and the vocoder, with the VAE's mel L1)",
    )  # fmt: skip
    add_device_option(sound)
    sound.set_defaults(run=run_sound_eval_cli)


def run_sound_eval_cli(args: argparse.Namespace) -> None:
    from flowvox.eval.sound.run import evaluate_sound_model

    check_output_folder(args.out_dir)
    report = evaluate_sound_model(
        args.model, args.manifest, args.out_dir, args.steps, args.cfg, args.splits,
        args.limit, args.seed, args.batch_size, args.device, args.copy,
    )  # fmt: skip
    print(report.results_md.read_text(encoding="utf-8"), end="")


def run_eval_cli(args: argparse.Namespace) -> None:
    from flowvox.errors import FlowvoxError
    from flowvox.eval.judges import JudgeConfig
    from flowvox.eval.run import EvalConfig, run_eval

    if args.workers < 0:
        raise FlowvoxError(f"--workers {args.workers}: give 0 or more")
    check_output_folder(args.out_dir)
    if args.audio_dir is not None and (args.vocoder or args.nfe or args.cfg is not None):
        raise FlowvoxError(
            "--vocoder, --nfe and --cfg need --model; --audio-dir is judged as it is"
        )
    config = EvalConfig(
        manifest=args.manifest,
        out_dir=args.out_dir,
        model=args.model,
        vocoder=args.vocoder,
        nfe=args.nfe,
        audio_dir=args.audio_dir,
        name=args.name,
        cfg=args.cfg,
        seed=args.seed,
        batch_frames=args.batch_frames,
        judges=JudgeConfig(
            asr=args.asr,
            workers=args.workers,
            mcd_coefficients=args.mcd_coefficients,
            speaker=not args.no_speaker,
            device=args.device,
        ),
        ground_truth=not args.no_ground_truth,
        progress=not args.no_progress,
    )
    print(run_eval(config).summary())


def run_testset_cli(args: argparse.Namespace) -> None:
    from flowvox.eval.testset import EvalSetConfig, build_testset

    check_output_file(args.out)
    report = build_testset(
        EvalSetConfig(
            corpus=args.corpus,
            out=args.out,
            unseen_voices=args.unseen_voices,
            unseen_per_voice=args.unseen_per_voice,
            per_voice=args.per_voice,
            librivox=not args.no_librivox,
            librivox_sentences=args.librivox_sentences,
            seed=args.seed,
        )
    )
    print(report.summary())
