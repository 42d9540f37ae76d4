"""Bad input to every verb (issue 17): exit 2, one stderr line, no traceback, nothing written.

One table: each case is argv with placeholders — ``{name}`` an asset of ``conftest.assets``
(``{bad}``: the folder of broken files), ``{t}`` this case's empty output folder. After the
call, neither ``{t}`` nor the assets folder holds a new or changed file (a half-written
folder output counts as one), and the pickles planted among the assets were never run.
Verbs with a progress bar get ``--no-progress``: a bar is stderr output too.
"""

from __future__ import annotations

import io
import shutil
import sys
from pathlib import Path

import pytest

from flowvox.cli.main import main
from tests.reliability.conftest import files_under

M = ["--model", "{model}", "--vocoder", "{vocoder}", "--ref-audio", "{ref}", "--ref-text", "hi"]
SPEAK = ["speak", "Hello.", "-o", "{t}/o.wav", *M, "--nfe", "2"]
GEN = ["generate", "{lines}", "{t}/gen", *M, "--nfe", "2", "--no-progress"]
SCORE = ["score", "{aligned}", "{prepared}", "{t}/s.jsonl", "--nfe", "2", "--no-progress"]
PAIRS = ["reflow", "pairs", "{aligned}", "{prepared}", "{t}/pairs", "--nfe", "2", "--no-progress"]
EVAL = ["eval", "run", "{testset}", "{t}/eval", "--no-speaker", "--no-progress"]
VOCODE = ["vocode", "{ref}", "{t}/voc", "--no-progress"]
SOUND = ["sound", "a beep", "-o", "{t}/o.wav", "--steps", "2"]
GL = ["--vocoder", "griffin-lim", "--no-progress"]
CB = ["corpus", "build", "{t}/c", "--utterances", "2"]
SEM = ["--model", "{model}"]
BENCH = ["bench", "--model", "{model}", "--lines", "1", "--rounds", "1", "--nfe", "2"]


def replace(argv: list[str], flag: str, value: str) -> list[str]:
    """``argv`` with the value after ``flag`` replaced (or the flag added)."""
    argv = list(argv)
    if flag in argv:
        argv[argv.index(flag) + 1] = value
        return argv
    return [*argv, flag, value]


