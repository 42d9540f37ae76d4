"""Masked MSE against hand computation."""
# b: batch, n: frames, d: channels

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import flow_matching_loss

# (b=2, n=3, d=2); pred = 0 so each element's squared error is target^2.
TARGET = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], [[1.0, 1.0], [2.0, 2.0], [9.0, 9.0]]])
PRED = torch.zeros(2, 3, 2)


def test_no_mask_is_plain_mean():
    expected = (1 + 4 + 9 + 16 + 25 + 36 + 1 + 1 + 4 + 4 + 81 + 81) / 12
    assert flow_matching_loss(PRED, TARGET).item() == pytest.approx(expected)


def test_frame_mask_counts_valid_elements():
    mask = torch.tensor([[True, True, False], [True, False, False]])  # 3 valid frames x d=2
    expected = (1 + 4 + 9 + 16 + 1 + 1) / 6
    assert flow_matching_loss(PRED, TARGET, mask).item() == pytest.approx(expected)
    as_float = flow_matching_loss(PRED, TARGET, mask.float())
    assert as_float.item() == pytest.approx(expected)


def test_element_mask_of_full_shape():
    mask = torch.zeros(2, 3, 2, dtype=torch.bool)
    mask[0, 2, 1] = mask[1, 0, 0] = True
    assert flow_matching_loss(PRED, TARGET, mask).item() == pytest.approx((36 + 1) / 2)


def test_fully_masked_batch_is_zero_with_zero_gradient():
    pred = torch.randn(2, 3, 2, requires_grad=True)
    loss = flow_matching_loss(pred, TARGET, torch.zeros(2, 3, dtype=torch.bool))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_nan_at_padding_does_not_leak():
    pred = torch.zeros(2, 3, 2)
    pred[0, 2] = float("nan")
    pred[1, 1] = float("inf")
    pred.requires_grad_(True)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    loss = flow_matching_loss(pred, TARGET, mask)
    loss.backward()
    assert loss.item() == pytest.approx((1 + 4 + 9 + 16 + 1 + 1) / 6)
    assert torch.isfinite(pred.grad).all()
    expected_grad = torch.where(mask[..., None], 2 * (0 - TARGET) / 6, 0.0)
    torch.testing.assert_close(pred.grad, expected_grad)


def test_bad_shapes_are_user_errors():
    with pytest.raises(FlowvoxError, match="same shape"):
        flow_matching_loss(PRED, TARGET[:, :2])
    with pytest.raises(FlowvoxError, match="mask"):
        flow_matching_loss(PRED, TARGET, torch.ones(2, 4, dtype=torch.bool))
