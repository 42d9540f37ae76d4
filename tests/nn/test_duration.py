"""Duration predictor, loss, rounding rule, expansion to frames (against loop references)."""
# b: batch, l: tokens, n: frames, d: channels

import math

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.nn.duration import (
    DurationPredictor,
    DurationPredictorConfig,
    duration_loss,
    durations_from_log,
    expand_by_durations,
    path_from_durations,
)
from flowvox.nn.mas import monotonic_alignment_search


def lengths_mask(lengths, n_tok):
    return torch.arange(n_tok)[None, :] < torch.tensor(lengths)[:, None]


def expand_loop(h, durations):
    """Reference: per item, repeat_interleave then pad with zeros to the longest."""
    rows = [h[k].repeat_interleave(durations[k], dim=0) for k in range(h.shape[0])]
    n = max(r.shape[0] for r in rows)
    out = torch.zeros(h.shape[0], n, h.shape[2], dtype=h.dtype)
    for k, r in enumerate(rows):
        out[k, : r.shape[0]] = r
    return out


def test_expand_matches_loop_reference():
    g = torch.Generator().manual_seed(0)
    for trial in range(10):
        b, n_tok = 1 + trial % 4, 1 + trial
        h = torch.randn(b, n_tok, 6, generator=g)
        durations = torch.randint(0, 5, (b, n_tok), generator=g)  # zeros included
        durations[0, 0] = 1  # at least one frame in the batch
        ex = expand_by_durations(h, durations)
        torch.testing.assert_close(ex.x, expand_loop(h, durations), rtol=0, atol=0)
        assert torch.equal(ex.mask.sum(1), durations.sum(1))
        assert torch.equal(ex.mask, ex.x.abs().sum(-1) > 0)  # randn rows are never all zero


def test_expand_pads_to_n_frames_and_checks():
    h = torch.arange(6.0).reshape(1, 3, 2)
    ex = expand_by_durations(h, torch.tensor([[2, 0, 1]]), n_frames=5)
    assert ex.x[0, :, 0].tolist() == [0.0, 0.0, 4.0, 0.0, 0.0]
    assert ex.token_index[0, :3].tolist() == [0, 0, 2]
    assert ex.mask[0].tolist() == [True, True, True, False, False]
    with pytest.raises(FlowvoxError, match="n_frames"):
        expand_by_durations(h, torch.tensor([[2, 0, 1]]), n_frames=2)
    with pytest.raises(FlowvoxError, match="≥ 0"):
        expand_by_durations(h, torch.tensor([[2, -1, 1]]))


def test_expansion_agrees_with_mas_path():
    g = torch.Generator().manual_seed(4)
    t_len, f_len = torch.tensor([6, 3, 5]), torch.tensor([20, 9, 14])
    align = monotonic_alignment_search(torch.randn(3, 6, 20, generator=g), t_len, f_len)
    mu = torch.randn(3, 6, 4, generator=g)  # (b, l, f)
    by_path = torch.einsum("bln,blf->bnf", align.path, mu)  # Matcha: μ_y = Aᵀ μ
    ex = expand_by_durations(mu, align.durations, n_frames=20)
    torch.testing.assert_close(ex.x, by_path)
    assert torch.equal(path_from_durations(align.durations, 20), align.path)


def test_durations_from_log_rule():
    mask = lengths_mask([4, 2], 4)
    # 7.0 round-trips through float32 log/exp as 7.0000005: still 7 frames, 7.01 is 8
    dur = torch.tensor([[2.0, 2.5, 0.2, 7.0], [1.0, 3.01, 9.0, 9.0]])
    got = durations_from_log(dur.log(), mask)
    assert got.dtype == torch.long
    assert got.tolist() == [[2, 3, 1, 7], [1, 4, 0, 0]]  # ceil, ≥ 1, 0 on padding
    assert durations_from_log(torch.tensor([[math.log(7.01)]]), mask[:1, :1]).tolist() == [[8]]
    assert durations_from_log(dur.log(), mask, 2.0).tolist() == [[1, 2, 1, 4], [1, 2, 0, 0]]
    per_item = durations_from_log(dur.log(), mask, torch.tensor([1.0, 0.5]))
    assert per_item.tolist() == [[2, 3, 1, 7], [2, 7, 0, 0]]
    with pytest.raises(FlowvoxError, match="speed"):
        durations_from_log(dur.log(), mask, 0.0)


def test_duration_loss_is_masked_log_mse():
    mask = lengths_mask([2, 1], 2)
    durations = torch.tensor([[1, 4], [2, 0]])
    pred = torch.tensor([[0.0, 0.0], [math.log(2.0), 50.0]])  # padding prediction ignored
    expected = (0.0 + math.log(4.0) ** 2 + 0.0) / 3
    assert float(duration_loss(pred, durations, mask)) == pytest.approx(expected)


def test_predictor_shapes_padding_and_detach():
    torch.manual_seed(0)
    cfg = DurationPredictorConfig(in_dim=16, hidden_dim=32)
    pred = DurationPredictor(cfg).eval()
    h = torch.randn(3, 7, 16, requires_grad=True)
    lengths = [7, 4, 1]
    mask = lengths_mask(lengths, 7)
    log_dur = pred(h, mask)
    assert log_dur.shape == (3, 7) and bool((log_dur[~mask] == 0).all())
    for k, n_tok in enumerate(lengths):
        alone = pred(h[k : k + 1, :n_tok], torch.ones(1, n_tok, dtype=torch.bool))
        torch.testing.assert_close(log_dur[k, :n_tok], alone[0], rtol=1e-5, atol=1e-6)
    pred.train()
    loss = duration_loss(pred(h, mask), torch.full((3, 7), 3), mask)
    loss.backward()
    assert h.grad is None  # detached: the encoder is not trained by this loss
    assert pred.proj.weight.grad.abs().sum() > 0
    attached = DurationPredictor(DurationPredictorConfig(in_dim=16, detach_input=False))
    attached(h, mask).sum().backward()
    assert h.grad is not None


def test_predictor_learns_durations():
    torch.manual_seed(1)
    pred = DurationPredictor(DurationPredictorConfig(in_dim=8, hidden_dim=32, dropout=0.0))
    h = torch.randn(4, 6, 8)
    mask = lengths_mask([6, 5, 4, 6], 6)
    target = torch.randint(1, 9, (4, 6))
    opt = torch.optim.Adam(pred.parameters(), lr=3e-2)
    with torch.no_grad():
        first = float(duration_loss(pred(h, mask), target, mask))
    for _ in range(30):
        opt.zero_grad()
        loss = duration_loss(pred(h, mask), target, mask)
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.1 * first
