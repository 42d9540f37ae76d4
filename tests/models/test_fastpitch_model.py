"""The FastPitch model: shapes, padding, prosody targets, overfitting, pitch shift, synthesis."""
# b: batch, l: tokens, n: frames, f: mel bins

import math

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.fastpitch.config import FastPitchConfig
from flowvox.models.fastpitch.model import FastPitch

VOCAB, F = 12, 100
TEXTS = [[1, 2, 3, 4, 5], [6, 7, 8], [9, 10, 11, 1, 2, 3, 4]]
FRAMES = [30, 17, 40]
SMALL = ["enc_dim=32", "enc_ffn_dim=64", "dec_ffn_dim=64", "pred_hidden_dim=32"]


def make_model(*overrides, seed=0, dtype=torch.float64):
    config = FastPitchConfig.preset("tiny", [f"text_vocab_size={VOCAB}", *SMALL, *overrides])
    torch.manual_seed(seed)
    return FastPitch(config).to(dtype).eval()


def text_batch(texts=TEXTS):
    lengths = torch.tensor([len(t) for t in texts])
    ids = torch.zeros(len(texts), int(lengths.max()), dtype=torch.long)
    for i, t in enumerate(texts):
        ids[i, : len(t)] = torch.tensor(t)
    return ids, lengths


def data_batch(dtype=torch.float64, seed=1):
    """Piecewise-constant mels and pitch (one level per token + noise), padded with 0; the
    pitch of token id k is 100 + 10 k Hz, token ids divisible by 4 unvoiced."""
    gen = torch.Generator().manual_seed(seed)
    levels = torch.randn(VOCAB, F, generator=gen, dtype=dtype)
    hz = torch.tensor([0.0 if k % 4 == 0 else 100.0 + 10 * k for k in range(VOCAB)], dtype=dtype)
    n = max(FRAMES)
    mel = torch.zeros(len(TEXTS), n, F, dtype=dtype)
    pitch = torch.zeros(len(TEXTS), n, dtype=dtype)
    for i, (text, frames) in enumerate(zip(TEXTS, FRAMES, strict=True)):
        per = torch.tensor(text)[torch.linspace(0, len(text) - 1e-6, frames).long()]
        mel[i, :frames] = levels[per]
        pitch[i, :frames] = hz[per] * (1 + 0.01 * torch.randn(frames, generator=gen, dtype=dtype))
    mel += 0.1 * torch.randn(mel.shape, generator=gen, dtype=dtype)
    lengths = torch.tensor(FRAMES)
    mel = mel.masked_fill(torch.arange(n)[None, :, None] >= lengths[:, None, None], 0)
    return mel, lengths, pitch


def test_shapes_durations_and_synthesis():
    model = make_model(dtype=torch.float32)
    ids, lengths = text_batch()
    mel, mel_lengths, pitch = data_batch(torch.float32)
    out = model(mel, mel_lengths, ids, lengths, pitch)
    assert out.durations.shape == ids.shape and out.prediction.shape == mel.shape
    assert torch.equal(out.durations.sum(1), mel_lengths)
    for term in (out.loss, out.mel, out.prior, out.duration, out.pitch, out.energy):
        assert term.shape == () and torch.isfinite(term)
    assert out.targets.pitch.shape == ids.shape and out.targets.energy.shape == ids.shape
    syn = model.synthesize(ids, lengths)
    n = int(syn.durations.sum(1).max())
    assert syn.mel.shape == (3, n, F) and torch.equal(syn.mask.sum(1), syn.durations.sum(1))
    assert bool((syn.mel[~syn.mask] == 0).all()) and bool((syn.durations[ids == 0] == 0).all())
    given = torch.full(ids.shape, 3)
    syn = model.synthesize(ids, lengths, durations=given)
    assert torch.equal(syn.mask.sum(1), 3 * lengths)
    fast = model.synthesize(ids, lengths, durations=None, speed=1e3)
    assert torch.equal(fast.durations, (ids != 0).long() * (torch.arange(7) < lengths[:, None]))


def test_prosody_targets_follow_the_token_rule():
    model = make_model()
    ids, lengths = text_batch()
    mel, mel_lengths, pitch = data_batch()
    durations = model.align(model.encode(ids, lengths), mel, mel_lengths)
    got = model.prosody_targets(pitch, mel, mel_lengths, durations)
    cfg = model.config
    for i in range(3):
        start = 0
        for k, d in enumerate(durations[i].tolist()):
            seg = pitch[i, start : start + d]
            voiced = seg[seg > 0]
            want = (voiced.mean().log() - cfg.pitch_mean) / cfg.pitch_std if len(voiced) else 0.0
            assert abs(float(got.pitch[i, k]) - float(want)) < 1e-9
            frames_e = 0.5 * torch.logsumexp(2 * mel[i, start : start + d], dim=-1)
            want_e = (frames_e.mean() - cfg.energy_mean) / cfg.energy_std if d else 0.0
            assert abs(float(got.energy[i, k]) - float(want_e)) < 1e-9
            start += d


