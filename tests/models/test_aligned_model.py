"""The aligned flow-matching TTS model: alignment, losses, padding, guidance, synthesis."""
# b: batch, l: tokens, n: frames, f: mel bins

import math

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import time_grid
from flowvox.models.aligned.config import AlignedTTSConfig
from flowvox.models.aligned.model import AlignedDraw, AlignedTTS

VOCAB, F = 12, 100
TEXTS = [[1, 2, 3, 4, 5], [6, 7, 8], [9, 10, 11, 1, 2, 3, 4]]
FRAMES = [30, 17, 40]


def make_model(*overrides, seed=0, randomize=True, dtype=torch.float64):
    config = AlignedTTSConfig.preset("tiny", [f"text_vocab_size={VOCAB}", *overrides])
    torch.manual_seed(seed)
    model = AlignedTTS(config).to(dtype)
    if randomize:  # replace the zero-initialised AdaLN/output layers so outputs depend on all
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(torch.randn(p.shape, generator=gen, dtype=dtype) * 0.2)
    return model.eval()


def text_batch(texts=TEXTS):
    lengths = torch.tensor([len(t) for t in texts])
    ids = torch.zeros(len(texts), int(lengths.max()), dtype=torch.long)
    for i, t in enumerate(texts):
        ids[i, : len(t)] = torch.tensor(t)
    return ids, lengths


def mel_batch(dtype=torch.float64, seed=1):
    """Piecewise-constant mels (one level per token, 2-4 frames each, + noise), padded."""
    gen = torch.Generator().manual_seed(seed)
    levels = torch.randn(VOCAB, F, generator=gen, dtype=dtype)
    n = max(FRAMES)
    mel = torch.zeros(len(TEXTS), n, F, dtype=dtype)
    for i, (text, frames) in enumerate(zip(TEXTS, FRAMES, strict=True)):
        per = torch.linspace(0, len(text) - 1e-6, frames).long()  # token of each frame
        mel[i, :frames] = levels[torch.tensor(text)[per]]
    mel += 0.1 * torch.randn(mel.shape, generator=gen, dtype=dtype)
    lengths = torch.tensor(FRAMES)
    return mel.masked_fill(torch.arange(n)[None, :, None] >= lengths[:, None, None], 0), lengths


def test_shapes_and_mas_durations_sum_to_frame_lengths():
    model = make_model(dtype=torch.float32)
    ids, lengths = text_batch()
    mel, mel_lengths = mel_batch(torch.float32)
    out = model.loss(mel, mel_lengths, ids, lengths, torch.Generator().manual_seed(0))
    l_model = 2 * ids.shape[1] + 1  # blanks interspersed
    assert out.durations.shape == (3, l_model)
    assert torch.equal(out.durations.sum(1), mel_lengths)
    real = torch.arange(l_model)[None] < (2 * lengths + 1)[:, None]
    assert bool((out.durations[real] >= 1).all()) and bool((out.durations[~real] == 0).all())
    for term in (out.loss, out.flow, out.prior, out.duration):
        assert term.shape == () and torch.isfinite(term)
    assert out.draw.span_mask.shape == (3, max(FRAMES)) and out.draw.x_0.shape == mel.shape
    syn = model.synthesize(ids, lengths, nfe=2, cfg=0.5, generator=torch.Generator())
    n = int(syn.durations.sum(1).max())
    assert syn.mel.shape == (3, n, F) and syn.mask.shape == (3, n) and syn.nfe == 2
    assert torch.equal(syn.mask.sum(1), syn.durations.sum(1))
    assert bool((syn.mel[~syn.mask] == 0).all())


