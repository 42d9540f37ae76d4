"""Writing one module as an ONNX graph, then checking onnxruntime against torch on it.

``export_graph`` uses torch's dynamo exporter (``torch.onnx.export(dynamo=True)``, via
onnxscript) with the named axes dynamic; if that raises, it says so in one warning and
writes the graph with the TorchScript exporter (``dynamo=False``, opset 17) instead.
Weights are stored inside the .onnx file (no external data file). ``max_difference``
runs a graph and its module on the same inputs.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from flowvox.errors import FlowvoxError
from flowvox.infer.onnx.layout import GraphSpec
from flowvox.infer.onnx.runtime import open_session, require, run

EXPORTERS = ("dynamo", "torchscript")
TORCHSCRIPT_OPSET = 17


def export_graph(
    module: nn.Module,
    example: Sequence[Tensor],
    path: str | os.PathLike,
    spec: GraphSpec,
    exporter: str = "dynamo",
) -> str:
    """Write ``module`` (called on ``example``, whose dynamic axes should be ≥ 2 long) as an
    ONNX graph at ``path``; returns the exporter that wrote it."""
    if exporter not in EXPORTERS:
        raise FlowvoxError(f"exporter {exporter!r}: use one of {', '.join(EXPORTERS)}")
    require("onnx")
    path = Path(path)
    if exporter == "dynamo":
        require("onnxscript")
        try:
            with _quiet_export():
                _dynamo(module, tuple(example), path, spec)
            return "dynamo"
        except Exception as err:  # the exporter raises many types; the fallback is the answer
            warnings.warn(
                f"the dynamo exporter failed on {path.name} ({_first_line(err)}); writing it "
                "with the TorchScript exporter instead",
                stacklevel=2,
            )
            path.unlink(missing_ok=True)
    try:
        with _quiet_export():
            _torchscript(module, tuple(example), path, spec)
    except Exception as err:
        raise FlowvoxError(
            f"{path.name}: the TorchScript exporter failed too ({_first_line(err)}); this "
            f"model cannot be exported with torch {torch.__version__}"
        ) from err
    return "torchscript"


def _dynamo(module: nn.Module, example: tuple, path: Path, spec: GraphSpec) -> None:
    dims = {
        label: torch.export.Dim(label) for axes in spec.inputs.values() for label in axes.values()
    }
    shapes = {
        name: {axis: dims[label] for axis, label in axes.items()}
        for name, axes in spec.inputs.items()
    }
    torch.onnx.export(
        module, example, str(path), dynamo=True, external_data=False, verbose=False,
        input_names=list(spec.inputs), output_names=[spec.output], dynamic_shapes=shapes,
    )  # fmt: skip


def _torchscript(module: nn.Module, example: tuple, path: Path, spec: GraphSpec) -> None:
    axes = {name: dict(a) for name, a in spec.inputs.items() if a}
    axes[spec.output] = dict(spec.output_axes)
    torch.onnx.export(
        module, example, str(path), dynamo=False, opset_version=TORCHSCRIPT_OPSET,
        input_names=list(spec.inputs), output_names=[spec.output], dynamic_axes=axes,
    )  # fmt: skip


@contextlib.contextmanager
def _quiet_export() -> Iterator[None]:
    """Trace the plain torch operators (no oneDNN fused kernels, no gradients) without the
    exporters' warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # before the flags: setting them warns too
        with torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
            yield


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


@torch.no_grad()
def max_difference(
    module: nn.Module, path: str | os.PathLike, spec: GraphSpec, inputs: Sequence[Tensor]
) -> float:
    """max |onnxruntime(graph at ``path``) - module| on ``inputs`` (``module``: the torch
    reference the graph replaces)."""
    session = open_session(path, threads=1)
    expected = module(*inputs)
    got = run(session, dict(zip(spec.inputs, inputs, strict=True)))
    if got.shape != expected.shape:
        raise FlowvoxError(
            f"{Path(path).name}: onnxruntime gives shape {tuple(got.shape)} where torch gives "
            f"{tuple(expected.shape)}; the export is wrong"
        )
    return float((got - expected).abs().max())
