"""`flowvox export-onnx` and `speak --backend onnx`: the export folder, torch and onnx
speaking the same seed alike, the vocoder cases, the command line and its refusals.

Tolerance of the end-to-end comparison: 1e-4 on the waveform. Both backends share the plan
(text encoding, durations, prompt and seeded noise all come from the same torch code), so
they differ only by float32 rounding in onnxruntime's kernels: about 1e-6 per velocity
evaluation, summed over 2-3 Euler steps, and about 1e-7 in the vocoder. 1e-4 leaves ten
times that and more, while a wrong prompt, mask, guidance weight or time would move the
waveform by the order of the signal itself (0.01-0.1), which the tests check is the case.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import soundfile as sf

from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer
from flowvox.infer.onnx.backend import OnnxAlignedBackend, OnnxVocoder
from flowvox.infer.onnx.folder import export_onnx
from flowvox.infer.onnx.layout import MANIFEST_FILE
from flowvox.vocoders import GriffinLim
from tests.infer.helpers import REF_TEXT

from .conftest import write_aligned_dir

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TOLERANCE = 1e-4
TEXT = "Hello there, how are you today."
FAST = dict(nfe=3, cfg=0.7, seed=3)


@pytest.fixture(scope="module")
def exported(aligned_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("exported") / "onnx"
    report = export_onnx(aligned_dir, out, exporter="torchscript")
    assert report.out_dir == out and "velocity.onnx (torchscript" in report.summary()
    return out


@pytest.fixture(scope="module")
def both(exported):
    """(torch, onnx) Synthesizers of the same export folder."""
    return Synthesizer.from_pretrained(exported), Synthesizer.from_pretrained(
        exported, backend="onnx"
    )


def test_the_export_is_a_complete_model_folder(aligned_dir, exported):
    for name in ("config.json", "model.safetensors", "vocab.txt", "voices.json", "sampling.json",
                 "voices/v.wav", "vocoder/config.json", "vocoder/model.safetensors"):  # fmt: skip
        assert (exported / name).read_bytes() == (aligned_dir / name).read_bytes(), name
    record = json.loads((exported / MANIFEST_FILE).read_text())
    assert record["family"] == "aligned" and record["velocity"] == "velocity.onnx"
    assert record["vocoder"] == "vocoder/vocoder.onnx"
    assert (exported / "velocity.onnx").is_file() and (exported / record["vocoder"]).is_file()
    assert record["exporters"] == {n: "torchscript" for n in ("velocity.onnx", record["vocoder"])}
    assert all(0 <= d <= TOLERANCE for d in record["max_abs_diff"].values())
    assert not list(exported.parent.glob(".*"))  # no temporary folder left beside it


def test_onnx_backend_runs_the_graphs(both):
    torch_synth, onnx_synth = both
    assert type(torch_synth.backend).__name__ == "AlignedBackend"
    assert isinstance(onnx_synth.backend, OnnxAlignedBackend)
    assert isinstance(onnx_synth.vocoder, OnnxVocoder)
    assert onnx_synth.sampling == {"nfe": 3, "cfg": 0.7}  # the folder's sampling.json
    assert sorted(onnx_synth.voices) == ["v"]


@pytest.mark.parametrize(
    "options",
    [FAST, dict(nfe=2, cfg=0.0, seed=1, solver="midpoint"), dict(nfe=3, cfg=2.0, seed=5, sway=0)],
)
def test_speak_onnx_matches_torch_for_the_same_seed(both, ref_wav, options):
    torch_synth, onnx_synth = both
    want, sr = torch_synth.speak(TEXT, ref_wav, REF_TEXT, **options)
    got, sr_onnx = onnx_synth.speak(TEXT, ref_wav, REF_TEXT, **options)
    assert sr == sr_onnx and got.shape == want.shape and len(want) > sr // 4
    assert np.abs(want).max() > 1e-2
    assert np.abs(got - want).max() <= TOLERANCE


def test_onnx_output_follows_the_seed_the_weight_and_the_voice(both, ref_wav):
    _, onnx_synth = both
    base, _ = onnx_synth.speak(TEXT, ref_wav, REF_TEXT, **FAST)
    assert np.array_equal(base, onnx_synth.speak(TEXT, ref_wav, REF_TEXT, **FAST)[0])
    for change in (dict(seed=4), dict(cfg=2.0)):
        other, _ = onnx_synth.speak(TEXT, ref_wav, REF_TEXT, **{**FAST, **change})
        assert np.abs(other - base).max() > 1e-3, change  # the input is really used
    default_voice, _ = onnx_synth.speak(TEXT, **FAST)  # the folder's voice "v"
    assert default_voice.shape != base.shape or np.abs(default_voice - base).max() > 1e-3


def test_speak_batch_and_stream_through_onnx_match_torch(both, ref_wav):
    torch_synth, onnx_synth = both
    texts = ["One short line.", "And a second, somewhat longer line of text."]
    opts = onnx_synth.default_options(seed=2)
    want = torch_synth.speak_batch(texts, ref_wav, REF_TEXT, opts)
    got = onnx_synth.speak_batch(texts, ref_wav, REF_TEXT, opts)
    for w, g in zip(want, got, strict=True):
        assert g.wav.shape == w.wav.shape and np.abs(g.wav - w.wav).max() <= TOLERANCE
    streamed = np.concatenate(list(onnx_synth.stream(texts[1], ref_wav, REF_TEXT, opts)))
    assert np.abs(streamed - got[1].wav).max() <= TOLERANCE


@pytest.mark.parametrize("vocoder", ["outside", "griffin-lim"])
def test_a_vocoder_named_in_config_json(vocoder, tmp_path, ref_wav):
    """A vocoder folder named from outside the model folder comes in as vocoder/; with
    Griffin-Lim no vocoder graph is made and Griffin-Lim runs in torch."""
    model = write_aligned_dir(tmp_path / "model", vocoder=False)
    config = json.loads((model / "config.json").read_text())
    if vocoder == "outside":
        write_aligned_dir(tmp_path / "donor")  # its vocoder/ is the one named
        config["vocoder"] = "../donor/vocoder"
    else:
        config["vocoder"] = "griffin-lim"
    (model / "config.json").write_text(json.dumps(config))
    report = export_onnx(model, tmp_path / "out", exporter="torchscript")
    out = tmp_path / "out"
    written = json.loads((out / "config.json").read_text())
    synth = Synthesizer.from_pretrained(out, backend="onnx")
    if vocoder == "outside":
        assert "vocoder" not in written and (out / "vocoder" / "vocoder.onnx").is_file()
        assert isinstance(synth.vocoder, OnnxVocoder) and report.vocoder == "vocos"
    else:
        assert written["vocoder"] == "griffin-lim" and not (out / "vocoder").exists()
        assert isinstance(synth.vocoder, GriffinLim) and report.vocoder is None
        assert "no vocoder graph" in report.summary()
    wav, _ = synth.speak("Hi there.", ref_wav, REF_TEXT, nfe=2, seed=0)
    assert np.isfinite(wav).all() and np.abs(wav).max() > 1e-3


def test_refusals_name_the_fix(aligned_dir, exported, tmp_path):
    with pytest.raises(FlowvoxError, match="not an ONNX export.*export-onnx"):
        Synthesizer.from_pretrained(aligned_dir, backend="onnx")
    with pytest.raises(FlowvoxError, match="backend 'tensorrt': use one of torch, onnx"):
        Synthesizer.from_pretrained(exported, backend="tensorrt")
    with pytest.raises(FlowvoxError, match="--device cuda: the onnx backend runs on the CPU"):
        OnnxAlignedBackend.load(exported, device="cuda")
    synth = Synthesizer.from_pretrained(exported, backend="onnx")
    with pytest.raises(FlowvoxError, match="precision=bf16: the onnx backend runs float32"):
        synth.speak(TEXT, precision="bf16", nfe=2)
    synth.model.config = synth.model.config.replace(max_frames=20)  # this Synthesizer's own
    with pytest.raises(FlowvoxError, match="frames, over max_frames=20: shorten the text"):
        synth.speak(TEXT, nfe=2)
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    (broken / "velocity.onnx").unlink()
    with pytest.raises(FlowvoxError, match="velocity.onnx is missing; export it again"):
        Synthesizer.from_pretrained(broken, backend="onnx")
    (broken / "velocity.onnx").write_bytes(b"not a graph")
    with pytest.raises(FlowvoxError, match="not a readable ONNX graph"):
        Synthesizer.from_pretrained(broken, backend="onnx")


def test_cli_export_onnx_then_speak_with_both_backends(aligned_dir, ref_wav, tmp_path, capsys,
                                                       monkeypatch):  # fmt: skip
    monkeypatch.setenv("FLOWVOX_MODEL", str(aligned_dir))  # MODEL_DIR left out: this one
    out = tmp_path / "onnx"
    assert main(["export-onnx", str(out), "--exporter", "torchscript"]) == 0
    assert f"exported {out}: velocity.onnx (torchscript" in capsys.readouterr().out
    common = ["--model", str(out), "--ref-audio", str(ref_wav), "--ref-text", REF_TEXT,
              "--nfe", "2", "--seed", "7"]  # fmt: skip
    for backend in ("torch", "onnx"):
        assert main(["speak", TEXT, "-o", str(tmp_path / f"{backend}.wav"), *common,
                     "--backend", backend]) == 0  # fmt: skip
    want, sr = sf.read(tmp_path / "torch.wav")
    got, _ = sf.read(tmp_path / "onnx.wav")
    assert sr == 24000 and got.shape == want.shape and np.abs(want).max() > 1e-2
    assert np.abs(got - want).max() <= 2 / 32768  # 16-bit files: at most one step apart


@pytest.mark.slow
def test_the_default_dynamo_export_speaks_like_torch(aligned_dir, ref_wav, tmp_path):
    pytest.importorskip("onnxscript")
    report = export_onnx(aligned_dir, tmp_path / "onnx")
    assert set(report.exporters.values()) == {"dynamo"}
    want, _ = Synthesizer.from_pretrained(tmp_path / "onnx").speak(TEXT, ref_wav, REF_TEXT, **FAST)
    onnx_synth = Synthesizer.from_pretrained(tmp_path / "onnx", backend="onnx")
    got, _ = onnx_synth.speak(TEXT, ref_wav, REF_TEXT, **FAST)
    assert got.shape == want.shape and np.abs(got - want).max() <= TOLERANCE


def test_a_shortcut_student_is_refused_before_anything_is_written(tmp_path):
    """Its graph would hold the d = 0 velocity only: wrong for the 1-2 steps it is for."""
    student = write_aligned_dir(tmp_path / "student", vocoder=False, step_embed=True)
    with pytest.raises(FlowvoxError, match="shortcut student.*--backend torch"):
        export_onnx(student, tmp_path / "out")
    assert not (tmp_path / "out").exists()
