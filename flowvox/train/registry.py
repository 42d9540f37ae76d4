"""Task names in run files -> task classes, imported only when a run asks for them.

``task: NAME`` looks ``NAME`` up in ``TASKS``; ``task: package.module:ClassName`` imports
any ``TrainTask`` subclass directly (a user's own task, or a test's).
"""

from __future__ import annotations

import importlib
from types import MappingProxyType

from flowvox.errors import FlowvoxError
from flowvox.train.task import TrainTask

# name -> "module:Class"; each model family adds its line when it lands.
TASKS = MappingProxyType(
    {
        "aligned_guidance_distill": "flowvox.models.aligned.distill:GuidanceDistillTask",
        "aligned_shortcut_distill": "flowvox.models.aligned.shortcut:ShortcutDistillTask",
        "aligned_tts": "flowvox.models.aligned.task:AlignedTTSTask",
        "fastpitch": "flowvox.models.fastpitch.task:FastPitchTask",
        "infill_tts": "flowvox.models.infill.task:InfillTTSTask",
        "s2a": "flowvox.models.semantic.s2a_task:S2ATask",
        "semantic": "flowvox.models.semantic.task:SemanticTask",
        "t2s_ar": "flowvox.models.semantic.ar_task:ARTask",
        "t2s_fm": "flowvox.models.semantic.t2s_fm_task:T2SFlowTask",
        "tta_lfm": "flowvox.models.tta.task:LatentFlowTask",
        "tta_vae": "flowvox.models.tta.vae_task:MelVAETask",
        "vocoder": "flowvox.vocoders.train:VocoderTask",
    }
)


def resolve_task(name: str) -> type[TrainTask]:
    """The ``TrainTask`` subclass for ``name`` (a ``TASKS`` key or ``module:Class``)."""
    target = TASKS.get(name, name)
    module_name, sep, class_name = target.partition(":")
    if not sep:
        known = ", ".join(sorted(TASKS)) or "none yet"
        raise FlowvoxError(
            f"task {name!r} is unknown; use one of: {known}, or a 'package.module:ClassName' path"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise FlowvoxError(f"task {name!r}: cannot import {module_name} ({err})") from err
    task_cls = getattr(module, class_name, None)
    if not (isinstance(task_cls, type) and issubclass(task_cls, TrainTask)):
        raise FlowvoxError(f"task {name!r}: {target} is not a TrainTask subclass")
    return task_cls