CASES = {
    # ---- speak: empty, wrong type, out of range
    "speak-empty-text": ["speak", "", "-o", "{t}/o.wav", *M],
    "speak-blank-text": ["speak", "  \n ", "-o", "{t}/o.wav", *M],
    "speak-nfe-not-int": replace(SPEAK, "--nfe", "many"),
    "speak-nfe-zero": replace(SPEAK, "--nfe", "0"),
    "speak-nfe-negative": replace(SPEAK, "--nfe", "-3"),
    "speak-cfg-negative": replace(SPEAK, "--cfg", "-1"),
    "speak-cfg-nan": replace(SPEAK, "--cfg", "nan"),
    "speak-speed-zero": replace(SPEAK, "--speed", "0"),
    "speak-speed-inf": replace(SPEAK, "--speed", "inf"),
    "speak-duration-negative": replace(SPEAK, "--duration", "-2"),
    "speak-seed-not-int": replace(SPEAK, "--seed", "1.5"),
    "speak-solver-unknown": replace(SPEAK, "--solver", "heun9"),
    "speak-threads-zero": replace(SPEAK, "--threads", "0"),
    "speak-device-unknown": replace(SPEAK, "--device", "banana"),
    "speak-device-absent-gpu": replace(SPEAK, "--device", "cuda:7"),
    "speak-voice-unknown": [*SPEAK[:4], *M[:4], "--voice", "nobody"],
    "speak-stdin-not-utf8": ["speak", "-", "-o", "{t}/o.wav", *M],
    # ---- speak: model and vocoder folders
    "speak-model-missing": replace(SPEAK, "--model", "{bad}/no-such-model"),
    "speak-model-empty-folder": replace(SPEAK, "--model", "{empty_dir}"),
    "speak-model-is-file": replace(SPEAK, "--model", "{lines}"),
    "speak-model-no-config": replace(SPEAK, "--model", "{bad}/model-noconfig"),
    "speak-model-config-not-json": replace(SPEAK, "--model", "{bad}/model-badjson"),
    "speak-model-config-empty": replace(SPEAK, "--model", "{bad}/model-emptyjson"),
    "speak-model-config-a-list": replace(SPEAK, "--model", "{bad}/model-listjson"),
    "speak-model-weights-truncated": replace(SPEAK, "--model", "{bad}/model-truncated"),
    "speak-model-weights-pickle": replace(SPEAK, "--model", "{bad}/model-pickled"),
    "speak-model-is-vocoder": replace(SPEAK, "--model", "{vocoder}"),
    "speak-vocoder-is-acoustic-model": replace(SPEAK, "--vocoder", "{model}"),
    "speak-vocoder-truncated": replace(SPEAK, "--vocoder", "{bad}/vocos-truncated"),
    "speak-vocoder-missing": replace(SPEAK, "--vocoder", "{bad}/no-such-vocoder"),
    # ---- speak: reference audio
    "speak-ref-missing": replace(SPEAK, "--ref-audio", "{bad}/no-such.wav"),
    "speak-ref-empty": replace(SPEAK, "--ref-audio", "{bad}/empty.wav"),
    "speak-ref-corrupt": replace(SPEAK, "--ref-audio", "{bad}/corrupt.wav"),
    "speak-ref-truncated": replace(SPEAK, "--ref-audio", "{bad}/truncated.wav"),
    "speak-ref-text-file": replace(SPEAK, "--ref-audio", "{bad}/notaudio.wav"),
    "speak-ref-is-folder": replace(SPEAK, "--ref-audio", "{bad}/a-folder.wav"),
    "speak-ref-pickle": replace(SPEAK, "--ref-audio", "{bad}/evil.pt"),
    # ---- speak: outputs
    "speak-out-unknown-format": replace(SPEAK, "-o", "{t}/o.xyz"),
    "speak-out-is-folder": replace(SPEAK, "-o", "{bad}/a-folder.wav"),
    "speak-out-under-a-file": replace(SPEAK, "-o", "{tfile}/o.wav"),
    # ---- generate
    "generate-source-missing": ["generate", "{bad}/no-such.txt", *GEN[2:]],
    "generate-source-empty": ["generate", "{bad}/empty.txt", *GEN[2:]],
    "generate-source-not-utf8": ["generate", "{bad}/binary.txt", *GEN[2:]],
    "generate-manifest-empty": ["generate", "{bad}/empty.jsonl", *GEN[2:]],
    "generate-manifest-not-json": ["generate", "{bad}/notjson.jsonl", *GEN[2:]],
    "generate-manifest-not-objects": ["generate", "{bad}/wrongtype.jsonl", *GEN[2:]],
    "generate-source-is-folder": ["generate", "{bad}/a-folder.txt", *GEN[2:]],
    "generate-out-is-file": [*GEN[:2], "{tfile}", *GEN[3:]],
    "generate-out-in-missing-folder": [*GEN[:2], "{t}/no/such/gen", *GEN[3:]],
    "generate-batch-frames-zero": [*GEN, "--batch-frames", "0"],
    "generate-batch-frames-not-int": [*GEN, "--batch-frames", "lots"],
    "generate-nfe-zero": replace(GEN, "--nfe", "0"),
    "generate-model-is-vocoder": replace(GEN, "--model", "{vocoder}"),
    "generate-model-truncated": replace(GEN, "--model", "{bad}/model-truncated"),
    "generate-ref-corrupt": replace(GEN, "--ref-audio", "{bad}/corrupt.wav"),
    # ---- voices
    "voices-model-missing": ["voices", "--model", "{bad}/no-such-model"],
    "voices-model-is-file": ["voices", "--model", "{lines}"],
    "voices-file-corrupt": ["voices", "--model", "{bad}/voices-corrupt"],
    # ---- train
    "train-config-missing": ["train", "{bad}/no-such.yaml"],
    "train-config-not-yaml": ["train", "{bad}/bad.yaml"],
    "train-config-a-list": ["train", "{bad}/list.yaml"],
    "train-config-empty": ["train", "{bad}/empty.yaml"],
    "train-config-is-folder": ["train", "{bad}/a-folder.txt"],
    "train-task-unknown": ["train", "{bad}/unknown-task.yaml"],
    "train-set-no-equals": ["train", "{toy}", "--set", "train.max_steps"],
    "train-set-wrong-type": ["train", "{toy}", "--set", "train.max_steps=many"],
    "train-set-out-of-range": ["train", "{toy}", "--set", "train.lr=-1"],
    "train-set-unknown-key": ["train", "{toy}", "--set", "train.no_such_key=1"],
    "train-stop-at-step-not-int": ["train", "{toy}", "--stop-at-step", "x"],
    "train-resume-nothing": ["train", "{toy}", "--resume"],
    # ---- export
    "export-checkpoint-missing": ["export", "{bad}/no-such-step", "{t}/model"],
    "export-checkpoint-empty-folder": ["export", "{empty_dir}", "{t}/model"],
    "export-checkpoint-is-model-folder": ["export", "{model}", "{t}/model"],
    "export-checkpoint-ema-truncated": ["export", "{bad}/ckpt-truncated", "{t}/model"],
    "export-out-is-file": ["export", "{checkpoint}", "{tfile}"],
    "export-out-in-missing-folder": ["export", "{checkpoint}", "{t}/no/such/model"],
    # ---- export-onnx
    "export-onnx-model-missing": ["export-onnx", "{bad}/no-such-model", "{t}/onnx"],
    "export-onnx-model-is-vocoder": ["export-onnx", "{vocoder}", "{t}/onnx"],
    "export-onnx-family-not-exportable": ["export-onnx", "{model}", "{t}/onnx"],
    "export-onnx-model-truncated": ["export-onnx", "{bad}/model-truncated", "{t}/onnx"],
    "export-onnx-out-not-empty": ["export-onnx", "{aligned}", "{bad}"],
    "export-onnx-out-is-file": ["export-onnx", "{aligned}", "{tfile}"],
    "export-onnx-out-in-missing-folder": ["export-onnx", "{aligned}", "{t}/no/such/onnx"],
    "export-onnx-exporter-unknown": ["export-onnx", "{aligned}", "{t}/onnx", "--exporter", "tf"],
    "speak-backend-onnx-not-an-export": [*SPEAK, "--backend", "onnx"],
    "speak-backend-unknown": [*SPEAK, "--backend", "tensorrt"],
    # ---- corpus
    "corpus-utterances-zero": ["corpus", "build", "{t}/c", "--utterances", "0"],
    "corpus-utterances-not-int": ["corpus", "build", "{t}/c", "--utterances", "ten"],
    "corpus-hours-negative": ["corpus", "build", "{t}/c", "--hours", "-1"],
    "corpus-no-size": ["corpus", "build", "{t}/c"],
    "corpus-voice-unknown": [*CB, "--voices", "x:y"],
    "corpus-language-unknown": [*CB, "--languages", "xx"],
    "corpus-sample-rate-zero": [*CB, "--sample-rate", "0"],
    "corpus-workers-zero": [*CB, "--workers", "0"],
    "corpus-out-is-file": ["corpus", "build", "{tfile}", "--utterances", "2"],
    "corpus-out-in-missing-folder": ["corpus", "build", "{t}/no/such/c", "--utterances", "2"],
    "corpus-sounds-clips-zero": ["corpus", "sounds", "{t}/s", "--clips", "0"],
    "corpus-sounds-seconds-negative": ["corpus", "sounds", "{t}/s", "--clips", "2", "--seconds=-1"],
    # ---- prepare
    "prepare-source-missing": ["prepare", "{bad}/no-such-data", "{t}/p"],
    "prepare-source-empty-folder": ["prepare", "{empty_dir}", "{t}/p"],
    "prepare-manifest-empty": ["prepare", "{bad}/empty.jsonl", "{t}/p"],
    "prepare-manifest-not-json": ["prepare", "{bad}/notjson.jsonl", "{t}/p"],
    "prepare-manifest-not-objects": ["prepare", "{bad}/wrongtype.jsonl", "{t}/p"],
    "prepare-source-not-a-dataset": ["prepare", "{bad}/binary.txt", "{t}/p"],
    "prepare-mel-preset-unknown": ["prepare", "{manifest}", "{t}/p", "--mel-preset", "mp3"],
    "prepare-workers-not-int": ["prepare", "{manifest}", "{t}/p", "--workers", "all"],
    "prepare-out-is-file": ["prepare", "{manifest}", "{tfile}"],
    "prepare-out-in-missing-folder": ["prepare", "{manifest}", "{t}/no/such/p"],
    # ---- score
    "score-model-missing": ["score", "{bad}/nope", *SCORE[2:]],
    "score-model-wrong-family": ["score", "{model}", *SCORE[2:]],
    "score-model-truncated": ["score", "{bad}/model-truncated", *SCORE[2:]],
    "score-data-missing": [*SCORE[:2], "{bad}/no-such-data", *SCORE[3:]],
    "score-nfe-zero": replace(SCORE, "--nfe", "0"),
    "score-split-unknown": [*SCORE, "--split", "nosuch"],
    "score-out-is-folder": [*SCORE[:3], "{bad}/a-folder.jsonl", *SCORE[4:]],
    "score-out-in-missing-folder": [*SCORE[:3], "{t}/no/such/s.jsonl", *SCORE[4:]],
    # ---- reflow
    "reflow-model-wrong-family": [*PAIRS[:2], "{model}", *PAIRS[3:]],
    "reflow-prepared-missing": [*PAIRS[:3], "{bad}/no-such-data", *PAIRS[4:]],
    "reflow-nfe-zero": replace(PAIRS, "--nfe", "0"),
    "reflow-split-unknown": [*PAIRS, "--split", "nosuch"],
    "reflow-out-is-file": [*PAIRS[:4], "{tfile}", *PAIRS[5:]],
    # ---- bench
    "bench-nfe-zero": replace(BENCH, "--nfe", "0"),
    "bench-cfg-negative": [*BENCH, "--cfg", "-1"],
    "bench-lines-zero": replace(BENCH, "--lines", "0"),
    "bench-out-in-missing-folder": [*BENCH, "--out", "{t}/no/such/b.md"],
    "bench-model-missing": replace(BENCH, "--model", "{bad}/no-such-model"),
    "bench-model-is-vocoder": replace(BENCH, "--model", "{vocoder}"),
    # ---- pack
    "pack-model-missing": ["pack", "{bad}/no-such-model", "{t}/packed"],
    "pack-model-is-vocoder": ["pack", "{vocoder}", "{t}/packed"],
    "pack-voice-no-equals": ["pack", "{model}", "{t}/packed", "--voice", "me"],
    "pack-voice-wav-missing": ["pack", "{model}", "{t}/packed", "--voice", "me={bad}/no.wav"],
    "pack-voice-wav-corrupt": ["pack", "{model}", "{t}/packed", "--voice", "me={bad}/corrupt.wav"],
    "pack-vocoder-is-acoustic": ["pack", "{model}", "{t}/packed", "--vocoder", "{model}"],
    "pack-nfe-zero": ["pack", "{model}", "{t}/packed", "--nfe", "0"],
    "pack-out-exists": ["pack", "{model}", "{bad}"],
    # ---- convert
    "convert-f5-missing": ["convert", "f5", "{bad}/no.safetensors", "{t}/f5", "--vocab", "{lines}"],
    "convert-f5-pickle": ["convert", "f5", "{bad}/evil.pt", "{t}/f5", "--vocab", "{lines}"],
    "convert-f5-empty": ["convert", "f5", "{bad}/empty.wav", "{t}/f5", "--vocab", "{lines}"],
    "convert-f5-vocab-missing": ["convert", "f5", "{ref}", "{t}/f5", "--vocab", "{bad}/no.txt"],
    "convert-vocos-missing": ["convert", "vocos", "{bad}/no-such-release", "{t}/v"],
    "convert-vocos-pickle": ["convert", "vocos", "{bad}/vocos-release-evil", "{t}/v"],
    # ---- vocode
    "vocode-input-missing": ["vocode", "{bad}/no.wav", "{t}/voc", *GL],
    "vocode-input-corrupt": ["vocode", "{bad}/corrupt.wav", "{t}/voc", *GL],
    "vocode-input-empty-manifest": ["vocode", "{bad}/empty.jsonl", "{t}/voc", *GL],
    "vocode-vocoder-is-acoustic": [*VOCODE, "--vocoder", "{model}"],
    "vocode-vocoder-truncated": [*VOCODE, "--vocoder", "{bad}/vocos-truncated"],
    "vocode-mel-unknown": [*VOCODE, "--vocoder", "griffin-lim", "--mel", "mp3"],
    "vocode-out-is-file": ["vocode", "{ref}", "{tfile}", *GL],
    # ---- eval
    "eval-manifest-missing": ["eval", "run", "{bad}/no.jsonl", *EVAL[3:], "--model", "{model}"],
    "eval-manifest-empty": ["eval", "run", "{bad}/empty.jsonl", *EVAL[3:], "--model", "{model}"],
    "eval-model-wrong-family": [*EVAL, "--model", "{vocoder}"],
    "eval-workers-negative": [*EVAL, "--model", "{model}", "--workers", "-1"],
    "eval-audio-dir-missing": [*EVAL, "--audio-dir", "{bad}/no-such-audio"],
    "eval-nfe-zero": [*EVAL, "--model", "{model}", "--nfe", "0"],
    "eval-asr-unknown": [*EVAL, "--model", "{model}", "--asr", "parrot"],
    "eval-testset-corpus-missing": ["eval", "testset", "{bad}/no-corpus", "{t}/test.jsonl"],
    "eval-sound-model-wrong-family": ["eval", "sound", "{model}", "{manifest}", "{t}/es"],
    # ---- sound
    "sound-empty-caption": ["sound", "", "-o", "{t}/o.wav"],
    "sound-steps-zero": replace(SOUND, "--steps", "0"),
    "sound-cfg-negative": [*SOUND, "--cfg", "-1"],
    "sound-seconds-zero": [*SOUND, "--seconds", "0"],
    "sound-model-wrong-family": [*SOUND, "--model", "{model}"],
    "sound-no-output": ["sound", "a beep"],
    "sound-captions-out-is-file": ["sound", "--captions", "{captions}", "{tfile}", "--steps", "2"],
    "sound-out-unknown-format": replace(SOUND, "-o", "{t}/o.xyz"),
    # ---- semantic
    "semantic-encode-audio-missing": ["semantic", "encode", "{bad}/no.wav", "-o", "{t}/t", *SEM],
    "semantic-encode-wrong-family": ["semantic", "encode", "{ref}", "-o", "{t}/t.jsonl", *SEM],
    "semantic-decode-tokens-missing": ["semantic", "decode", "{bad}/no.jsonl", *SEM],
    "semantic-generate-wrong-family": ["semantic", "generate", "{lines}", "{t}/sg", *SEM],
    "semantic-generate-nfe-zero": ["semantic", "generate", "{lines}", "{t}/sg", *SEM, "--nfe", "0"],
    # ---- serve (refused before any socket opens)
    "serve-port-negative": ["serve", "--port", "-1", "--model", "{model}"],
    "serve-port-too-big": ["serve", "--port", "70000", "--model", "{model}"],
    "serve-model-missing": ["serve", "--port", "0", "--model", "{bad}/no-such-model"],
}  # fmt: skip


