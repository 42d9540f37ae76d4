"""Linear layers with their element-wise neighbours fused in, for CPU inference.

# m: leading axes (any), i: input features, o: output features
y = act(x Wᵀ + b) or y = r + s ⊙ (x Wᵀ + b) computed in one pass over y. On a CPU float32
tensor outside autograd this runs oneDNN's matmul with a post-op
(``torch.ops.mkldnn._linear_pointwise``, the kernel torch.compile's CPU backend emits for the
same pattern), so the output is written once instead of two or three times, and on x86 the
matmul is oneDNN's JIT kernel rather than BLAS sgemm. A per-channel scale s is folded into the
weights: s ⊙ (x Wᵀ + b) = x (s ⊙ W)ᵀ + s ⊙ b. With a ``PackedLinear`` the folded weights are also
kept in oneDNN's blocked layout between calls. Anywhere else (autograd on, CUDA, other dtypes,
torch built without oneDNN) it is the plain composition, with the same numbers up to float
rounding.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

ACTIVATIONS = ("none", "gelu")


def onednn_usable(x: torch.Tensor, *tensors: torch.Tensor | None) -> bool:
    """True when the fused oneDNN kernels can serve this call.

    CPU float32 throughout, oneDNN built in and enabled, and nothing to record for autograd
    (the fused kernels have no backward).
    """
    everything = [x, *(t for t in tensors if t is not None)]
    if any(t.device.type != "cpu" or t.dtype != torch.float32 for t in everything):
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in everything):
        return False
    return (
        torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


class PackedLinear:
    """Inference copy of one linear's (scale-folded) weight in oneDNN's packed layout.

    Rebuilt whenever a source tensor (weight, bias, scale) is replaced or changed in place:
    the key is each tensor's storage address and autograd version counter, which every
    optimizer step, ``load_state_dict`` and in-place op under ``no_grad`` advance. Writes
    through ``tensor.data`` bypass the version counter; call ``clear()`` after those. Not a
    module and not in any state dict.
    """

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._weight: torch.Tensor | None = None  # (o, i), packed
        self._bias: torch.Tensor | None = None  # (o,)

    def clear(self) -> None:
        self._key = self._weight = self._bias = None

    def __getstate__(self) -> dict:
        """Copies and pickles start empty (a oneDNN tensor has no plain storage to copy)."""
        return {"_key": None, "_weight": None, "_bias": None}

    def get(
        self,
        weight: torch.Tensor,
        bias: torch.Tensor | None,
        scale: torch.Tensor | None,
        rows: int,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(packed s ⊙ W, s ⊙ b); ``rows`` (the m of the first call) picks the blocking.

        Tensors created under ``torch.inference_mode`` have no version counter, so their
        changes cannot be seen: for them the folded weights are rebuilt on every call.
        """
        sources = (weight, bias, scale)
        if any(t is not None and t.is_inference() for t in sources):
            return fold_scale(weight, bias, scale)
        key = tuple(None if t is None else (t.data_ptr(), t._version) for t in sources)
        if key != self._key:
            with torch.no_grad():
                w, b = fold_scale(weight, bias, scale)
                self._weight = torch.ops.mkldnn._reorder_linear_weight(w, rows)
                self._bias = b
            self._key = key
        return self._weight, self._bias


def fold_scale(
    weight: torch.Tensor, bias: torch.Tensor | None, scale: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(s ⊙ W, s ⊙ b), or (W, b) unchanged when ``scale`` is None."""
    if scale is None:
        return weight, bias
    return weight * scale[:, None], None if bias is None else bias * scale


def fused_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str = "none",
    residual: torch.Tensor | None = None,
    scale: torch.Tensor | None = None,
    packed: PackedLinear | None = None,
) -> torch.Tensor:
    """(m, i) -> (m, o): act(x Wᵀ + b), or r + s ⊙ (x Wᵀ + b) with ``residual``/``scale``.

    ``weight`` is (o, i) as in ``nn.Linear``; ``activation`` is "none" or "gelu" (exact, erf);
    ``residual`` (m, o) and ``scale`` (o,) apply only without an activation. ``packed`` keeps
    the oneDNN copy of the weights between calls (see ``PackedLinear``).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"fused_linear activation {activation!r}: use one of {ACTIVATIONS}")
    if activation != "none" and (residual is not None or scale is not None):
        raise ValueError("fused_linear: residual and scale apply only without an activation")
    if onednn_usable(x, weight, bias, residual, scale):
        if packed is not None:
            weight, bias = packed.get(weight, bias, scale, x.numel() // x.shape[-1])
        else:
            weight, bias = fold_scale(weight, bias, scale)
        ops = torch.ops.mkldnn
        if residual is not None:
            return ops._linear_pointwise.binary(x, residual, weight, bias, "add")
        algorithm = "none" if activation == "gelu" else ""
        return ops._linear_pointwise(x, weight, bias, activation, [], algorithm)
    y = F.linear(x, weight, bias)
    if activation == "gelu":
        return F.gelu(y)
    if scale is not None:
        return y * scale if residual is None else torch.addcmul(residual, y, scale)
    return y if residual is None else y + residual
