"""`flowvox export-onnx`: a model folder -> a self-contained folder that speaks through
onnxruntime (``--backend onnx``); its files are listed in ``flowvox.infer.onnx.layout``.

The output is written under a temporary name beside OUT and renamed when complete. Before
the rename every graph is run by onnxruntime against its torch module on inputs of other
shapes than the export's (so the dynamic axes are exercised); a difference above
``CHECK_TOLERANCE`` refuses the export. Then the folder is loaded back as the Synthesizer
loads it with ``backend="onnx"``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from flowvox.errors import FlowvoxError
from flowvox.infer.backends import AlignedBackend, load_backend
from flowvox.infer.model_dir import named_vocoder
from flowvox.infer.onnx.export import export_graph, max_difference
from flowvox.infer.onnx.graphs import GuidedVelocity, TorchGuidedVelocity, vocoder_graph
from flowvox.infer.onnx.layout import (
    FORMAT_VERSION,
    MANIFEST_FILE,
    VELOCITY,
    VELOCITY_FILE,
    VOCODER,
    VOCODER_FILE,
    GraphSpec,
)
from flowvox.infer.onnx.runtime import require
from flowvox.infer.synthesizer import Synthesizer
from flowvox.models.loading import CONFIG_FILE, read_config_json
from flowvox.utils.atomic import atomic_folder, check_new_folder
from flowvox.vocoders.io import load_vocoder
from flowvox.vocoders.pairing import GRIFFIN_LIM_NAMES

CHECK_TOLERANCE = 1e-3  # max |onnxruntime - torch| a graph may show on the check inputs


@dataclass
class OnnxExport:
    """What ``export_onnx`` wrote: per graph (its path in OUT) the exporter that wrote it and
    its max |onnxruntime - torch| on the check inputs; the vocoder's family, or None."""

    out_dir: Path
    exporters: dict[str, str]
    max_abs_diff: dict[str, float]
    vocoder: str | None
    total_bytes: int

    def summary(self) -> str:
        graphs = ", ".join(
            f"{name} ({self.exporters[name]}, max |onnx - torch| {self.max_abs_diff[name]:.1e})"
            for name in self.exporters
        )
        voc = "" if self.vocoder else "; no vocoder graph (Griffin-Lim runs in torch)"
        return (
            f"exported {self.out_dir}: {graphs}{voc}; {self.total_bytes / 2**20:.1f} MiB; "
            f"speak with --model {self.out_dir} --backend onnx"
        )


