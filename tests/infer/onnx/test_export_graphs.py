"""Each graph exported and run by onnxruntime against the torch module it replaces: the
guided velocity at several t and cfg on two batch/length shapes, and the vocoders, with both
exporters (dynamo, the default, is slow to export; TorchScript is its fallback)."""
# b: batch, n: frames, f: mel bins

from __future__ import annotations

import pytest
import torch

from flowvox.infer.onnx import export as export_module
from flowvox.infer.onnx.export import export_graph, max_difference
from flowvox.infer.onnx.graphs import GuidedVelocity, TorchGuidedVelocity, vocoder_graph
from flowvox.infer.onnx.layout import VELOCITY, VOCODER
from flowvox.infer.onnx.runtime import open_session, run
from flowvox.vocoders import HiFiGAN, HiFiGANConfig, Vocos, VocosConfig
from tests.models.aligned_helpers import random_model, tiny_config

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

TOLERANCE = 1e-4
F = 100
EXPORTERS = [pytest.param("dynamo", marks=pytest.mark.slow), "torchscript"]


def velocity_args(b: int, n: int, t: float, cfg: float, seed: int) -> tuple:
    """x_t, t (b,), cond, mu, mask (rows shorter by 3 frames each), cfg ()."""
    gen = torch.Generator().manual_seed(seed)
    x_t, cond, mu = (torch.randn(b, n, F, generator=gen) for _ in range(3))
    lengths = torch.tensor([max(1, n - 3 * i) for i in range(b)])
    mask = torch.arange(n)[None] < lengths[:, None]  # (b, n)
    return x_t, torch.full((b,), t), cond, mu, mask, torch.tensor(cfg)


@pytest.fixture(scope="module")
def decoder():
    return random_model(tiny_config(20, mel="vocos24k"), scale=0.1, dtype=torch.float32).decoder


@pytest.fixture(scope="module", params=EXPORTERS)
def velocity_graph(request, decoder, tmp_path_factory):
    if request.param == "dynamo":
        pytest.importorskip("onnxscript")
    path = tmp_path_factory.mktemp("velocity") / "velocity.onnx"
    used = export_graph(GuidedVelocity(decoder).eval(), velocity_args(2, 16, 0.5, 0.7, 0), path,
                        VELOCITY, request.param)  # fmt: skip
    assert used == request.param
    return open_session(path, threads=1)


@pytest.mark.parametrize(("b", "n"), [(1, 9), (3, 57)])
def test_velocity_graph_matches_torch_at_each_time_and_weight(velocity_graph, decoder, b, n):
    reference = TorchGuidedVelocity(decoder).eval()
    for k, (t, cfg) in enumerate((t, c) for t in (0.0, 0.37, 1.0) for c in (0.0, 0.7, 2.5)):
        args = velocity_args(b, n, t, cfg, seed=10 + k)
        with torch.no_grad():
            want = reference(*args)
        got = run(velocity_graph, dict(zip(VELOCITY.inputs, args, strict=True)))
        assert got.shape == (b, n, F)
        assert want.abs().max() > 0.1  # a difference of 1e-4 is small against it
        assert (got - want).abs().max() <= TOLERANCE, (t, cfg, (got - want).abs().max())
        assert torch.equal(got[-1, args[4][-1].sum() :], want[-1, args[4][-1].sum() :])  # 0


def tiny_vocoders() -> dict:
    torch.manual_seed(0)
    hifigan = HiFiGANConfig(
        upsample_rates=(8, 8, 4), upsample_kernel_sizes=(16, 16, 9), upsample_initial_channel=32,
        resblock_kernel_sizes=(3,), resblock_dilation_sizes=((1, 3),),
    )  # fmt: skip
    return {
        "vocos-center": Vocos(VocosConfig(dim=32, hidden_dim=64, num_layers=1)),
        "vocos-same": Vocos(VocosConfig(dim=32, hidden_dim=64, num_layers=1, padding="same")),
        "hifigan": HiFiGAN(hifigan),
    }


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", ["vocos-center", "vocos-same", "hifigan"])
def test_vocoder_graph_matches_torch(name, exporter, tmp_path):
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    vocoder = tiny_vocoders()[name].eval()
    f = vocoder.config.mel.n_mels
    gen = torch.Generator().manual_seed(5)
    example = (torch.randn(2, 12, f, generator=gen) * 2 - 4,)
    path = tmp_path / "vocoder.onnx"
    assert export_graph(vocoder_graph(vocoder), example, path, VOCODER, exporter) == exporter
    for b, n in ((1, 5), (2, 61)):
        mel = torch.randn(b, n, f, generator=gen) * 2 - 4
        diff = max_difference(vocoder, path, VOCODER, (mel,))  # against the vocoder itself
        assert diff <= TOLERANCE, (b, n, diff)
    with torch.no_grad():
        assert vocoder(mel).abs().max() > 1e-4  # not a signal so small that any graph passes


def test_a_failing_dynamo_export_falls_back_to_torchscript(decoder, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::something\nmore detail")

    monkeypatch.setattr(export_module, "_dynamo", broken)
    path = tmp_path / "velocity.onnx"
    args = velocity_args(2, 16, 0.5, 0.7, 0)
    with pytest.warns(UserWarning, match="dynamo exporter failed on velocity.onnx .unsupported"):
        used = export_graph(GuidedVelocity(decoder).eval(), args, path, VELOCITY, "dynamo")
    assert used == "torchscript"
    other = velocity_args(1, 30, 0.8, 2.0, 1)
    assert max_difference(TorchGuidedVelocity(decoder).eval(), path, VELOCITY, other) <= TOLERANCE


def test_unknown_exporter_is_refused(decoder, tmp_path):
    from flowvox.errors import FlowvoxError

    with pytest.raises(FlowvoxError, match="exporter 'tf'.*dynamo, torchscript"):
        export_graph(GuidedVelocity(decoder), (), tmp_path / "v.onnx", VELOCITY, "tf")
    assert not (tmp_path / "v.onnx").exists()
