"""Span-infilling objective: span draw, loss on the span only, CFG dropout rates, gradients."""
# b: batch, n: frames, f: mel bins

import dataclasses

import pytest
import torch
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.nn.masks import lengths_to_mask, pad_token_ids, random_span_mask
from tests.models.infill_helpers import LENGTHS, TEXTS, tiny_model


def mel_batch(seed: int = 0, n: int = 37):
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(LENGTHS)
    mel = torch.randn(len(LENGTHS), n, 100, generator=gen)
    mel = mel.masked_fill(~lengths_to_mask(lengths, n)[..., None], 0.0)
    return mel, lengths, pad_token_ids(TEXTS)


class FrameLocal(nn.Module):
    """Stand-in backbone whose output at a frame depends only on that frame's inputs."""

    def __init__(self, text_embed: nn.Module) -> None:
        super().__init__()
        self.text_embed = text_embed

    def forward(self, x_t, cond, text, t, mask, drop_audio_cond):
        return 0.5 * x_t + 0.25 * cond


def test_random_span_is_contiguous_inside_the_length_and_70_to_100_percent():
    lengths = torch.randint(5, 300, (2000,), generator=torch.Generator().manual_seed(0))
    span = random_span_mask(lengths, 300, (0.7, 1.0), torch.Generator().manual_seed(1))
    size = span.sum(1)
    assert (size >= (0.7 * lengths).floor() - 1).all() and (size <= lengths).all()
    assert not (span & ~lengths_to_mask(lengths, 300)).any()
    edges = (span[:, 1:] != span[:, :-1]).sum(1) + span[:, 0].long() + span[:, -1].long()
    assert (edges <= 2).all()  # one run of True per row
    frac = (size / lengths).mean().item()
    assert 0.83 < frac < 0.87  # E[u] = 0.85


def test_loss_is_the_masked_mse_of_the_span():
    model = tiny_model("tiny")
    mel, lengths, ids = mel_batch()
    out = model.loss(mel, lengths, ids, torch.Generator().manual_seed(3))
    span = out.draw.span_mask
    assert torch.isfinite(out.loss) and out.loss.ndim == 0
    assert out.span_frames == span.sum() and span.sum() > 0
    expected = (out.pred - out.target)[span].square().mean()
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.target, mel - out.draw.x_0)  # rectified path target
    assert out.cond[span].abs().max() == 0  # the span is hidden from the prompt
    torch.testing.assert_close(out.cond[~span], mel[~span])


def test_only_span_frames_contribute():
    model = tiny_model("tiny")
    model.transformer = FrameLocal(model.transformer.text_embed)
    mel, lengths, ids = mel_batch()
    draw = model.draw_training(lengths, mel.shape[1], torch.Generator().manual_seed(4), mel.dtype)
    base = model.loss_with_draw(mel, lengths, ids, draw).loss
    outside = ~draw.span_mask[..., None]
    moved_target = mel + 5.0 * outside  # non-span frames: other data, so other target
    moved_noise = dataclasses.replace(draw, x_0=draw.x_0 + 3.0 * outside)
    torch.testing.assert_close(model.loss_with_draw(moved_target, lengths, ids, draw).loss, base)
    torch.testing.assert_close(model.loss_with_draw(mel, lengths, ids, moved_noise).loss, base)
    inside = draw.span_mask[..., None]
    assert model.loss_with_draw(mel + inside, lengths, ids, draw).loss != base


def test_padding_frames_never_matter():
    model = tiny_model("tiny")
    mel, lengths, ids = mel_batch()
    draw = model.draw_training(lengths, mel.shape[1], torch.Generator().manual_seed(5), mel.dtype)
    padding = ~lengths_to_mask(lengths, mel.shape[1])[..., None]
    with torch.no_grad():
        base = model.loss_with_draw(mel, lengths, ids, draw).loss
        other = model.loss_with_draw(mel + 7.0 * padding, lengths, ids, draw).loss
    torch.testing.assert_close(other, base)


def test_sigma_min_changes_the_path():
    model = tiny_model("tiny", "sigma_min=0.1")
    mel, lengths, ids = mel_batch()
    out = model.loss(mel, lengths, ids, torch.Generator().manual_seed(6))
    torch.testing.assert_close(out.target, mel - 0.9 * out.draw.x_0)


