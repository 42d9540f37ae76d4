"""Tiny infilling models and batches shared by the model tests."""
# b: batch, n: frames, f: mel bins

import torch

from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.nn.masks import pad_token_ids

VOCAB = 40
TEXTS = [[1, 2, 3, 4, 5, 6], [7, 8, 9], list(range(10, 40))]
LENGTHS = [37, 25, 31]


def tiny_model(preset: str = "tiny", *overrides: str, seed: int = 0, randomize: bool = True):
    """A tiny model in eval mode; ``randomize`` replaces the zero-initialised AdaLN/output
    layers (and every other weight) by N(0, 0.2²) so that outputs depend on every input."""
    config = InfillTTSConfig.preset(preset, [f"text_vocab_size={VOCAB}", *overrides])
    torch.manual_seed(seed)
    model = InfillTTS(config).eval()
    if randomize:
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
    return model


def batch(seed: int = 0, n: int = 37, f: int = 100):
    """x_t, cond (b, n, f), text ids (b, l), t (b,), mask (b, n) for LENGTHS / TEXTS."""
    gen = torch.Generator().manual_seed(seed)
    b = len(LENGTHS)
    x = torch.randn(b, n, f, generator=gen)
    cond = torch.randn(b, n, f, generator=gen)
    t = torch.rand(b, generator=gen)
    mask = torch.arange(n)[None] < torch.tensor(LENGTHS)[:, None]
    return x, cond, pad_token_ids(TEXTS), t, mask
