"""The bulk frame budget follows the synthesizer's device."""

from types import SimpleNamespace

import torch

from flowvox.infer.bulk import CPU_BATCH_FRAMES, DEFAULT_BATCH_FRAMES, default_batch_frames


def test_cpu_synthesizers_get_the_small_budget(synth):
    assert default_batch_frames(synth) == CPU_BATCH_FRAMES < DEFAULT_BATCH_FRAMES


def test_other_devices_and_unknown_synthesizers_get_the_large_budget():
    on_gpu = SimpleNamespace(device=torch.device("cuda", 0))
    assert default_batch_frames(on_gpu) == DEFAULT_BATCH_FRAMES
    assert default_batch_frames(SimpleNamespace()) == DEFAULT_BATCH_FRAMES
    assert default_batch_frames(SimpleNamespace(device="cpu")) == CPU_BATCH_FRAMES
