"""Fused linear: the oneDNN path against the plain composition, and when each one runs."""

import pytest
import torch
from torch.nn import functional as F

from flowvox.nn.convnext import ConvNeXtBlock
from flowvox.nn.fused_linear import PackedLinear, fused_linear, onednn_usable


def tensors(seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 7, 16, generator=g)  # (b, n, i)
    weight = torch.randn(24, 16, generator=g) * 0.3  # (o, i)
    bias = torch.randn(24, generator=g)
    residual = torch.randn(2, 7, 24, generator=g)
    return x, weight, bias, residual


@pytest.mark.parametrize("grad", [False, True], ids=["inference", "autograd"])
def test_fused_linear_matches_composition(grad: bool) -> None:
    x, weight, bias, residual = tensors()
    expected_gelu = F.gelu(F.linear(x, weight, bias))
    expected_add = F.linear(x, weight, bias) + residual
    with torch.set_grad_enabled(grad):
        weight.requires_grad_(grad)
        got_gelu = fused_linear(x, weight, bias, "gelu")
        got_add = fused_linear(x, weight, bias, residual=residual)
        got_plain = fused_linear(x, weight, None)
    torch.testing.assert_close(got_gelu, expected_gelu, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_add, expected_add, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_plain, F.linear(x, weight), atol=1e-5, rtol=1e-5)
    if grad:  # the autograd path must stay differentiable
        got_gelu.sum().backward()
        assert weight.grad is not None and weight.grad.abs().sum() > 0


@pytest.mark.filterwarnings("ignore:TF32 acceleration")
def test_onednn_only_outside_autograd_on_cpu_float32() -> None:
    x, weight, bias, _ = tensors()
    assert not onednn_usable(x.double(), weight.double())
    with torch.enable_grad():
        assert not onednn_usable(x, weight.requires_grad_())
    with torch.no_grad():
        assert onednn_usable(x, weight) == torch.backends.mkldnn.is_available()
    with torch.backends.mkldnn.flags(enabled=False):
        assert not onednn_usable(x, weight.detach())


def test_fused_linear_rejects_bad_arguments() -> None:
    x, weight, bias, residual = tensors()
    with pytest.raises(ValueError, match="activation"):
        fused_linear(x, weight, bias, "relu6")
    with pytest.raises(ValueError, match="apply only without"):
        fused_linear(x, weight, bias, "gelu", residual=residual)


@pytest.mark.parametrize("layer_scale", [0.3, None], ids=["gamma", "no-gamma"])
def test_convnext_fast_path_equals_training_path(layer_scale: float | None) -> None:
    """Inference (fused, γ folded into W₂) and autograd (step by step) give the same numbers."""
    torch.manual_seed(0)
    block = ConvNeXtBlock(dim=32, hidden_dim=48, layer_scale_init=layer_scale)
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    x = torch.randn(2, 11, 32)  # (b, n, d)
    training = block(x)  # parameters require grad: the step-by-step path
    assert training.requires_grad
    with torch.inference_mode():
        fast = block(x)
    torch.testing.assert_close(fast, training.detach(), atol=1e-5, rtol=1e-5)


def test_scale_and_residual_match_composition() -> None:
    x, weight, bias, residual = tensors()
    scale = torch.linspace(-1.0, 2.0, 24)
    expected = residual + scale * F.linear(x, weight, bias)
    with torch.inference_mode():
        got = fused_linear(x, weight, bias, residual=residual, scale=scale)
        got_packed = fused_linear(
            x, weight, bias, residual=residual, scale=scale, packed=PackedLinear()
        )
        scaled_only = fused_linear(x, weight, bias, scale=scale)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_packed, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(scaled_only, expected - residual, atol=1e-5, rtol=1e-5)


def test_packed_weights_follow_weight_changes() -> None:
    """The packed copy is rebuilt after in-place edits, load_state_dict and new tensors."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(16, 24)
    packed = PackedLinear()
    x = torch.randn(3, 5, 16)

    def check() -> None:
        with torch.inference_mode():
            got = fused_linear(x, layer.weight, layer.bias, packed=packed)
            expected = F.linear(x, layer.weight, layer.bias)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)

    check()
    with torch.no_grad():
        layer.weight.mul_(-2.0)  # in place: version counter moves
        layer.bias.add_(1.0)
    check()
    layer.load_state_dict({"weight": torch.randn(24, 16), "bias": torch.randn(24)})
    check()
    layer.weight = torch.nn.Parameter(torch.randn(24, 16))  # a new tensor
    check()
    layer.weight.data.mul_(3.0)  # bypasses the version counter: clear() by hand
    packed.clear()
    check()


def test_block_copies_after_inference() -> None:
    """deepcopy (e.g. for an EMA) works after the packed cache was filled, with equal output."""
    import copy

    torch.manual_seed(0)
    block = ConvNeXtBlock(dim=32, hidden_dim=48, layer_scale_init=0.5).eval()
    x = torch.randn(1, 9, 32)
    with torch.inference_mode():
        first = block(x)
        copied = copy.deepcopy(block)  # its parameters are inference tensors: no packing
        again, twice = copied(x), copied(x)
    torch.testing.assert_close(again, first)
    torch.testing.assert_close(twice, first)