def test_same_generator_same_loss():
    model = tiny_model("tiny", "dropout=0.0")
    model.train()
    mel, lengths, ids = mel_batch()
    a = model.loss(mel, lengths, ids, torch.Generator().manual_seed(7)).loss
    b = model.loss(mel, lengths, ids, torch.Generator().manual_seed(7)).loss
    c = model.loss(mel, lengths, ids, torch.Generator().manual_seed(8)).loss
    assert a == b and a != c


@pytest.mark.parametrize("audio,both", [(0.3, 0.2), (0.5, 0.0), (0.0, 0.5)])
def test_cfg_dropout_rates_per_sample(audio, both):
    model = tiny_model("tiny", f"audio_drop_prob={audio}", f"cond_drop_prob={both}")
    b = 20000
    draw = model.draw_training(
        torch.full((b,), 10), 10, torch.Generator().manual_seed(9), torch.float32
    )
    text_only = draw.drop_text & ~draw.drop_audio
    assert not text_only.any()  # text is only ever dropped together with the audio
    p_text = draw.drop_text.float().mean().item()
    p_audio = draw.drop_audio.float().mean().item()
    assert abs(p_text - both) < 0.015
    assert abs(p_audio - (1 - (1 - audio) * (1 - both))) < 0.015
    p_audio_only = (draw.drop_audio & ~draw.drop_text).float().mean().item()
    assert abs(p_audio_only - audio * (1 - both)) < 0.015


def test_time_sampling_uniform_and_logit_normal():
    gen = torch.Generator().manual_seed(10)
    lengths = torch.full((20000,), 4)
    uniform = tiny_model("tiny").draw_training(lengths, 4, gen, torch.float32).t
    logit = (
        tiny_model("tiny", "time_sampling=logit_normal")
        .draw_training(lengths, 4, gen, torch.float32)
        .t
    )
    middle = lambda t: ((t > 0.25) & (t < 0.75)).float().mean().item()  # noqa: E731
    assert abs(middle(uniform) - 0.5) < 0.015
    assert abs(middle(logit) - 0.7280) < 0.015  # P(|z| < logit(0.75) = 1.0986)


@pytest.mark.parametrize("preset", ["tiny", "e2_tiny"])
def test_gradients_reach_every_parameter(preset):
    model = tiny_model(preset, "long_skip=true" if preset == "tiny" else "e2_skip=concat")
    model.train()
    mel, lengths, ids = mel_batch()
    draw = model.draw_training(lengths, mel.shape[1], torch.Generator().manual_seed(11), mel.dtype)
    keep_all = torch.zeros_like(draw.drop_text)  # every condition used once in this step
    draw = dataclasses.replace(draw, drop_text=keep_all, drop_audio=keep_all)
    model.loss_with_draw(mel, lengths, ids, draw).loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_fresh_dit_first_step_only_moves_the_output_layer():
    model = tiny_model("tiny", randomize=False)  # AdaLN-zero: output layers start at zero
    mel, lengths, ids = mel_batch()
    model.loss(mel, lengths, ids, torch.Generator().manual_seed(12)).loss.backward()
    moved = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.any()}
    assert moved == {"transformer.proj_out.weight", "transformer.proj_out.bias"}


def test_e2_loss():
    model = tiny_model("e2_tiny")
    mel, lengths, ids = mel_batch()
    out = model.loss(mel, lengths, ids, torch.Generator().manual_seed(13))
    assert torch.isfinite(out.loss) and out.pred.shape == mel.shape


def test_bad_batches_are_clear_errors():
    model = tiny_model("tiny", randomize=False)
    mel, lengths, ids = mel_batch()
    gen = torch.Generator().manual_seed(0)
    with pytest.raises(FlowvoxError, match="mel has shape"):
        model.loss(mel[..., :80], lengths, ids, gen)
    with pytest.raises(FlowvoxError, match="mel_lengths must lie"):
        model.loss(mel, torch.tensor([37, 0, 31]), ids, gen)
    with pytest.raises(FlowvoxError, match="must be"):
        model.loss(mel, lengths[:2], ids, gen)
