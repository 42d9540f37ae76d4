"""flowvox.bench: FLOP counting, matmul peak, peak memory, synthesis and training rows."""

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from flowvox.bench.flops import count_flops, measure_matmul_peak
from flowvox.bench.lines import REF_TEXT, pick_lines, speech_like, stratified
from flowvox.bench.memory import PeakMemory
from flowvox.bench.setup import build_synthesizer
from flowvox.bench.synthesis import measure_synthesis
from flowvox.bench.training import measure_training
from flowvox.nn.fused_linear import fused_linear


def test_attention_flops_counted_on_cpu_kernel():
    q = torch.randn(2, 4, 50, 16)
    k = torch.randn(2, 4, 70, 16)
    v = torch.randn(2, 4, 70, 8)
    mask = torch.ones(2, 1, 1, 70, dtype=torch.bool)
    flops = count_flops(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    assert flops == 2 * 2 * 4 * 50 * 70 * (16 + 8)


@pytest.mark.parametrize("kind", ["gelu", "residual", "plain"])
def test_linear_flops_fused_and_plain(kind):
    x, w, b = torch.randn(30, 64), torch.randn(32, 64), torch.randn(32)
    with torch.no_grad():
        if kind == "gelu":
            flops = count_flops(lambda: fused_linear(x, w, b, activation="gelu"))
        elif kind == "residual":
            flops = count_flops(lambda: fused_linear(x, w, b, residual=torch.randn(30, 32)))
        else:
            flops = count_flops(lambda: F.linear(x, w, b))
    assert flops == 2 * 30 * 32 * 64


def test_matmul_peak_is_a_rate_at_a_tried_size():
    peak = measure_matmul_peak(sizes=(64, 128), seconds=0.05)
    assert peak.n in (64, 128)
    assert peak.flops_per_s > 1e6  # any machine multiplies faster than 1 MFLOP/s
    assert "GFLOP/s" in peak.describe()


def test_peak_memory_sees_an_allocation():
    with PeakMemory(interval=0.001) as mem:
        block = np.ones(64 * 2**20 // 8)  # 64 MiB, touched
        block += 1
        import time

        time.sleep(0.05)
    assert mem.added >= 48 * 2**20
    assert mem.peak >= mem.start + mem.added


def test_lines_span_lengths_and_prompt_is_audio():
    lines = pick_lines(12)
    assert len(lines) == 12 and all(lines)
    chosen = stratified(lines, 3)
    assert len(chosen[0]) <= len(chosen[1]) <= len(chosen[2])
    wav = speech_like(1.0, 16000)
    assert wav.shape == (16000,) and 0.1 < np.abs(wav).max() <= 0.31


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    return build_synthesizer(None, "infill:tiny", "griffin-lim")


def test_synthesis_rows_count_flops_and_compare_passes(built, tmp_path):
    ref = tmp_path / "ref.wav"
    sf.write(ref, speech_like(1.0, built.sample_rate), built.sample_rate)
    rows = measure_synthesis(
        built.synth, pick_lines(3), ref, REF_TEXT, [1, 2], 1.0, 2000, tmp_path, rounds=2
    )
    assert [r.nfe for r in rows] == [1, 2]
    for r in rows:
        # the same lines in both passes: the same durations (the F5 rule), so the same audio
        assert r.bulk_audio == pytest.approx(r.single_audio, rel=1e-3)  # manifest rounds
        assert r.flops > 0 and r.single_seconds > 0 and r.bulk_batches >= 1
        assert r.ratio == pytest.approx(r.single_seconds / r.bulk_seconds, rel=1e-3)
        assert 0 < r.mfu(1e12) < r.mfu(1e9)
    assert rows[1].flops > rows[0].flops  # two model calls per line cost more than one


def test_training_row_counts_forward_and_backward(built):
    row = measure_training(built.trainable(), batch=1, frames=32, steps=1)
    params = sum(p.numel() for p in built.synth.model.parameters())
    assert row.parameters == params
    # forward + backward of the linear layers alone is about 6 FLOPs per parameter and frame
    assert row.flops > 2 * params * 32
    assert row.frames_per_s == pytest.approx(32 / row.step_seconds)
    # the synthesizer's own model was not trained
    assert not built.synth.model.training


def test_training_step_in_bf16_autocasts_the_forward_and_keeps_fp32_weights(built):
    model = built.trainable()
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    seen = set()
    for layer in linears:
        layer.register_forward_hook(lambda _m, _i, out: seen.add(out.dtype))
    before = [p.detach().clone() for p in model.parameters()]
    row = measure_training(model, batch=1, frames=32, steps=1, precision="bf16")
    assert seen == {torch.bfloat16}
    assert row.step_seconds > 0 and row.flops > 0
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