def test_padded_batch_equals_each_item_alone():
    model = make_model()
    ids, lengths = text_batch()
    mel, mel_lengths = mel_batch()
    n = mel.shape[1]
    enc = model.encode(ids, lengths)
    durations = model.align(enc, mel, mel_lengths)
    log_dur = model.duration_predictor(enc.hidden, enc.mask)
    gen = torch.Generator().manual_seed(3)
    x_t = torch.randn(mel.shape, generator=gen, dtype=mel.dtype)
    t = torch.rand(3, generator=gen, dtype=mel.dtype)
    mask = torch.arange(n)[None] < mel_lengths[:, None]
    no = torch.zeros(3, dtype=torch.bool)
    v = model.decoder(x_t, mel, enc.mu.new_zeros(mel.shape) + 0.5, t, mask, no, no)
    for i in range(3):
        k, m = int(enc.lengths[i]), int(mel_lengths[i])
        alone = model.encode(ids[i : i + 1, : lengths[i]], lengths[i : i + 1])
        assert torch.allclose(alone.mu[0], enc.mu[i, :k], atol=1e-10)
        one_mel = mel[i : i + 1, :m]
        assert torch.equal(model.align(alone, one_mel, mel_lengths[i : i + 1])[0], durations[i, :k])
        one_dur = model.duration_predictor(alone.hidden, alone.mask)[0]
        assert torch.allclose(one_dur, log_dur[i, :k], atol=1e-10)
        ones = torch.ones(1, m, dtype=torch.bool)
        v_one = model.decoder(
            x_t[i : i + 1, :m], one_mel, one_mel.new_zeros(one_mel.shape) + 0.5, t[i : i + 1],
            ones, no[:1], no[:1],
        )  # fmt: skip
        assert torch.allclose(v_one[0], v[i, :m], atol=1e-10)
    assert bool((v[~mask] == 0).all())


@pytest.mark.parametrize("path, sigma", [("otcfm", 1e-4), ("rectified", 0.0)])
@pytest.mark.parametrize("loss_on", ["span", "all"])
def test_flow_loss_at_init_is_the_path_target_over_the_counted_frames(path, sigma, loss_on):
    model = make_model(f"path={path}", f"loss_on={loss_on}", randomize=False)
    ids, lengths = text_batch()
    mel, mel_lengths = mel_batch()
    out = model.loss(mel, mel_lengths, ids, lengths, torch.Generator().manual_seed(4))
    u = mel - (1 - sigma) * out.draw.x_0  # the decoder outputs 0 at init (AdaLN-zero)
    valid = torch.arange(mel.shape[1])[None] < mel_lengths[:, None]
    counted = out.draw.span_mask & valid if loss_on == "span" else valid
    expected = u[counted].pow(2).mean()
    assert torch.allclose(out.flow, expected, rtol=1e-10)
    if loss_on == "span":
        fraction = out.draw.span_mask.sum(1) / mel_lengths
        assert bool((fraction >= 0.6).all()) and bool((out.draw.span_mask <= valid).all())


