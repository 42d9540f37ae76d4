"""The synthesis engine behind the server: one worker thread owns the Synthesizer.

Requests hand it work and wait on asyncio futures; the model is never called from two
threads at once. Three kinds of work:

- a whole text (``speak``): with batching on, the worker waits up to ``batch_wait``
  seconds after the oldest waiting text for others with the same voice prompt and options
  (the seed aside), and runs up to ``max_batch`` of them as ONE padded batch through
  ``Synthesizer.speak_batch`` (the bulk path). Every text has its own seed, so a text gets
  the audio it gets alone (the model masks padding; rows draw their own noise). If the
  synthesizer refuses a batch (``FlowvoxError``), each text is run alone so that only the
  bad one fails.
- a stream (``stream``): ``Synthesizer.stream``, advanced one text chunk per turn and put
  back at the end of the line, so a long stream never holds up the others.
- a call (``call``): any function of the synthesizer (checking an uploaded voice).

At most ``max_queue`` pieces of work wait or run; past that ``submit`` raises ``QueueFull``
(the server answers 429). Work whose waiter is gone (timed out, client left) is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from flowvox.errors import FlowvoxError
from flowvox.infer.options import Speech, SynthesisOptions

LOG = logging.getLogger("flowvox.serve")
SEED_RANGE = 2**31 - 1
_END = object()  # a stream's last message


class QueueFull(Exception):
    """Too much work is waiting; ``retry_after`` seconds is a fair guess of when to retry."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the server is busy; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Prompt:
    """A voice prompt: a clip and its transcript; ``audio`` None is the model's default."""

    audio: Path | None = None
    text: str | None = None


@dataclass(frozen=True)
class Spoken:
    """The audio of one whole text, its seed and how many texts shared its batch."""

    speech: Speech
    seed: int
    batch_size: int


@dataclass(eq=False)
class _Work:
    kind: str  # "speak", "stream" or "call"
    loop: asyncio.AbstractEventLoop
    waiter: asyncio.Future | asyncio.Queue
    text: str = ""
    prompt: Prompt = field(default_factory=Prompt)
    options: SynthesisOptions | None = None
    seed: int = 0
    fn: Callable[[Any], Any] | None = None
    pieces: Any = None  # a stream's generator, made by the worker
    gone: bool = False  # the waiter left: drop the work

    @property
    def batch_key(self) -> tuple:
        return (self.prompt, replace(self.options, seed=None))

    def dropped(self) -> bool:
        if isinstance(self.waiter, asyncio.Future):
            return self.gone or self.waiter.done()
        return self.gone


