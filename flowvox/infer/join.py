"""Joining chunk audio with a linear cross-fade, all at once or as a stream.

# s: samples
For a previous output p and a next chunk q, with c = min(fade, len(p), len(q)) samples:
    join(p, q) = p[:-c] ++ (p[-c:] · (1 → 0) + q[:c] · (0 → 1)) ++ q[c:]
(both ramps ``np.linspace`` over c points, as F5-TTS joins its chunks). The stream form
holds back only the last ``fade`` samples, so its pieces concatenate to the same audio.
"""

from __future__ import annotations

import numpy as np


class CrossFader:
    """Feed chunks with ``push`` (returns what is final), then ``finish`` for the rest.

    Holds at most ``fade_samples`` samples between calls.
    """

    def __init__(self, fade_samples: int) -> None:
        self.fade = max(0, int(fade_samples))
        self._tail: np.ndarray | None = None  # (≤ fade,) end of the output, not yet returned

    def push(self, wav: np.ndarray) -> np.ndarray:
        """Add chunk ``wav`` (s,); returns the samples that no later chunk will change."""
        wav = np.asarray(wav, dtype=np.float32)
        if self._tail is None:
            joined = wav
        else:
            tail = self._tail
            c = min(len(tail), len(wav))
            if c > 0:
                fade_out = np.linspace(1.0, 0.0, c, dtype=np.float32)
                fade_in = np.linspace(0.0, 1.0, c, dtype=np.float32)
                mixed = tail[len(tail) - c :] * fade_out + wav[:c] * fade_in
                joined = np.concatenate([tail[: len(tail) - c], mixed, wav[c:]])
            else:
                joined = np.concatenate([tail, wav])
        keep = min(self.fade, len(joined))
        self._tail = joined[len(joined) - keep :].copy()
        return joined[: len(joined) - keep]

    def finish(self) -> np.ndarray:
        """The held-back end of the output (empty before any chunk)."""
        tail = self._tail if self._tail is not None else np.zeros(0, dtype=np.float32)
        self._tail = None
        return tail


def cross_fade_join(chunks: list[np.ndarray], fade_samples: int) -> np.ndarray:
    """All ``chunks`` joined with the cross-fade (s,); empty list -> empty array."""
    fader = CrossFader(fade_samples)
    parts = [fader.push(chunk) for chunk in chunks]
    parts.append(fader.finish())
    return np.concatenate(parts).astype(np.float32, copy=False)
