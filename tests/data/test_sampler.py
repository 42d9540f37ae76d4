"""Frame-budget batch sampler: budgets, coverage, ranks, epochs, determinism, resume."""

import itertools

import numpy as np
import pytest

from flowvox.data import FrameBudgetBatchSampler
from flowvox.errors import FlowvoxError


def random_lengths(count=300, seed=0):
    return np.random.default_rng(seed).integers(10, 300, size=count).tolist()


def make(lengths=None, **kwargs):
    options = {"max_frames": 1000, "max_items": 8, "num_buckets": 6, "seed": 3, **kwargs}
    return FrameBudgetBatchSampler(random_lengths() if lengths is None else lengths, **options)


def test_known_packing_without_shuffle():
    # sorted order 1(1) 3(2) 2(3) 4(4) 0(5); padded sizes: [1,3] -> 2*2, then 2*3 > 6 ...
    sampler = FrameBudgetBatchSampler([5, 1, 3, 2, 4], max_frames=6, shuffle=False)
    assert list(sampler) == [[1, 3], [2], [4], [0]]
    assert len(sampler) == 4


@pytest.mark.parametrize("epoch", [0, 1, 5])
def test_budget_and_each_index_once(epoch):
    lengths = random_lengths()
    sampler = make(lengths)
    sampler.set_epoch(epoch)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    for batch in batches:
        assert len(batch) <= 8
        assert len(batch) * max(lengths[i] for i in batch) <= 1000  # padded frames
    flat = sorted(itertools.chain.from_iterable(batches))
    assert flat == list(range(len(lengths)))


def test_batches_are_filled():
    # no two consecutive batches of a sorted pass could have been merged: packing is greedy
    lengths = random_lengths()
    batches = make(lengths, shuffle=False).global_batches(0)
    for a, b in itertools.pairwise(batches):
        merged = a + [b[0]]
        assert len(merged) > 8 or len(merged) * max(lengths[i] for i in merged) > 1000


def test_ranks_disjoint_with_equal_counts():
    lengths = random_lengths()
    for epoch in (0, 1):
        per_rank = []
        for rank in range(3):
            sampler = make(lengths, rank=rank, world_size=3)
            sampler.set_epoch(epoch)
            per_rank.append(list(sampler))
        counts = [len(batches) for batches in per_rank]
        assert len(set(counts)) == 1 and counts[0] > 0
        seen = [set(itertools.chain.from_iterable(b)) for b in per_rank]
        for a, b in itertools.combinations(seen, 2):
            assert not a & b
        total = len(make(lengths).global_batches(epoch))
        assert counts[0] == total // 3  # remainder (< world_size batches) left out


def test_epochs_differ_and_seeds_repeat():
    a, b, c = make(), make(), make(seed=4)
    epoch0 = list(a)
    a.set_epoch(1)
    assert list(a) != epoch0
    assert list(b) == epoch0  # same seed, same epoch: same batches
    assert list(c) != epoch0
    b.set_epoch(1)
    a.set_epoch(1)
    assert list(a) == list(b)


def test_state_dict_resume_gives_the_straight_run():
    straight = make()
    expected = []
    for epoch in (0, 1):
        straight.set_epoch(epoch)
        expected += list(straight)

    first = make()
    first.set_epoch(0)
    taken = list(itertools.islice(iter(first), 5))
    state = first.state_dict()
    assert state["epoch"] == 0 and state["position"] == 5

    resumed = make()
    resumed.load_state_dict(state)
    resumed.set_epoch(0)  # the same epoch keeps the position
    rest = list(resumed)
    resumed.set_epoch(1)
    rest += list(resumed)
    assert taken + rest == expected


def test_consumed_overrides_prefetched_position():
    first = make()
    iterator = iter(first)
    fetched = [next(iterator) for _ in range(7)]  # a DataLoader fetched 7, trained on 4
    resumed = make()
    resumed.load_state_dict(first.state_dict(consumed=4))
    assert list(resumed)[:3] == fetched[4:7]
    assert list(resumed) == list(make())  # a second pass of the epoch starts at the top


def test_load_state_dict_rejects_other_settings():
    state = make().state_dict()
    with pytest.raises(FlowvoxError, match="max_frames: saved 1000 vs now 900"):
        make(max_frames=900).load_state_dict(state)


def test_too_long_item_gets_its_own_batch_with_one_warning():
    with pytest.warns(UserWarning, match="1 item") as record:
        sampler = FrameBudgetBatchSampler([10, 2000, 10, 10], max_frames=100, seed=1)
    assert len(record) == 1
    for epoch in range(3):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert [1] in batches
        assert sorted(itertools.chain.from_iterable(batches)) == [0, 1, 2, 3]


def test_drop_last_drops_only_an_underfilled_last_batch():
    full = FrameBudgetBatchSampler([10] * 25, max_frames=100, shuffle=False)
    assert [len(b) for b in full] == [10, 10, 5]
    dropped = FrameBudgetBatchSampler([10] * 25, max_frames=100, shuffle=False, drop_last=True)
    assert [len(b) for b in dropped] == [10, 10]
    exact = FrameBudgetBatchSampler([10] * 20, max_frames=100, shuffle=False, drop_last=True)
    assert [len(b) for b in exact] == [10, 10]


def test_invalid_arguments():
    with pytest.raises(FlowvoxError, match="ranks"):
        FrameBudgetBatchSampler([10, 10], max_frames=100, world_size=4)
    with pytest.raises(FlowvoxError, match="rank 2"):
        FrameBudgetBatchSampler([10, 10], max_frames=100, rank=2, world_size=2)
    with pytest.raises(FlowvoxError, match="at least 1 frame"):
        FrameBudgetBatchSampler([10, 0], max_frames=100)