@pytest.mark.slow
def test_all_three_losses_fall_when_overfitting_one_batch():
    torch.manual_seed(0)
    config = AlignedTTSConfig.preset("tiny", [f"text_vocab_size={VOCAB}", "dropout=0.0"])
    model = AlignedTTS(config)
    ids, lengths = text_batch()
    mel, mel_lengths = mel_batch(torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    history = []
    for _ in range(30):
        out = model.loss(mel, mel_lengths, ids, lengths, torch.Generator().manual_seed(0))
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        history.append(
            [float(out.flow.detach()), float(out.prior.detach()), float(out.duration.detach())]
        )
    first, last = torch.tensor(history[0]), torch.tensor(history[-1])
    assert bool(torch.isfinite(torch.tensor(history)).all())
    floor = torch.tensor([0.0, 0.5 * math.log(2 * math.pi), 0.0])  # prior ≥ ½ log 2π
    drop = (last - floor) / (first - floor)  # flow, prior, duration
    assert bool((drop < 0.4).all()), drop


def test_guidance_as_one_doubled_batch_equals_separate_passes():
    model = make_model()
    ids, lengths = text_batch()
    w, nfe = 1.5, 3
    syn = model.synthesize(ids, lengths, nfe=nfe, cfg=w, generator=torch.Generator().manual_seed(7))
    # by hand: Euler, conditional and unconditional rows in separate decoder calls
    enc = model.encode(ids, lengths)
    from flowvox.nn.duration import expand_by_durations

    ex = expand_by_durations(enc.mu, syn.durations)
    x = torch.randn(ex.x.shape, generator=torch.Generator().manual_seed(7)).double()
    zero, no = torch.zeros_like(ex.x), torch.zeros(3, dtype=torch.bool)
    grid = time_grid(nfe, dtype=torch.float64)
    for t0, t1 in zip(grid[:-1], grid[1:], strict=True):
        t = t0.expand(3)
        v_c = model.decoder(x, zero, ex.x, t, ex.mask, no, no)
        v_u = model.decoder(x, zero, ex.x, t, ex.mask, ~no, ~no)
        x = x + (t1 - t0) * (v_c + w * (v_c - v_u))
    x = x.masked_fill(~ex.mask[..., None], 0.0)
    assert torch.allclose(syn.mel, x, atol=1e-10)
    plain = model.synthesize(ids, lengths, nfe=nfe, cfg=0.0, generator=torch.Generator())
    assert not torch.allclose(plain.mel, syn.mel)


def test_prompt_frames_are_copied_and_its_tokens_aligned_to_it():
    model = make_model()
    ids, lengths = text_batch()
    mel, _ = mel_batch()
    frames, tokens = torch.tensor([12, 9, 20]), torch.tensor([2, 1, 4])
    syn = model.synthesize(ids, lengths, mel[:, :20], frames, tokens, nfe=2, cfg=0.7)
    k = 2 * tokens + 1  # prompt tokens with blanks
    for i in range(3):
        assert int(syn.durations[i, : k[i]].sum()) == int(frames[i])
        assert torch.equal(syn.mel[i, : frames[i]], mel[i, : frames[i]])
    assert torch.equal(syn.prompt_frames, frames)
    with pytest.raises(FlowvoxError, match="prompt_frames"):
        model.synthesize(ids, lengths, mel[:, :20], torch.tensor([3, 9, 20]), tokens, nfe=1)


def test_given_durations_speed_and_speaker_vector():
    model = make_model()
    ids, lengths = text_batch()
    durations = torch.full((3, 2 * ids.shape[1] + 1), 2)
    syn = model.synthesize(ids, lengths, durations=durations, nfe=1, cfg=0.0)
    assert torch.equal(syn.mask.sum(1), 2 * (2 * lengths + 1))
    slow = model.synthesize(ids, lengths, nfe=1, speed=0.25).durations.sum(1)
    assert bool((slow > model.synthesize(ids, lengths, nfe=1).durations.sum(1)).all())
    spk_model = make_model("cond_dim=8")
    g = torch.randn(3, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = spk_model.synthesize(ids, lengths, spk=g, durations=durations, nfe=1, generator=None)
    assert a.mel.shape == syn.mel.shape
    mel, mel_lengths = mel_batch()
    out = spk_model.loss(mel, mel_lengths, ids, lengths, torch.Generator(), spk=g)
    assert torch.isfinite(out.loss)


def test_overflow_and_empty_text_are_clear_errors():
    model = make_model("max_frames=20")
    ids, lengths = text_batch()
    with pytest.raises(FlowvoxError, match="max_frames=20"):
        model.synthesize(ids, lengths, durations=torch.full((3, 15), 3), nfe=1)
    with pytest.raises(FlowvoxError, match="no tokens"):
        model.synthesize(ids, torch.tensor([5, 0, 7]), nfe=1)
    mel, mel_lengths = mel_batch()
    with pytest.raises(FlowvoxError, match="every token needs a frame"):
        model.loss(mel, torch.tensor([30, 5, 40]), ids, lengths, torch.Generator())
    with pytest.raises(FlowvoxError, match="token ids"):
        model.encode(ids + VOCAB, lengths)
    with pytest.raises(FlowvoxError, match="path"):
        AlignedTTSConfig(path="ddpm")


def test_draw_is_per_sample_and_repeatable():
    model = make_model("audio_drop_prob=0.5", "cond_drop_prob=0.5")
    lengths = torch.tensor(FRAMES * 20)
    a = model.draw_training(lengths, 40, torch.Generator().manual_seed(1), torch.float64)
    b = model.draw_training(lengths, 40, torch.Generator().manual_seed(1), torch.float64)
    assert isinstance(a, AlignedDraw) and torch.equal(a.x_0, b.x_0)
    assert 0 < int(a.drop_text.sum()) < 60 and bool((a.drop_audio >= a.drop_text).all())
    assert int(a.drop_audio.sum()) > int(a.drop_text.sum())


def test_duration_loss_stops_at_the_encoder_and_dropped_rows_ignore_their_condition():
    model = make_model().train()
    ids, lengths = text_batch()
    mel, mel_lengths = mel_batch()
    out = model.loss(mel, mel_lengths, ids, lengths, torch.Generator().manual_seed(0))
    out.duration.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert any(p.grad is not None for p in model.duration_predictor.parameters())
    model.eval()
    x, t = torch.randn_like(mel), torch.full((3,), 0.5, dtype=mel.dtype)
    mask = torch.arange(mel.shape[1])[None] < mel_lengths[:, None]
    drop = torch.tensor([True, False, True])
    v = model.decoder(x, mel, mel, t, mask, drop, drop)
    w = model.decoder(x, 2 * mel, 3 * mel, t, mask, drop, drop)
    assert torch.equal(v[drop], w[drop]) and not torch.allclose(v[~drop], w[~drop])
