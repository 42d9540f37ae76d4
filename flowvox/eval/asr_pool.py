"""Transcribe many audio files, in worker processes or in this one.

pocketsphinx decodes on one core at ≈ 0.3 CPU s per audio second and holds the GIL, so the
way to use more cores is more processes. Files go to the workers in chunks of up to
``CHUNK_FILES``; a worker builds a recogniser from the ``--asr`` spec string for each chunk
(≈ 0.5 s for pocketsphinx, small beside ≈ 10 s of decoding per chunk), so no process keeps
state between tasks. ``workers=0`` decodes in the calling process, lazily, as results are
collected (no start-up cost; used by tests).

Submitting returns at once, so the caller can do other judging (speaker embeddings, MCD)
while the workers decode: with ``workers=1`` two processes run side by side.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from flowvox.audio.asr import Transcriber, make_transcriber
from flowvox.errors import FlowvoxError

CHUNK_FILES = 12


def _transcribe_chunk(spec: str, paths: list[str]) -> list[str]:
    """Worker task: one recogniser for a chunk of files."""
    return make_transcriber(spec).transcribe_files(paths)


class TranscriptionPool:
    """``submit(paths)`` then ``results(on_each)``: one transcript per path, in order.

    Use as a context manager; the worker processes end when it closes.
    """

    def __init__(self, spec: str, workers: int, local: Transcriber | None = None) -> None:
        self.spec, self.workers = spec, workers
        self._local = local if workers == 0 else None
        if workers == 0 and local is None:
            self._local = make_transcriber(spec)
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[Future | list[str]] = []  # a future per chunk, or a local path

    def __enter__(self) -> TranscriptionPool:
        if self.workers > 0:
            context = multiprocessing.get_context("spawn")  # no forked torch threads
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context)
        return self

    def __exit__(self, *exc) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=exc[0] is None, cancel_futures=True)

    def submit(self, paths: Sequence[str | os.PathLike]) -> None:
        """Queue files for transcription (workers start on them at once)."""
        paths = [str(p) for p in paths]
        if self._pool is None and self.workers > 0:
            raise FlowvoxError(
                f"TranscriptionPool(workers={self.workers}).submit before the pool started; use "
                "it as a context manager: with TranscriptionPool(...) as pool: pool.submit(...)"
            )
        if self._pool is None:
            self._pending += [[p] for p in paths]  # decoded when collected
            return
        size = max(1, min(CHUNK_FILES, -(-len(paths) // (4 * self.workers))))
        for start in range(0, len(paths), size):
            chunk = paths[start : start + size]
            self._pending.append(self._pool.submit(_transcribe_chunk, self.spec, chunk))

    def results(self, on_each: Callable[[int], None] | None = None) -> list[str]:
        """All transcripts in submission order; ``on_each(count)`` after each chunk."""
        out = [text for chunk in self._iter(on_each) for text in chunk]
        self._pending = []
        return out

    def _iter(self, on_each: Callable[[int], None] | None) -> Iterator[list[str]]:
        for job in self._pending:
            if isinstance(job, list):
                # invariant: submit queues plain path lists only when workers == 0 (_local set)
                assert self._local is not None
                texts = self._local.transcribe_files(job)
            else:
                texts = job.result()
            if on_each is not None:
                on_each(len(texts))
            yield texts
