"""What an ONNX export folder holds, and the names and dynamic axes of its graphs.

OUT/config.json, model.safetensors, vocab…   the model folder's files, copied (the text
                                           encoder, duration predictor and prompt alignment
                                           run in torch from these; ``--backend torch`` too)
OUT/velocity.onnx                          one guided velocity evaluation (``VELOCITY``)
OUT/vocoder/                               the model's vocoder folder, copied, plus
OUT/vocoder/vocoder.onnx                   its mel -> waveform graph (``VOCODER``), for a
                                           neural vocoder (Vocos, HiFi-GAN)
OUT/onnx.json                              this file's record: {"format_version", "family",
                                           "velocity", "vocoder" (path or null), "exporters",
                                           "opset", "torch", "max_abs_diff"}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowvox.errors import FlowvoxError
from flowvox.utils.json_files import read_json_object

MANIFEST_FILE = "onnx.json"
VELOCITY_FILE = "velocity.onnx"
VOCODER_FILE = "vocoder.onnx"
FORMAT_VERSION = 1
FAMILIES = ("aligned",)  # model families with an ONNX export


@dataclass(frozen=True)
class GraphSpec:
    """The names of a graph's inputs (in the module's argument order) with their dynamic
    axes {axis: name}, and of its one output with its dynamic axes."""

    inputs: Mapping[str, Mapping[int, str]]
    output: str
    output_axes: Mapping[int, str]


BN = {0: "batch", 1: "frames"}
# x_t, cond, mu (b, n, f) float32; t (b,) float32; mask (b, n) bool; cfg () float32 -> v (b, n, f)
VELOCITY = GraphSpec(
    inputs={"x_t": BN, "t": {0: "batch"}, "cond": BN, "mu": BN, "mask": BN, "cfg": {}},
    output="v",
    output_axes=BN,
)
# log-mel (b, n, f) float32 -> waveform (b, s) float32
VOCODER = GraphSpec(inputs={"mel": BN}, output="wav", output_axes={0: "batch", 1: "samples"})


def is_onnx_export(folder: str | os.PathLike) -> bool:
    """True when ``folder`` holds an ``onnx.json`` (written by ``flowvox export-onnx``)."""
    return (Path(folder) / MANIFEST_FILE).is_file()


def read_manifest(folder: str | os.PathLike) -> dict[str, Any]:
    """The checked ``onnx.json`` of an export folder; one-line errors naming the fix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FlowvoxError(f"model directory {str(folder)!r} not found; pass --model DIR")
    if not is_onnx_export(folder):
        raise FlowvoxError(
            f"{folder}: no {MANIFEST_FILE}, so not an ONNX export; write one with "
            f"`flowvox export-onnx {folder} OUT/`, or use --backend torch"
        )
    data = read_json_object(
        folder / MANIFEST_FILE, "an ONNX export holds onnx.json", fix="export it again",
        holding="the ONNX export's record",
    )  # fmt: skip
    if data.get("format_version", 0) > FORMAT_VERSION:
        raise FlowvoxError(
            f"{folder / MANIFEST_FILE}: format_version {data['format_version']} is newer than "
            f"this flowvox reads ({FORMAT_VERSION}); upgrade flowvox"
        )
    if data.get("family") not in FAMILIES or not isinstance(data.get("velocity"), str):
        raise FlowvoxError(
            f"{folder / MANIFEST_FILE}: needs family in {list(FAMILIES)} and a velocity graph; "
            "export it again"
        )
    if not (folder / data["velocity"]).is_file():
        raise FlowvoxError(f"{folder}: {data['velocity']} is missing; export it again")
    return data
