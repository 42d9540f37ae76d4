"""flowvox: flow-matching speech and audio generation."""

from flowvox.errors import FlowvoxError

__version__ = "0.1.0"

__all__ = ["FlowvoxError", "__version__"]
