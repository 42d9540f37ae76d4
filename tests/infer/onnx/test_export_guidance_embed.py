"""A guidance-distilled aligned model (``guidance_embed``) through `flowvox export-onnx`: its
velocity graph is ONE decoder pass with the weight w as an input, and `speak --backend onnx`
matches torch for the same seed at several weights (tolerance as test_export_folder.py)."""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from flowvox.infer import Synthesizer
from flowvox.infer.onnx.folder import export_onnx, velocity_inputs
from flowvox.infer.onnx.graphs import GuidedVelocity, TorchGuidedVelocity
from flowvox.models.aligned.config import AlignedTTSConfig
from tests.infer.helpers import REF_TEXT
from tests.models.aligned_helpers import random_model, tiny_config

from .conftest import write_aligned_dir

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TOLERANCE = 1e-4
TEXT = "Hello there, how are you today."


@pytest.fixture(scope="module")
def student_dir(tmp_path_factory):
    """The tiny ONNX test folder, its model a random ``guidance_embed`` one (every weight
    random, the guidance embedding too, so the output depends on w)."""
    folder = write_aligned_dir(tmp_path_factory.mktemp("student") / "model")
    run = json.loads((folder / "config.json").read_text())
    run["model"]["guidance_embed"] = True
    (folder / "config.json").write_text(json.dumps(run), encoding="utf-8")
    model = random_model(AlignedTTSConfig.from_dict(run["model"]), seed=0, scale=0.1,
                         dtype=torch.float32)  # fmt: skip
    save_file({k: v.contiguous() for k, v in model.state_dict().items()},
              folder / "model.safetensors")  # fmt: skip
    return folder


def test_the_velocity_graph_module_is_one_pass_with_w_as_input():
    config = tiny_config(20, mel="vocos24k", guidance_embed=True)
    decoder = random_model(config, scale=0.1, dtype=torch.float32).decoder
    rows = []
    decoder.register_forward_pre_hook(lambda m, args: rows.append(len(args[0])))
    for x_t, t, cond, mu, mask, cfg in velocity_inputs(100):
        got = GuidedVelocity(decoder)(x_t, t, cond, mu, mask, cfg)
        want = TorchGuidedVelocity(decoder)(x_t, t, cond, mu, mask, cfg)
        assert torch.equal(got, want)
        no = torch.zeros_like(t, dtype=torch.bool)
        w = torch.full_like(t, float(cfg))
        assert torch.equal(got, decoder(x_t, cond, mu, t, mask, no, no, None, w))
        other = GuidedVelocity(decoder)(x_t, t, cond, mu, mask, cfg + 1.0)
        assert not torch.allclose(got, other)  # w is an input
    assert rows == [b for b in (2, 1, 3) for _ in range(4)]  # b rows per call, never 2b


def test_a_student_exports_and_speaks_through_onnx_as_through_torch(student_dir, ref_wav, tmp_path):
    out = tmp_path / "onnx"
    report = export_onnx(student_dir, out, exporter="torchscript")
    assert all(d <= TOLERANCE for d in report.max_abs_diff.values())
    torch_synth = Synthesizer.from_pretrained(out)
    onnx_synth = Synthesizer.from_pretrained(out, backend="onnx")
    assert torch_synth.model.config.guidance_embed
    outputs = {}
    for cfg in (0.7, 2.0):
        want, _ = torch_synth.speak(TEXT, ref_wav, REF_TEXT, nfe=3, cfg=cfg, seed=3)
        got, _ = onnx_synth.speak(TEXT, ref_wav, REF_TEXT, nfe=3, cfg=cfg, seed=3)
        assert got.shape == want.shape and np.abs(want).max() > 1e-2
        assert np.abs(got - want).max() <= TOLERANCE, cfg
        outputs[cfg] = got
    assert np.abs(outputs[0.7] - outputs[2.0]).max() > 1e-3  # the weight reaches the graph
