"""int8 copies of acoustic models for CPU synthesis (``precision="int8"``).

# m: leading axes (any), i: input features, o: output features
Every ``nn.Linear`` module becomes a dynamically quantised one: its weight W (o, i) is stored
as int8 with one scale per output row, W ≈ s_o · W_q, and at each call the input x (m, i) is
quantised with a scale from its own range, multiplied in int8 with int32 accumulation and
rescaled to float32: y = s_x s_o (x_q W_qᵀ) + b. Everything else (embeddings, convolutions,
norms, attention's softmax, the ODE state) stays float32, and so do the linears of the
submodules a backend names in ``int8_keep_fp32`` (the text encoder and duration predictor of
the aligned and FastPitch families: quantised, they move durations by a frame or more). A
layer whose weights are read directly instead of calling the module is not reached either
(``flowvox.nn.fused_linear``: the Vocos vocoder's ConvNeXt blocks and head), which is one
reason the vocoder is not quantised.

Made with ``torch.ao.quantization.quantize_dynamic``: torch 2.13 still ships and runs it but
marks it deprecated in favour of torchao's ``quantize_`` (not a flowvox dependency); the
deprecation warnings are silenced for this one call. Quantised kernels exist on CPU only.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from copy import deepcopy

import torch
from torch import nn
from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear
from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

from flowvox.errors import FlowvoxError


def quantize_int8(model: nn.Module, keep_fp32: Sequence[str] = ()) -> nn.Module:
    """A copy of ``model`` (eval mode) whose ``nn.Linear`` layers are int8 dynamically
    quantised, per output channel, except those inside the submodules named in
    ``keep_fp32`` (dotted names, e.g. "encoder"); ``model`` itself is left unchanged."""
    device = next(model.parameters()).device
    if device.type != "cpu":
        raise FlowvoxError(
            f"precision int8: quantised kernels run on the CPU only, this model is on {device}; "
            "use bf16 on a GPU"
        )
    for name in keep_fp32:
        model.get_submodule(name)  # AttributeError for a name the model lacks
    chosen = {
        name: per_channel_dynamic_qconfig
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and not any(_inside(name, k) for k in keep_fp32)
    }
    copy = deepcopy(model).eval()
    with warnings.catch_warnings():  # torch.ao's deprecation notices (see the module doc)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=r".*quantize_per_(tensor|channel).*")
        quantize_dynamic(copy, chosen, dtype=torch.qint8, inplace=True)
    return copy


def _inside(name: str, parent: str) -> bool:
    return name == parent or name.startswith(parent + ".")


def is_int8_linear(module: nn.Module) -> bool:
    """True for a dynamically quantised int8 linear layer."""
    return isinstance(module, DynamicLinear) and module._packed_params.dtype == torch.qint8
