"""flowvox.nn: reusable network blocks shared by the model families."""

from flowvox.nn.convnext import ConvNeXtBlock, conv1d_channels_last

__all__ = ["ConvNeXtBlock", "conv1d_channels_last"]
