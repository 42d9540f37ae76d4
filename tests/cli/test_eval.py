"""`flowvox eval testset` and `flowvox eval run` end to end (audio folder and tiny model).

Bad input exits 2 with ONE stderr line and writes nothing.
"""

from __future__ import annotations

import json

import pytest
import soundfile as sf

from flowvox.cli.main import main
from tests.cli.test_synthesis import tiny_vocos_dir
from tests.infer.helpers import speech_like, tiny_model_dir


def refused(capsys, argv, *fragments):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("flowvox: error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, err


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Two test lines with ground truth and a reference, and a folder of 'generated' audio."""
    root = tmp_path_factory.mktemp("eval")
    (root / "gt").mkdir()
    (root / "gen").mkdir()
    records = []
    for k, text in enumerate(["The cat sat on the mat.", "A bird in the hand."]):
        sf.write(root / "gt" / f"u{k}.wav", speech_like(1.5, 24000, seed=k), 24000)
        sf.write(root / "gen" / f"u{k}.wav", speech_like(1.2, 16000, seed=10 + k), 16000)
        records.append(
            {"id": f"u{k}", "text": text, "audio": f"gt/u{k}.wav", "ref_audio": "gt/ref.wav",
             "ref_text": "a short reference clip."}
        )  # fmt: skip
    sf.write(root / "gt" / "ref.wav", speech_like(2.0, 16000, seed=5), 16000)
    manifest = root / "test.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    return root


@pytest.mark.slow
def test_run_judges_an_audio_folder_and_the_ground_truth(data, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["eval", "run", str(data / "test.jsonl"), str(out), "--audio-dir", str(data / "gen"),
            "--workers", "0", "--no-progress", "--name", "mine"]  # fmt: skip
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "mine: WER" in printed and "ground truth: WER" in printed
    record = json.loads((out / "results.json").read_text())
    rows = {(u["system"], u["id"]): u for u in record["utterances"]}
    assert sorted(rows) == [("ground truth", "u0"), ("ground truth", "u1"), ("mine", "u0"),
                            ("mine", "u1")]  # fmt: skip
    mine = rows[("mine", "u0")]
    assert mine["duration_ratio"] == pytest.approx(1.2 / 1.5)
    assert mine["mcd_db"] > 0 and 0 <= mine["sim_to_gt"] <= 1 and mine["sim_to_ref"] is not None
    truth = rows[("ground truth", "u0")]
    assert truth["mcd_db"] is None and truth["sim_to_gt"] is None and truth["sim_to_ref"] > 0
    assert (out / "results.md").read_text().count("| ground truth | all | 2 |") == 1
    assert (out / "plots" / "per_utterance.png").is_file()


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--audio-dir", "{data}/gt", "--asr", "whisper:/no/model"], ["no such file or folder"]),
        (["--audio-dir", "{data}/gt", "--asr", "nemo"], ["use pocketsphinx"]),
        (["--audio-dir", "{data}"], ["no audio for 2 of 2 ids (u0, u1)"]),
        (["--audio-dir", "{data}/gen", "--nfe", "8"], ["--nfe and --cfg need --model"]),
        (["--audio-dir", "{data}/gen", "--mcd-coefficients", "0"], ["--mcd-coefficients 0"]),
        (["--audio-dir", "{data}/gen", "--workers", "-1"], ["--workers -1"]),
        (["--model", "{data}/nowhere", "--nfe", "0"], ["--nfe [0]"]),
    ],
    ids=["whisper-path", "asr-name", "missing-ids", "nfe-without-model", "mcd0", "workers",
         "nfe0"],
)  # fmt: skip
def test_run_refuses_bad_input_and_writes_nothing(data, tmp_path, capsys, extra, fragments):
    out = tmp_path / "out"
    argv = ["eval", "run", str(data / "test.jsonl"), str(out)]
    refused(capsys, argv + [a.format(data=data) for a in extra], *fragments)
    assert not out.exists()


def test_run_refuses_a_bad_manifest(data, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x", "audio": "missing.wav"}\n')
    refused(capsys, ["eval", "run", str(bad), str(tmp_path / "o"), "--audio-dir", str(data)],
            "bad.jsonl:1", "no such audio file")  # fmt: skip
    assert not (tmp_path / "o").exists()


def test_testset_writes_a_manifest_eval_can_read(data, tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [{"audio": str(data / "gt" / f"u{k}.wav"), "text": f"Line {k} here.",
              "speaker": "v", "split": "test"} for k in range(2)]  # fmt: skip
    (corpus / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "t.jsonl"
    assert main(["eval", "testset", str(corpus), str(out), "--no-librivox"]) == 0
    assert "wrote 2 test utterances (2 seen)" in capsys.readouterr().out
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["ref_text"] for r in written] == ["Line 1 here.", "Line 0 here."]
    refused(capsys, ["eval", "testset", str(corpus), str(tmp_path / "t.csv")], "*.jsonl")
    assert not (tmp_path / "t.csv").exists()


class FixedTranscript:
    """Stands in for pocketsphinx (the synthesis test is about synthesis, not the ASR)."""

    def transcribe_files(self, paths):
        return ["the cat sat" for _ in paths]


@pytest.mark.slow
def test_run_synthesises_at_each_nfe_with_a_tiny_model(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("flowvox.eval.judges.make_transcriber", lambda *a, **k: FixedTranscript())
    model = tiny_model_dir(tmp_path / "model")
    vocoder = tiny_vocos_dir(tmp_path / "vocos")
    out = tmp_path / "out"
    argv = ["eval", "run", str(data / "test.jsonl"), str(out), "--model", str(model),
            "--vocoder", str(vocoder), "--nfe", "1", "2", "--cfg", "0", "--workers", "0",
            "--no-speaker", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert "RTF" in capsys.readouterr().out
    for nfe in (1, 2):
        assert sorted(p.name for p in (out / "audio" / f"nfe-{nfe}" / "wavs").iterdir()) == [
            "u0.wav",
            "u1.wav",
        ]
    record = json.loads((out / "results.json").read_text())
    summary = {s["system"]: s for s in record["summary"]}
    assert summary["nfe-1"]["nfe"] == 1 and summary["nfe-2"]["rtf"] > 0
    assert summary["ground truth"]["rtf"] is None
    # "the cat sat": 3 deletions of 6 words; 5 errors against "A bird in the hand." (5 words)
    assert summary["nfe-1"]["wer"] == pytest.approx((3 + 5) / (6 + 5))
    assert (out / "plots" / "wer_vs_nfe.png").is_file() and (
        out / "plots" / "rtf_vs_nfe.png"
    ).is_file()


@pytest.mark.slow
def test_run_takes_nfe_and_cfg_from_the_models_sampling_file(data, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("flowvox.eval.judges.make_transcriber", lambda *a, **k: FixedTranscript())
    model = tiny_model_dir(tmp_path / "model")
    (model / "sampling.json").write_text(json.dumps({"nfe": 3, "cfg": 0.5}))
    out = tmp_path / "out"
    argv = ["eval", "run", str(data / "test.jsonl"), str(out), "--model", str(model),
            "--vocoder", str(tiny_vocos_dir(tmp_path / "vocos")), "--workers", "0",
            "--no-speaker", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    assert (out / "audio" / "nfe-3" / "wavs" / "u0.wav").is_file()
    assert json.loads((out / "audio" / "settings.json").read_text())["cfg"] == 0.5
    record = json.loads((out / "results.json").read_text())
    assert record["config"]["nfe"] == [3] and record["config"]["cfg"] == 0.5
    # given flags win over sampling.json; the same cfg reuses the folder
    assert main([*argv, "--nfe", "2", "--cfg", "0.5"]) == 0
    assert (out / "audio" / "nfe-2" / "wavs" / "u0.wav").is_file()


def test_rerun_with_other_settings_is_refused(data, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "audio").mkdir(parents=True)
    settings = {"model": str((tmp_path / "m").resolve()), "vocoder": None, "cfg": 2.0,
                "seed": 0, "manifest": str((data / "test.jsonl").resolve())}  # fmt: skip
    (out / "audio" / "settings.json").write_text(json.dumps(settings))
    argv = ["eval", "run", str(data / "test.jsonl"), str(out), "--model", str(tmp_path / "m"),
            "--cfg", "1.5", "--workers", "0"]  # fmt: skip
    refused(capsys, argv, "audio made with other cfg (cfg=2.0)", "new OUT_DIR")
    assert sorted(p.name for p in out.rglob("*")) == ["audio", "settings.json"]