def test_padded_batch_equals_each_item_alone():
    model = make_model()
    ids, lengths = text_batch()
    mel, mel_lengths, pitch = data_batch()
    batch = model(mel, mel_lengths, ids, lengths, pitch)
    syn = model.synthesize(ids, lengths, pitch_shift=1.0)
    for i in range(3):
        li, ni = int(lengths[i]), int(mel_lengths[i])
        one = model(mel[i : i + 1, :ni], mel_lengths[i : i + 1], ids[i : i + 1, :li],
                    lengths[i : i + 1], pitch[i : i + 1, :ni])  # fmt: skip
        assert torch.equal(one.durations[0], batch.durations[i, :li])
        assert torch.allclose(one.prediction[0], batch.prediction[i, :ni], atol=1e-10)
        assert torch.allclose(one.targets.pitch[0], batch.targets.pitch[i, :li], atol=1e-12)
        alone = model.synthesize(ids[i : i + 1, :li], lengths[i : i + 1], pitch_shift=1.0)
        m = int(alone.mask.sum())
        assert torch.equal(alone.durations[0], syn.durations[i, :li])
        assert torch.allclose(alone.mel[0, :m], syn.mel[i, :m], atol=1e-10)


def test_pitch_shift_moves_the_embedded_pitch_only():
    model = make_model()
    ids, lengths = text_batch()
    durations = torch.full(ids.shape, 4)
    base = model.synthesize(ids, lengths, durations=durations)
    up = model.synthesize(ids, lengths, pitch_shift=12.0, durations=durations)
    real = torch.arange(ids.shape[1])[None] < lengths[:, None]
    step = math.log(2.0) / model.config.pitch_std
    assert torch.allclose(
        (up.prosody.pitch - base.prosody.pitch)[real], torch.tensor(step).double()
    )
    assert torch.equal(up.prosody.energy, base.prosody.energy)
    assert (up.mel - base.mel).abs().max() > 1e-3
    ratio = model.pitch_hz(up.prosody.pitch[real]) / model.pitch_hz(base.prosody.pitch[real])
    assert torch.allclose(ratio, torch.tensor(2.0).double())  # an octave
    with torch.no_grad():  # without the pitch embedding the shift has no effect
        model.pitch_embed.conv.weight.zero_()
    base = model.synthesize(ids, lengths, durations=durations)
    up = model.synthesize(ids, lengths, pitch_shift=12.0, durations=durations)
    assert torch.equal(up.mel, base.mel)


@pytest.mark.slow
def test_losses_fall_when_overfitting_one_batch():
    model = make_model("dropout=0.0", dtype=torch.float32).train()
    ids, lengths = text_batch()
    mel, mel_lengths, pitch = data_batch(torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    with torch.no_grad():
        first = model(mel, mel_lengths, ids, lengths, pitch)
    for _ in range(40):
        out = model(mel, mel_lengths, ids, lengths, pitch)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    with torch.no_grad():
        last = model(mel, mel_lengths, ids, lengths, pitch)
    floor = {"prior": 0.5 * math.log(2 * math.pi)}  # the prior's irreducible ½ log 2π
    for term in ("mel", "prior", "pitch", "energy"):
        c = floor.get(term, 0.0)
        assert float(getattr(last, term)) - c < 0.5 * (float(getattr(first, term)) - c), term
    assert float(last.duration) < float(first.duration)


def test_mistakes_are_clear_errors():
    model = make_model(dtype=torch.float32)
    ids, lengths = text_batch()
    mel, mel_lengths, pitch = data_batch(torch.float32)
    with pytest.raises(FlowvoxError, match="pitch"):
        model(mel, mel_lengths, ids, lengths, pitch[:, :5])
    with pytest.raises(FlowvoxError, match="every token needs a frame"):
        model(mel, torch.tensor([30, 2, 40]), ids, lengths, pitch)
    with pytest.raises(FlowvoxError, match="token ids"):
        model.synthesize(ids + VOCAB, lengths)
    with pytest.raises(FlowvoxError, match="max_frames"):
        model.synthesize(ids, lengths, durations=torch.full(ids.shape, 1000))
    with pytest.raises(FlowvoxError, match="durations"):
        model.synthesize(ids, lengths, durations=torch.ones(3, 2))
    with pytest.raises(FlowvoxError, match="text_vocab_size"):
        FastPitch(FastPitchConfig.preset("tiny"))
    with pytest.raises(FlowvoxError, match="unknown fastpitch preset"):
        FastPitchConfig.preset("huge")
    with pytest.raises(FlowvoxError, match="enc_heads"):
        FastPitchConfig(enc_dim=30, enc_heads=4)


def test_no_energy_variant_and_small_preset_load():
    model = make_model("use_energy=false", dtype=torch.float32)
    assert model.energy_predictor is None and model.energy_embed is None
    ids, lengths = text_batch()
    mel, mel_lengths, pitch = data_batch(torch.float32)
    out = model(mel, mel_lengths, ids, lengths, pitch)
    assert float(out.energy) == 0.0 and not out.targets.energy.any()
    small = FastPitchConfig.preset("small")
    assert small.enc_dim == 384 and small.dec_depth == 6