@pytest.fixture(scope="module")
def table_assets(assets) -> dict[str, str]:
    """The assets as strings, plus the few inputs only this table needs."""
    bad = assets["bad"]
    voices = bad / "voices-corrupt"
    if not voices.exists():
        shutil.copytree(assets["model"], voices)
        (voices / "voices.json").write_text('{"voices": ')
        shutil.copytree(assets["checkpoint"], bad / "ckpt-truncated")
        ema = bad / "ckpt-truncated" / "ema.safetensors"
        ema.write_bytes(ema.read_bytes()[:50])
        release = bad / "vocos-release-evil"
        release.mkdir()
        (release / "config.yaml").write_text("feature_extractor: {}\nbackbone: {}\nhead: {}\n")
        shutil.copy(bad / "evil.pt", release / "pytorch_model.bin")
    toy = assets["root"] / "toy-untrained" / "toy.yaml"
    toy.parent.mkdir(exist_ok=True)
    toy.write_text(f"task: tests.train.toy_tasks:ToyRegressionTask\nout_dir: {toy.parent}/run\n")
    return {**{k: str(v) for k, v in assets.items()}, "toy": str(toy)}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    name, table_assets, tmp_path, capsys, monkeypatch
):
    (tmp_path / "file.txt").write_text("a file, where a folder is expected\n")
    names = {**table_assets, "t": tmp_path, "tfile": tmp_path / "file.txt"}
    argv = [arg.format(**names) for arg in CASES[name]]
    if name == "speak-stdin-not-utf8":
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xff\xfe\x81 words")))
    root = table_assets["root"]
    before = files_under(tmp_path), snapshot(root)
    try:
        code = main(argv)
    except SystemExit as exit_info:  # argparse's refusals
        code = exit_info.code
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}; stderr: {err}"
    assert "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("flowvox"), err
    assert "error" in err
    assert (files_under(tmp_path), snapshot(root)) == before, "an output was written"
    assert not Path(table_assets["marker"]).exists(), "a planted pickle was unpickled"


def snapshot(root: str) -> dict[str, int]:
    """path -> size of every file under ``root`` (what a refused call must leave alone)."""
    return {str(p): p.stat().st_size for p in Path(root).rglob("*") if p.is_file()} | {
        str(p): -1 for p in Path(root).rglob("*") if p.is_dir()
    }


def test_the_table_is_large_and_covers_every_verb():
    from flowvox.cli.main import build_parser

    verbs = build_parser()._subparsers._group_actions[0].choices
    covered = {argv[0] for argv in CASES.values()}
    assert set(verbs) <= covered, set(verbs) - covered
    assert len(CASES) >= 80
