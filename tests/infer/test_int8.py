"""precision="int8": the acoustic model's linear layers dynamically quantised (CPU).

# n: frames, f: mel bins
Mels are compared before the vocoder (a recording vocoder keeps what it is given), by the
relative error ‖mel_int8 − mel_fp32‖ / ‖mel_fp32‖, which must be above zero (int8 really
ran) and under 5 % on the tiny infilling model (measured 1.3 %; the bundled voice, a trained
aligned model, 1.8 %). The tiny aligned model, random weights of scale 0.1 in dim 32 (a few
large activations set each call's int8 step), measures 4.7 %: its bound is 10 %, and its
test is about durations (the same frames as fp32).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from flowvox.audio.mel import MelConfig
from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.infer import Synthesizer
from flowvox.infer.backends import load_backend
from flowvox.infer.int8 import is_int8_linear, quantize_int8
from flowvox.infer.options import PRECISIONS, SynthesisOptions

from .helpers import REF_TEXT
from .test_aligned_synth import aligned_dir  # noqa: F401  (a module fixture)

TEXT = "Hello there, how are you today?"


class MelRecorder(nn.Module):
    """A vocoder for ``mel`` that keeps each mel (n, f) it is given and returns silence."""

    def __init__(self, mel: MelConfig) -> None:
        super().__init__()
        self.config = SimpleNamespace(mel=mel)
        self.anchor = nn.Parameter(torch.zeros(1))  # gives the vocoder a device and dtype
        self.mels: list[torch.Tensor] = []

    def forward(self, mel: torch.Tensor) -> torch.Tensor:  # (1, n, f) -> (1, s)
        self.mels.append(mel[0].clone())
        return torch.zeros(1, mel.shape[1] * 256)


def recording_synth(folder) -> tuple[Synthesizer, MelRecorder]:
    backend = load_backend(folder)
    recorder = MelRecorder(backend.model.config.mel)
    return Synthesizer(backend, None, recorder), recorder


def mels_by_precision(folder, ref_wav, *precisions: str) -> dict[str, torch.Tensor]:
    """The generated mel (n, f) of TEXT for each precision, same seed and options."""
    synth, recorder = recording_synth(folder)
    for precision in precisions:
        synth.speak(TEXT, ref_wav, REF_TEXT, nfe=4, cfg=2.0, seed=0, precision=precision)
    assert len(recorder.mels) == len(precisions)  # one chunk each
    return dict(zip(precisions, recorder.mels, strict=True))


def relative_error(mel: torch.Tensor, reference: torch.Tensor) -> float:
    return float((mel - reference).norm() / reference.norm())


def linear_kinds(model: nn.Module) -> tuple[int, int]:
    """(int8 linears, float linears) in ``model``."""
    int8 = sum(is_int8_linear(m) for m in model.modules())
    plain = sum(type(m) is nn.Linear for m in model.modules())
    return int8, plain


def test_int8_copy_quantises_every_linear_and_leaves_the_model_alone(model_dir, ref_wav):
    synth = recording_synth(model_dir)[0]
    before = {k: v.clone() for k, v in synth.model.state_dict().items()}
    linears = linear_kinds(synth.model)[1]
    assert linears > 0 and linear_kinds(synth.model)[0] == 0
    backend = synth.int8_backend()
    assert synth.int8_backend() is backend  # made once, then kept
    assert linear_kinds(backend.model) == (linears, 0)  # infill: no layer kept in fp32
    assert type(backend) is type(synth.backend) and backend.model is not synth.model
    after = synth.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert linear_kinds(synth.model) == (0, linears)


def test_int8_mel_is_close_to_fp32(model_dir, ref_wav):
    mels = mels_by_precision(model_dir, ref_wav, "fp32", "int8", "fp32")
    assert torch.equal(mels["fp32"], mels_by_precision(model_dir, ref_wav, "fp32")["fp32"])
    assert mels["int8"].shape == mels["fp32"].shape
    error = relative_error(mels["int8"], mels["fp32"])
    print(f"infill tiny: int8 vs fp32 mel relative error {error:.4f}")
    assert 0 < error < 0.05


def test_int8_keeps_what_sets_durations_in_fp32(aligned_dir, ref_wav):  # noqa: F811
    synth = recording_synth(aligned_dir)[0]
    model = synth.int8_backend().model
    assert synth.backend.int8_keep_fp32 == ("encoder", "duration_predictor")
    for name in ("encoder", "duration_predictor"):
        int8, plain = linear_kinds(model.get_submodule(name))
        assert int8 == 0 and plain > 0, name
    int8, plain = linear_kinds(model.decoder)
    assert int8 > 0 and plain == 0
    mels = mels_by_precision(aligned_dir, ref_wav, "fp32", "int8")
    assert mels["int8"].shape == mels["fp32"].shape  # the same durations
    error = relative_error(mels["int8"], mels["fp32"])
    print(f"aligned tiny: int8 vs fp32 mel relative error {error:.4f}")
    assert 0 < error < 0.10


def test_int8_option_checks():
    assert "int8" in PRECISIONS
    assert SynthesisOptions(precision="int8").precision == "int8"
    with pytest.raises(FlowvoxError, match="precision='int4': choose one of fp32, bf16, int8"):
        SynthesisOptions(precision="int4")
    with pytest.raises(FlowvoxError, match="precision int8: quantised kernels run on the CPU"):
        quantize_int8(nn.Linear(4, 4, device="meta"))
    with pytest.raises(AttributeError):
        quantize_int8(nn.Sequential(nn.Linear(4, 4)), keep_fp32=("encoder",))


def test_speak_cli_takes_int8(model_dir, ref_wav, tmp_path, capsys):
    out = tmp_path / "int8.wav"
    args = ["speak", TEXT, "-o", str(out), "--model", str(model_dir), "--ref-audio"]
    args += [str(ref_wav), "--ref-text", REF_TEXT, "--nfe", "2", "--seed", "0"]
    assert main([*args, "--vocoder", "griffin-lim", "--precision", "int8"]) == 0
    assert out.stat().st_size > 1000
    bad = tmp_path / "bad.wav"
    with pytest.raises(SystemExit) as err:
        main(["speak", TEXT, "-o", str(bad), "--model", str(model_dir), "--precision", "int4"])
    assert err.value.code == 2 and not bad.exists()
    assert "invalid choice: 'int4'" in capsys.readouterr().err