class Engine:
    """See the module doc. ``synth``: a ``Synthesizer`` (or anything with its
    ``speak_batch``/``stream``); start with ``start()``, end with ``stop()``."""

    def __init__(
        self,
        synth: Any,
        batching: bool = True,
        batch_wait: float = 0.01,
        max_batch: int = 8,
        max_queue: int = 64,
    ) -> None:
        self.synth = synth
        self.batch_wait = batch_wait if batching else 0.0
        self.max_batch = max_batch if batching else 1
        self.max_queue = max_queue
        self._line: deque[_Work] = deque()
        self._busy = 0  # whole texts and calls taken by the worker and not yet answered
        self._open_streams = 0
        self._lock = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._seconds_per_item = 1.0  # running mean of the work time, for Retry-After

    # --- life ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="flowvox-engine", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Let the worker finish the work in line (work whose waiter left is dropped), then
        end the thread; new work is refused from now on."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def waiting(self) -> int:
        """Pieces of work waiting or running (a stream counts once until it ends)."""
        with self._lock:
            return self._count()

    def _count(self) -> int:
        """(Lock held.) Texts and calls in line or running, plus open streams."""
        return sum(w.kind != "stream" for w in self._line) + self._busy + self._open_streams

    # --- the asyncio side ---------------------------------------------------------------

    def _submit(self, work: _Work, new_stream: bool = False) -> None:
        with self._lock:
            if self._stopping:
                raise QueueFull(5)
            if self._count() >= self.max_queue:
                per = self._seconds_per_item / max(1, self.max_batch)
                raise QueueFull(max(1, round(self.max_queue * per)))
            self._open_streams += new_stream
            self._line.append(work)
            self._lock.notify_all()

    async def speak(
        self, text: str, prompt: Prompt, options: SynthesisOptions, timeout: float
    ) -> Spoken:
        """The whole audio of ``text`` (batched with others); ``TimeoutError`` past
        ``timeout`` s, ``FlowvoxError`` for what the synthesizer refuses."""
        loop = asyncio.get_running_loop()
        seed = options.seed if options.seed is not None else secrets.randbelow(SEED_RANGE)
        work = _Work("speak", loop, loop.create_future(), text, prompt, options, seed)
        self._submit(work)
        return await asyncio.wait_for(work.waiter, timeout)

    async def call(self, fn: Callable[[Any], Any], timeout: float) -> Any:
        """``fn(synth)`` on the worker thread, in turn with the other work."""
        loop = asyncio.get_running_loop()
        work = _Work("call", loop, loop.create_future(), fn=fn)
        self._submit(work)
        return await asyncio.wait_for(work.waiter, timeout)

    def open_stream(self, text: str, prompt: Prompt, options: SynthesisOptions) -> Stream:
        """A ``Stream`` of ``text``'s audio pieces (the work is queued now)."""
        loop = asyncio.get_running_loop()
        seed = options.seed if options.seed is not None else secrets.randbelow(SEED_RANGE)
        work = _Work("stream", loop, asyncio.Queue(), text, prompt, options, seed)
        self._submit(work, new_stream=True)
        return Stream(self, work)

    def _stream_closed(self, work: _Work) -> None:
        with self._lock:
            if not work.gone:
                work.gone = True
                self._open_streams -= 1

    # --- the worker thread --------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._line and not self._stopping:
                    self._lock.wait()
                if not self._line:
                    return  # stopping, nothing left
                first = self._line[0]
                if first.kind == "speak" and self.max_batch > 1:
                    self._gather(first)
                taken = self._take()
                busy = sum(w.kind != "stream" for w in taken)
                self._busy += busy
            start = time.perf_counter()
            try:
                self._work(taken)
            finally:
                with self._lock:
                    self._busy -= busy
                elapsed = time.perf_counter() - start
                self._seconds_per_item = 0.8 * self._seconds_per_item + 0.2 * elapsed

    def _gather(self, first: _Work) -> None:
        """Wait (lock held) until ``max_batch`` texts like ``first`` wait or ``batch_wait``
        has passed."""
        deadline = time.monotonic() + self.batch_wait
        key = first.batch_key
        while not self._stopping:
            like = sum(1 for w in self._line if w.kind == "speak" and w.batch_key == key)
            left = deadline - time.monotonic()
            if like >= self.max_batch or left <= 0:
                return
            self._lock.wait(left)

    def _take(self) -> list[_Work]:
        """(Lock held.) The first live work, with the texts that batch with it."""
        while self._line and self._line[0].dropped():
            self._line.popleft()
        if not self._line:
            return []
        first = self._line.popleft()
        if first.kind != "speak":
            return [first]
        batch, key, rest = [first], first.batch_key, deque()
        while self._line:
            work = self._line.popleft()
            if (
                len(batch) < self.max_batch
                and work.kind == "speak"
                and not work.dropped()
                and work.batch_key == key
            ):
                batch.append(work)
            elif not work.dropped():
                rest.append(work)
        self._line = rest
        return batch

    def _work(self, taken: list[_Work]) -> None:
        if not taken:
            return
        kind = taken[0].kind
        if kind == "speak":
            self._speak(taken)
        elif kind == "stream":
            self._advance(taken[0])
        else:
            work = taken[0]
            try:
                _answer(work, result=work.fn(self.synth))
            except Exception as err:  # handed to the waiter
                _answer(work, error=err)

    def _speak(self, batch: list[_Work]) -> None:
        texts = [w.text for w in batch]
        prompt, options = batch[0].prompt, batch[0].options
        try:
            speeches = self.synth.speak_batch(
                texts, prompt.audio, prompt.text, options, [w.seed for w in batch]
            )
        except FlowvoxError as err:
            if len(batch) == 1:
                _answer(batch[0], error=err)
                return
            for work in batch:  # find the text the synthesizer refuses; answer the others
                self._speak([work])
            return
        except Exception as err:  # a 500 for each waiter; the log has it
            LOG.exception("synthesis failed for a batch of %d", len(batch))
            for work in batch:
                _answer(work, error=err)
            return
        for work, speech in zip(batch, speeches, strict=True):
            _answer(work, result=Spoken(speech, work.seed, len(batch)))

    def _advance(self, work: _Work) -> None:
        """Make the next piece of a stream and put the stream back in line."""
        try:
            if work.pieces is None:
                options = work.options.replace(seed=work.seed)
                work.pieces = self.synth.stream(
                    work.text, work.prompt.audio, work.prompt.text, options
                )
            piece = next(work.pieces, _END)
        except Exception as err:  # handed to the waiter
            if not isinstance(err, FlowvoxError):
                LOG.exception("streaming synthesis failed")
            _put(work, err)
            return
        _put(work, piece)
        if piece is not _END:
            with self._lock:
                if not work.gone:
                    self._line.append(work)
                    self._lock.notify_all()
        if piece is _END or work.gone:
            work.pieces.close()


def _answer(work: _Work, result: Any = None, error: BaseException | None = None) -> None:
    def settle() -> None:
        if work.waiter.done():
            return
        if error is not None:
            work.waiter.set_exception(error)
        else:
            work.waiter.set_result(result)

    work.loop.call_soon_threadsafe(settle)


def _put(work: _Work, message: Any) -> None:
    work.loop.call_soon_threadsafe(work.waiter.put_nowait, message)


class Stream:
    """The audio pieces of one streamed text, for ``async for``; ``close()`` (or leaving
    the loop) tells the engine to stop making them."""

    def __init__(self, engine: Engine, work: _Work) -> None:
        self._engine = engine
        self._work = work
        self.seed = work.seed

    async def next_piece(self, timeout: float) -> np.ndarray | None:
        """The next piece (s,) float32, None at the end; ``TimeoutError`` past ``timeout``
        s, the synthesizer's error (``FlowvoxError``) as it comes."""
        message = await asyncio.wait_for(self._work.waiter.get(), timeout)
        if message is _END:
            self.close()
            return None
        if isinstance(message, BaseException):
            self.close()
            raise message
        return message

    async def pieces(self, timeout: float) -> AsyncIterator[np.ndarray]:
        try:
            while (piece := await self.next_piece(timeout)) is not None:
                yield piece
        finally:
            self.close()

    def close(self) -> None:
        self._engine._stream_closed(self._work)
