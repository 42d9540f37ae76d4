"""Frame-budget batching: batches of similar-length utterances under a padded-frame budget.

One epoch, computed the same way on every rank from (seed, epoch):
1. sort items by length (stable) and cut the order into ``num_buckets`` buckets of equal
   count; with ``shuffle`` the items inside each bucket are permuted;
2. walk that order and pack greedily: an item joins the open batch while
   (items + 1) · max(longest, its length) ≤ ``max_frames`` and items + 1 ≤ ``max_items``,
   i.e. the budget counts padded frames; else it opens the next batch;
3. with ``shuffle`` the batch order is permuted;
4. batch k goes to rank k mod ``world_size``. Every rank gets floor(B / world_size)
   batches; the last B mod world_size batches (fewer than world_size) are left out this
   epoch, so ranks see disjoint utterances and equal batch counts. With ``shuffle`` which
   batches are left out changes every epoch.

An item longer than ``max_frames`` becomes a batch of its own (the budget cannot be kept
for it); the sampler warns once, when it is built. ``drop_last`` drops the last batch of
the packing pass when it is not full (it could take another item of its longest length).
Because in-bucket shuffling changes the packing, ``len()`` (batches of the current epoch
on this rank) can differ by a batch or two between epochs.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler

from flowvox.errors import FlowvoxError

# keys of state_dict() that must agree for a resumed run to continue the same batch stream
_FINGERPRINT = (
    "num_items",
    "max_frames",
    "max_items",
    "num_buckets",
    "shuffle",
    "seed",
    "drop_last",
    "world_size",
)


class FrameBudgetBatchSampler(Sampler[list[int]]):
    """Yields lists of dataset indices; use as ``DataLoader(batch_sampler=...)``.

    Call ``set_epoch(e)`` before each epoch. ``state_dict()`` / ``load_state_dict()`` hold
    the epoch and the position in it, so a resumed run continues at the exact next batch.
    """

    def __init__(
        self,
        lengths: Sequence[int],
        max_frames: int,
        max_items: int | None = None,
        num_buckets: int = 16,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.lengths = np.asarray(lengths, dtype=np.int64)
        if self.lengths.ndim != 1 or len(self.lengths) == 0:
            raise FlowvoxError("FrameBudgetBatchSampler: lengths must be a non-empty list")
        if self.lengths.min() < 1:
            raise FlowvoxError("FrameBudgetBatchSampler: every length must be at least 1 frame")
        if max_frames < 1 or (max_items is not None and max_items < 1) or num_buckets < 1:
            raise FlowvoxError(
                "FrameBudgetBatchSampler: max_frames, max_items and num_buckets must be positive"
            )
        if world_size < 1 or not 0 <= rank < world_size:
            raise FlowvoxError(
                f"FrameBudgetBatchSampler: rank {rank} is outside world_size {world_size}"
            )
        if seed < 0:
            raise FlowvoxError(f"FrameBudgetBatchSampler: seed must be >= 0, got {seed}")
        self.max_frames, self.max_items, self.num_buckets = max_frames, max_items, num_buckets
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._position = 0  # batches handed out in this epoch on this rank
        self._start = 0  # where the next __iter__ begins (set by load_state_dict)
        self._cached: tuple[int, list[list[int]]] | None = None  # (epoch, rank batches)

        too_long = int(np.count_nonzero(self.lengths > max_frames))
        if too_long:
            warnings.warn(
                f"{too_long} item(s) are longer than max_frames={max_frames} (longest "
                f"{int(self.lengths.max())}); each forms a batch of its own. Raise max_frames "
                "or filter long utterances out.",
                stacklevel=2,
            )
        if len(self.global_batches(0)) < world_size:
            raise FlowvoxError(
                f"FrameBudgetBatchSampler: only {len(self.global_batches(0))} "
                f"batch(es) for {world_size} ranks; lower max_frames or add data"
            )

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch; a new epoch starts at its first batch."""
        if epoch != self.epoch:
            self.epoch, self._position, self._start = epoch, 0, 0

    def global_batches(self, epoch: int) -> list[list[int]]:
        """All ranks' batches of ``epoch``, in order (step 1–3 of the module docstring)."""
        rng = np.random.default_rng((self.seed, epoch))
        order = np.argsort(self.lengths, kind="stable")
        if self.shuffle:
            buckets = np.array_split(order, min(self.num_buckets, len(order)))
            order = np.concatenate([rng.permutation(bucket) for bucket in buckets])
        batches = self._pack(order)
        if self.shuffle:
            batches = [batches[k] for k in rng.permutation(len(batches))]
        return batches

    def _pack(self, order: np.ndarray) -> list[list[int]]:
        batches: list[list[int]] = []
        current: list[int] = []
        longest = 0
        for index in order.tolist():
            length = int(self.lengths[index])
            grown = max(longest, length)
            fits = (len(current) + 1) * grown <= self.max_frames and (
                self.max_items is None or len(current) + 1 <= self.max_items
            )
            if current and not fits:
                batches.append(current)
                current, grown = [], length
            current.append(index)
            longest = grown
        full = (len(current) + 1) * longest > self.max_frames or (
            self.max_items is not None and len(current) + 1 > self.max_items
        )
        if not (self.drop_last and not full and batches):
            batches.append(current)
        return batches

    def rank_batches(self, epoch: int) -> list[list[int]]:
        """This rank's batches of ``epoch`` (step 4 of the module docstring)."""
        if self._cached is None or self._cached[0] != epoch:
            batches = self.global_batches(epoch)
            per_rank = len(batches) // self.world_size
            mine = batches[self.rank :: self.world_size][:per_rank]
            self._cached = (epoch, mine)
        return self._cached[1]

    def __len__(self) -> int:
        return len(self.rank_batches(self.epoch))

    def __iter__(self) -> Iterator[list[int]]:
        batches = self.rank_batches(self.epoch)
        start, self._start = self._start, 0
        for position in range(start, len(batches)):
            self._position = position + 1
            yield list(batches[position])

    def state_dict(self, consumed: int | None = None) -> dict:
        """Epoch and position (batches handed out so far this epoch), plus a fingerprint.

        A ``DataLoader`` fetches batches ahead of training; pass ``consumed`` (the batches
        the trainer has actually used this epoch) so a resume repeats none and skips none.
        """
        return {
            "epoch": self.epoch,
            "position": self._position if consumed is None else int(consumed),
            "num_items": len(self.lengths),
            "max_frames": self.max_frames,
            "max_items": self.max_items,
            "num_buckets": self.num_buckets,
            "shuffle": self.shuffle,
            "seed": self.seed,
            "drop_last": self.drop_last,
            "world_size": self.world_size,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from ``state``: the next ``__iter__`` starts at its position."""
        mine = self.state_dict()
        changed = [k for k in _FINGERPRINT if state.get(k) != mine[k]]
        if changed:
            detail = ", ".join(f"{k}: saved {state.get(k)} vs now {mine[k]}" for k in changed)
            raise FlowvoxError(
                f"sampler state does not match this sampler ({detail}); resume "
                "with the same data and batching settings"
            )
        self.epoch = int(state["epoch"])
        self._position = self._start = int(state["position"])
