"""flowvox: flow-matching speech and audio generation.

``from flowvox import Synthesizer`` is resolved lazily, so that importing flowvox (for the CLI's
``--help``, say) does not import torch models.
"""

from flowvox.errors import FlowvoxError

__version__ = "0.1.0"

__all__ = ["FlowvoxError", "SynthesisOptions", "Synthesizer", "__version__"]

_LAZY = {"Synthesizer": "flowvox.infer", "SynthesisOptions": "flowvox.infer"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'flowvox' has no attribute {name!r}")
