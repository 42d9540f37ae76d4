"""onnxruntime sessions: opened on the CPU with a set number of threads, run on torch tensors.

onnxruntime (the ``onnx`` extra) is imported inside the functions that need it, so flowvox
imports without it; a missing package is a one-line ``FlowvoxError`` naming the extra.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import Tensor

from flowvox.errors import FlowvoxError

INSTALL_HINT = "install the onnx extra: pip install 'flowvox[onnx]'"


def require(module: str) -> Any:
    """Import ``module`` (onnxruntime, onnx, onnxscript) or raise a one-line ``FlowvoxError``."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise FlowvoxError(f"{module} is not installed ({err}); {INSTALL_HINT}") from None


def open_session(path: str | os.PathLike, threads: int | None = None) -> Any:
    """An ``onnxruntime.InferenceSession`` of the graph at ``path`` on the CPU provider;
    ``threads`` intra-op threads (None: torch's current count, so ``--threads`` and
    ``torch.set_num_threads`` apply to both runtimes), one inter-op thread."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads or torch.get_num_threads())
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: no notes on stderr
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises its own exception types
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FlowvoxError(
            f"{path}: not a readable ONNX graph ({first}); export it again"
        ) from None


def run(session: Any, inputs: dict[str, Tensor]) -> Tensor:
    """The first output of ``session`` on ``inputs`` (CPU tensors, passed without a copy when
    contiguous), as a float32 torch tensor."""
    feeds = {name: np.ascontiguousarray(x.detach().cpu().numpy()) for name, x in inputs.items()}
    return torch.from_numpy(session.run(None, feeds)[0])
