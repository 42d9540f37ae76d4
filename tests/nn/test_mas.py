"""Monotonic alignment search against a plain numpy dynamic programme and brute force."""
# b: batch, l: tokens, n: frames, f: mel channels

import itertools
import math

import numpy as np
import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.nn.mas import alignment_log_likelihood, monotonic_alignment_search, prior_loss


def reference_path(log_p: np.ndarray) -> np.ndarray:
    """Glow-TTS's loops for one item (L, N): forward table, then backtrack; ties stay."""
    n_tok, n_fr = log_p.shape
    q = np.full((n_tok, n_fr), -np.inf, dtype=log_p.dtype)
    q[0, 0] = log_p[0, 0]
    for j in range(1, n_fr):
        for i in range(min(n_tok, j + 1)):
            came_from = q[i - 1, j - 1] if i > 0 else -np.inf
            q[i, j] = log_p[i, j] + max(q[i, j - 1], came_from)
    path = np.zeros((n_tok, n_fr), dtype=np.int64)
    i = n_tok - 1
    for j in range(n_fr - 1, -1, -1):
        path[i, j] = 1
        if i > 0 and (i == j or q[i, j - 1] < q[i - 1, j - 1]):
            i -= 1
    return path


def random_batch(seed, b, n_tok, n, dtype):
    g = torch.Generator().manual_seed(seed)
    t_len = torch.randint(1, n_tok + 1, (b,), generator=g)
    t_len[0] = n_tok  # at least one item fills the token axis
    f_len = torch.stack([torch.randint(int(k), n + 1, (1,), generator=g)[0] for k in t_len])
    log_p = torch.randn(b, n_tok, n, generator=g, dtype=torch.float64).to(dtype)
    return log_p, t_len, f_len


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_padded_batches_match_reference_per_item(dtype):
    cases = 0
    for seed, (b, n_tok, n) in enumerate(
        [(6, 1, 5), (6, 4, 4), (8, 5, 17), (8, 12, 30), (6, 20, 41)]
    ):
        log_p, t_len, f_len = random_batch(seed, b, n_tok, n, dtype)
        out = monotonic_alignment_search(log_p, t_len, f_len)
        assert out.path.shape == (b, n_tok, n) and out.path.dtype == dtype
        assert out.durations.shape == (b, n_tok) and out.durations.dtype == torch.long
        for k in range(b):
            tk, fk = int(t_len[k]), int(f_len[k])
            expected = reference_path(log_p[k, :tk, :fk].numpy())
            np.testing.assert_array_equal(out.path[k, :tk, :fk].numpy(), expected)
            assert out.path[k].sum() == fk  # nothing outside the item's region
            # the item alone gives its row of the batch
            alone = monotonic_alignment_search(log_p[k : k + 1, :tk, :fk])
            torch.testing.assert_close(alone.path[0], out.path[k, :tk, :fk], rtol=0, atol=0)
            cases += 1
    assert cases == 34


def test_ties_follow_reference_rule():
    # Integer scores from {-1, 0} give exact sums and many ties; the stay-on-tie rule must match.
    g = torch.Generator().manual_seed(7)
    for trial in range(20):
        n_tok, n = 2 + trial % 6, 8 + trial
        log_p = -torch.randint(0, 2, (1, n_tok, n), generator=g).double()
        out = monotonic_alignment_search(log_p)
        np.testing.assert_array_equal(out.path[0].numpy(), reference_path(log_p[0].numpy()))


def test_path_is_optimal_by_brute_force():
    g = torch.Generator().manual_seed(3)
    for n_tok, n in [(1, 4), (2, 5), (3, 7), (4, 8)]:
        log_p = torch.randn(1, n_tok, n, generator=g, dtype=torch.float64)
        best = -math.inf
        for cuts in itertools.combinations(range(1, n), n_tok - 1):  # token boundaries
            edges = (0, *cuts, n)
            score = sum(float(log_p[0, i, edges[i] : edges[i + 1]].sum()) for i in range(n_tok))
            best = max(best, score)
        found = float((monotonic_alignment_search(log_p).path * log_p).sum())
        assert found == pytest.approx(best, abs=1e-12)


def test_path_properties_on_padded_batch():
    log_p, t_len, f_len = random_batch(11, 8, 15, 40, torch.float32)
    out = monotonic_alignment_search(log_p, t_len, f_len)
    torch.testing.assert_close(out.durations, out.path.sum(-1).long())
    assert torch.equal(out.durations.sum(-1), f_len)
    token_mask = torch.arange(15)[None, :] < t_len[:, None]
    assert bool((out.durations[token_mask] >= 1).all())
    assert bool((out.durations[~token_mask] == 0).all())
    frames = torch.arange(40)[None, :] < f_len[:, None]
    assert torch.equal(out.path.sum(1) == 1, frames)  # each real frame on exactly one token
    token_of_frame = out.path.argmax(1)  # (b, n)
    steps = token_of_frame.diff(dim=1)  # (b, n-1)
    real_steps = frames[:, 1:]
    assert bool(((steps[real_steps] == 0) | (steps[real_steps] == 1)).all())


def test_nan_padding_does_not_leak():
    log_p, t_len, f_len = random_batch(5, 4, 6, 12, torch.float64)
    clean = monotonic_alignment_search(log_p, t_len, f_len)
    dirty = log_p.clone()
    for k in range(4):
        dirty[k, int(t_len[k]) :, :] = math.nan
        dirty[k, :, int(f_len[k]) :] = math.inf
    assert torch.equal(monotonic_alignment_search(dirty, t_len, f_len).path, clean.path)


def test_lengths_are_checked():
    log_p = torch.randn(2, 4, 6)
    with pytest.raises(FlowvoxError, match="item 1"):
        monotonic_alignment_search(log_p, torch.tensor([4, 4]), torch.tensor([6, 3]))
    with pytest.raises(FlowvoxError, match="item 0"):
        monotonic_alignment_search(log_p, torch.tensor([0, 4]), torch.tensor([6, 6]))
    with pytest.raises(FlowvoxError, match="batch, tokens, frames"):
        monotonic_alignment_search(log_p[0])


def test_alignment_log_likelihood_is_gaussian_log_density():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(2, 3, 5, generator=g)  # (b, l, f)
    mel = torch.randn(2, 7, 5, generator=g)  # (b, n, f)
    got = alignment_log_likelihood(mu, mel)  # (b, l, n)
    normal = torch.distributions.Normal(mu[:, :, None, :], 1.0)
    expected = normal.log_prob(mel[:, None, :, :]).sum(-1)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)
    assert alignment_log_likelihood(mu.half(), mel.half()).dtype == torch.float32


def test_prior_loss_counts_real_frames_only():
    mu = torch.zeros(2, 4, 3)
    mel = torch.ones(2, 4, 3)
    mask = torch.tensor([[True, True, False, False], [True, True, True, True]])
    mel_padded = mel.masked_fill(~mask[..., None], 100.0)
    expected = 0.5 * (1.0 + math.log(2 * math.pi))
    assert float(prior_loss(mu, mel_padded, mask)) == pytest.approx(expected)
