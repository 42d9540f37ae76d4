"""How long to make each generated chunk, and how much text a chunk may hold (F5 rules).

All lengths of text are UTF-8 bytes, as F5-TTS counts them (a Chinese character counts 3).
"""

from __future__ import annotations

from collections.abc import Sequence

from flowvox.errors import FlowvoxError

MIN_GEN_FRAMES = 2  # the fewest frames a chunk gets (a vocoder needs two to make samples)
MIN_CHUNK_BYTES = 16  # the smallest chunk budget, whatever the reference's pace


def utf8_len(text: str) -> int:
    """Bytes of ``text`` in UTF-8."""
    return len(text.encode("utf-8", errors="surrogatepass"))


def prepare_ref_text(text: str) -> str:
    """The reference transcript as F5 prepends it: stripped, ending in ". " (or "。").

    F5 appends ". " so that the generated text starts a new sentence after the prompt.
    """
    text = " ".join(text.split())
    if not text:
        raise FlowvoxError("ref_text is empty; give the words spoken in the reference clip")
    if text.endswith("。"):
        return text
    return text + (" " if text.endswith(".") else ". ")


def rule_frames(ref_frames: int, ref_text: str, gen_text: str, speed: float = 1.0) -> int:
    """Total frames (reference + generated) by the F5 rule.

    total = ref_frames + ⌊ref_frames · utf8_len(gen_text) / utf8_len(ref_text) / speed⌋,
    i.e. the generated text is spoken at the reference's bytes per frame, scaled by speed.
    The generated part gets at least ``MIN_GEN_FRAMES``.
    """
    if speed <= 0:
        raise FlowvoxError(f"speed={speed}: use a factor > 0")
    gen = int(ref_frames / utf8_len(ref_text) * utf8_len(gen_text) / speed)
    return ref_frames + max(MIN_GEN_FRAMES, gen)


def split_duration(
    seconds: float, chunks: Sequence[str], frame_rate: float, overlap_seconds: float
) -> list[int]:
    """Generated frames per chunk for an explicit total ``seconds`` of speech.

    The chunks are joined with ``len(chunks) - 1`` overlaps of ``overlap_seconds``, so the
    frames to make are F = round((seconds + (k - 1) · overlap) · frame_rate); chunk i gets
    its share F · utf8_len(chunk_i) / Σ utf8_len (at least ``MIN_GEN_FRAMES``), with the
    rounding remainder going to the last chunk.
    """
    if seconds <= 0:
        raise FlowvoxError(f"duration={seconds}: give seconds > 0")
    if not chunks:
        raise FlowvoxError("split_duration: no chunks")
    k = len(chunks)
    total = round((seconds + (k - 1) * overlap_seconds) * frame_rate)
    sizes = [max(1, utf8_len(c)) for c in chunks]
    weight = sum(sizes)
    frames = [max(MIN_GEN_FRAMES, int(total * s / weight)) for s in sizes]
    frames[-1] = max(MIN_GEN_FRAMES, frames[-1] + total - sum(frames))
    return frames


def chunk_budget(
    ref_text: str, ref_seconds: float, chunk_seconds: float = 22.0, speed: float = 1.0
) -> int:
    """UTF-8 bytes of text one chunk may hold (F5's ``max_chars``).

    budget = ⌊utf8_len(ref_text) / ref_seconds · (chunk_seconds - ref_seconds) · speed⌋:
    the text the reference's speaking rate fits into what is left of ``chunk_seconds``
    (reference + generated audio) after the reference; at least ``MIN_CHUNK_BYTES``.
    """
    if ref_seconds <= 0:
        raise FlowvoxError(f"reference of {ref_seconds} s: a reference must have some audio")
    left = max(chunk_seconds - ref_seconds, 1.0)
    return max(MIN_CHUNK_BYTES, int(utf8_len(ref_text) / ref_seconds * left * speed))
