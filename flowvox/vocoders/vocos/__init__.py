"""Vocos: the model (``model``) and the reader of released checkpoints (``release``)."""

from flowvox.vocoders.vocos.model import ISTFTHead, Vocos, VocosBackbone, VocosConfig
from flowvox.vocoders.vocos.release import load_vocos_release

__all__ = ["ISTFTHead", "Vocos", "VocosBackbone", "VocosConfig", "load_vocos_release"]
