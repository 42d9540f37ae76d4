"""Media helpers shared by the training tasks: images and figures logged through a ``MediaSink``.

# n: true frames, m: generated frames, f: mel bins
"""

from __future__ import annotations

import torch
from torch import Tensor

from flowvox.train.task import MediaSink


def log_duration_media(sink: MediaSink, mel: Tensor, fake: Tensor) -> None:
    """Truth ``mel`` (n, f) as the top half of one image over the synthesis ``fake`` (m, f),
    each padded to the wider with the truth's minimum, and the relative frame-count error
    (m - n) / n of the predicted durations."""
    width = max(mel.shape[0], fake.shape[0])
    pad = torch.full((width, mel.shape[1]), float(mel.min()))
    top, bottom = pad.clone(), pad.clone()
    top[: mel.shape[0]], bottom[: fake.shape[0]] = mel, fake
    sink.image("mel/true_top_generated_bottom", torch.cat([bottom.T, top.T]))
    sink.scalar("media/frames_error", float(fake.shape[0] - mel.shape[0]) / mel.shape[0])