def export_onnx(
    model_dir: str | os.PathLike, out_dir: str | os.PathLike, exporter: str = "dynamo"
) -> OnnxExport:
    """Write the ONNX export of the model folder ``model_dir`` (family "aligned") and its
    vocoder as the new folder ``out_dir``; ``exporter``: "dynamo" or "torchscript"."""
    src, out = Path(model_dir), check_new_folder(out_dir)
    if not src.is_dir():
        raise FlowvoxError(f"{src}: no such model folder; pass the folder of an aligned model")
    backend = load_backend(src)
    if type(backend) is not AlignedBackend:
        raise FlowvoxError(
            f"{src}: {backend.label} has no ONNX export (only the aligned family has); "
            "speak it with --backend torch"
        )
    model = backend.model.float().eval()
    if model.config.cond_dim > 0:
        raise FlowvoxError(
            f"{src}: a speaker-vector model (cond_dim={model.config.cond_dim}) has no ONNX "
            "export; speak it with --backend torch"
        )
    if model.config.step_embed:
        raise FlowvoxError(
            f"{src}: a shortcut student (step_embed) has no ONNX export (its graph has no "
            "step-size input); speak it with --backend torch"
        )
    named = named_vocoder(src)
    neural = named is not None and named.lower() not in GRIFFIN_LIM_NAMES
    vocoder = None
    if neural:
        vocoder = load_vocoder(named, model.config.mel, acoustic_name=f"model {src}")
    exporters, diffs = {}, {}
    f = model.config.mel_dim
    # (file, graph module, the torch module it replaces, spec, [example, *check inputs])
    graphs: list[tuple[str, nn.Module, nn.Module, GraphSpec, list]] = [
        (VELOCITY_FILE, GuidedVelocity(model.decoder).eval(),
         TorchGuidedVelocity(model.decoder).eval(), VELOCITY, velocity_inputs(f)),
    ]  # fmt: skip
    voc_graph = vocoder_graph(vocoder) if vocoder is not None else None
    if voc_graph is not None:
        name = f"vocoder/{VOCODER_FILE}"
        graphs.append((name, voc_graph, vocoder, VOCODER, vocoder_inputs(f)))
    with atomic_folder(out, "exporting") as tmp:
        _copy_model_files(src, tmp, named if neural else None)
        for name, module, reference, spec, (example, *checks) in graphs:
            exporters[name] = export_graph(module, example, tmp / name, spec, exporter)
            diffs[name] = max(max_difference(reference, tmp / name, spec, c) for c in checks)
            if not diffs[name] <= CHECK_TOLERANCE:
                raise FlowvoxError(
                    f"{name}: onnxruntime differs from torch by {diffs[name]:.2e} (over "
                    f"{CHECK_TOLERANCE}); try the other exporter (--exporter)"
                )
        record = {
            "format_version": FORMAT_VERSION,
            "family": model.family.name,
            "velocity": VELOCITY_FILE,
            "vocoder": f"vocoder/{VOCODER_FILE}" if voc_graph is not None else None,
            "exporters": exporters,
            "opset": {name: _opset(tmp / name) for name in exporters},
            "torch": torch.__version__,
            "max_abs_diff": diffs,
        }
        (tmp / MANIFEST_FILE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        # the folder loads as speak loads it (a model that names no vocoder: no warning here)
        Synthesizer.from_pretrained(tmp, None if named else "griffin-lim", backend="onnx")
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    family = type(vocoder).family if voc_graph is not None else None
    return OnnxExport(out, exporters, diffs, family, size)


def _copy_model_files(src: Path, dst: Path, vocoder: str | None) -> None:
    """Every file of ``src`` (hidden ones aside); a ``vocoder`` folder that config.json names
    from outside goes in as ``dst/vocoder/`` and config.json stops naming it."""
    for item in sorted(src.iterdir()):
        if item.name.startswith("."):
            continue
        if item.is_dir():
            shutil.copytree(item, dst / item.name)
        else:
            shutil.copy2(item, dst / item.name)
    inside = dst / "vocoder"
    if vocoder is not None and not inside.exists():
        shutil.copytree(vocoder, inside)
        config = read_config_json(dst / CONFIG_FILE)
        config.pop("vocoder", None)
        (dst / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def velocity_inputs(f: int) -> list[tuple[Tensor, ...]]:
    """Inputs of the velocity graph: the export's example (b = 2, n = 24), then the checks
    (b = 1, n = 9; b = 3, n = 40 with shorter rows), seeded."""
    gen = torch.Generator().manual_seed(0)
    out = []
    for b, n, cfg in ((2, 24, 0.7), (1, 9, 2.0), (3, 40, 0.7)):
        x_t, cond, mu = (torch.randn(b, n, f, generator=gen) for _ in range(3))
        lengths = torch.linspace(n, max(1, n // 2), b).round().long()  # (b,)
        mask = torch.arange(n)[None] < lengths[:, None]  # (b, n)
        t = torch.rand(b, generator=gen)
        out.append((x_t, t, cond, mu, mask, torch.tensor(cfg)))
    return out


def vocoder_inputs(f: int) -> list[tuple[Tensor]]:
    """Log-mels of the vocoder graph: the export's example (2, 16, f), then (1, 7, f) and
    (2, 50, f), seeded, around the level of speech (log-mel ≈ -4 ± 2)."""
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(b, n, f, generator=gen) * 2 - 4,) for b, n in ((2, 16), (1, 7), (2, 50))]


def _opset(path: Path) -> int:
    """The default-domain opset of the graph at ``path``."""
    model = require("onnx").load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
