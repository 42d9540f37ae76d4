"""LatentFlow (latent text-to-audio): shapes, both objectives against their closed forms,
guidance, exact solvers, batch independence, caption dropout, save/load, bad inputs."""
# b: batch, c: latent channels, t: latent frames, f: latent freq bins, l: caption tokens

from __future__ import annotations

import pytest
import torch
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.models.tta.config import LatentFlowConfig
from flowvox.models.tta.model import LatentFlow, TrainingDraw
from flowvox.models.tta.network import LatentDiT
from flowvox.models.tta.text import caption_batch, drop_captions
from flowvox.nn.masks import lengths_to_mask
from flowvox.text.tokenizers import ByteTokenizer
from tests.peers.require import import_peer

CAPTIONS = ["a dog barks twice", "rain on a tin roof", "bell"]


def make_model(seed: int = 0, **changes) -> LatentFlow:
    """A tiny model with every weight random (the zero-initialised output layers too)."""
    config = LatentFlowConfig.preset("tiny").replace(text_vocab_size=256, **changes)
    torch.manual_seed(seed)
    model = LatentFlow(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.05)
    return model.eval()


def captions(texts=CAPTIONS):
    return caption_batch(ByteTokenizer().encode, texts)


class FakeNet(nn.Module):
    """Stands in for the network: out = fn(x, tau, caption_mask); records every call."""

    def __init__(self, fn):
        super().__init__()
        self.fn, self.calls = fn, []
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x, tau, caption, caption_mask, frame_mask):
        self.calls.append((x.shape[0], tau.clone()))
        return self.fn(x, tau, caption_mask)


@pytest.mark.parametrize(("patch_time", "t"), [(1, 7), (2, 7), (2, 8)])
def test_network_keeps_the_latent_shape_and_zeroes_padding(patch_time, t):
    config = LatentFlowConfig.preset("tiny").replace(text_vocab_size=256, patch_time=patch_time)
    net = LatentDiT(config)
    nn.init.normal_(net.patch_out.weight)
    x = torch.randn(2, 8, t, 16)  # (b, c, t, f)
    mask = lengths_to_mask(torch.tensor([t, 3]), t)
    out = net(
        x, torch.tensor([10.0, 500.0]), torch.randn(2, 5, 64), torch.ones(2, 5, dtype=bool), mask
    )
    assert out.shape == x.shape
    assert out[1, :, 3:].abs().sum() == 0 and out[1, :, :3].abs().sum() > 0


@pytest.mark.parametrize(
    ("objective", "schedule"),
    [
        ("flow", "linear"),
        ("diffusion", "linear"),
        ("diffusion", "scaled_linear"),
        ("diffusion", "cosine"),
        ("diffusion-v", "scaled_linear"),
    ],
)
def test_loss_is_finite_and_trains_every_part(objective, schedule):
    objective, _, prediction = objective.partition("-")
    model = make_model(
        objective=objective, beta_schedule=schedule, diffusion_prediction=prediction or "epsilon"
    ).train()
    ids, mask = captions()
    latents = torch.randn(3, 8, 9, 16)
    out = model.loss(latents, torch.tensor([9, 5, 2]), ids, mask, torch.Generator().manual_seed(0))
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert model.caption_encoder.embed.weight.grad.abs().sum() > 0  # captions are learnt


def test_flow_loss_is_the_closed_form_on_a_fixed_draw():
    model = make_model()
    model.network = FakeNet(lambda x, tau, cm: 2.0 * x + tau[:, None, None, None] / 999)
    b, t = 2, 6
    x_1, x_0 = torch.randn(b, 8, t, 16), torch.randn(b, 8, t, 16)
    time = torch.tensor([0.25, 0.9])
    lengths = torch.tensor([6, 4])
    draw = TrainingDraw(noise=x_0, time=time, drop=torch.tensor([False, True]))
    ids, mask = captions(CAPTIONS[:2])
    out = model.loss(x_1, lengths, ids, mask, draw=draw)
    tt = time[:, None, None, None]
    x_t = tt * x_1 + (1 - tt) * x_0
    x_t[1, :, 4:] = 0.0  # padding never reaches the network
    pred = 2.0 * x_t + tt
    err = (pred - (x_1 - x_0)).square()
    expected = (err[0].sum() + err[1, :, :4].sum()) / (8 * 16 * (6 + 4))
    assert torch.allclose(out.loss, expected, rtol=1e-6)
    assert torch.allclose(out.target, x_1 - x_0)
    assert torch.allclose(model.network.calls[0][1], 999 * time)  # t fed as 999 t


def test_diffusion_loss_is_the_epsilon_mse_of_the_ddpm_forward_process():
    model = make_model(objective="diffusion")
    model.network = FakeNet(lambda x, tau, cm: x)
    x_1, eps = torch.randn(2, 8, 5, 16), torch.randn(2, 8, 5, 16)
    k = torch.tensor([0, 999])
    draw = TrainingDraw(noise=eps, time=k, drop=torch.zeros(2, dtype=bool))
    ids, mask = captions(CAPTIONS[:2])
    out = model.loss(x_1, torch.tensor([5, 5]), ids, mask, draw=draw)
    ab = model.alphas_cumprod[k][:, None, None, None]
    x_k = ab.sqrt() * x_1 + (1 - ab).sqrt() * eps
    assert torch.allclose(out.loss, (x_k - eps).square().mean(), rtol=1e-6)
    assert model.network.calls[0][1].tolist() == [0.0, 999.0]  # the step index k


def test_v_prediction_loss_targets_v_of_the_same_forward_process():
    """v = sqrt(ᾱ_k) ε - sqrt(1 - ᾱ_k) x_1 on the same x_k as ε-prediction."""
    model = make_model(objective="diffusion", diffusion_prediction="v")
    model.network = FakeNet(lambda x, tau, cm: x)
    x_1, eps = torch.randn(2, 8, 5, 16), torch.randn(2, 8, 5, 16)
    k = torch.tensor([3, 900])
    draw = TrainingDraw(noise=eps, time=k, drop=torch.zeros(2, dtype=bool))
    ids, mask = captions(CAPTIONS[:2])
    out = model.loss(x_1, torch.tensor([5, 5]), ids, mask, draw=draw)
    ab = model.alphas_cumprod[k][:, None, None, None]
    x_k = ab.sqrt() * x_1 + (1 - ab).sqrt() * eps
    v = ab.sqrt() * eps - (1 - ab).sqrt() * x_1
    assert torch.allclose(out.target, v, atol=1e-6)
    assert torch.allclose(out.loss, (x_k - v).square().mean(), rtol=1e-6)


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear"])
def test_ddim_on_the_exact_v_recovers_the_data(schedule):
    """The exact v̂(x_k, k) for data at a point x*: from ε̂ = (x_k - sqrt(ᾱ) x*) / sqrt(1 - ᾱ)."""
    model = make_model(objective="diffusion", beta_schedule=schedule, diffusion_prediction="v")
    target = torch.randn(1, 8, 5, 16)

    def v(x, tau, cm):
        ab = model.alphas_cumprod[tau.long()][:, None, None, None]
        eps = (x - ab.sqrt() * target) / (1 - ab).sqrt()
        return ab.sqrt() * eps - (1 - ab).sqrt() * target

    model.network = FakeNet(v)
    ids, mask = captions(["x"])
    out = model.sample(ids, mask, 5, steps=4, cfg=3.0, seeds=[0])
    assert torch.allclose(out.latents, target, atol=1e-4) and out.nfe == 4


@pytest.mark.parametrize("w", [0.0, 1.0, 3.0])
def test_guidance_is_u_u_plus_w_times_the_difference_in_one_doubled_batch(w):
    model = make_model()
    # velocity = number of caption positions: conditional 1 + len(caption), unconditional 1
    model.network = FakeNet(lambda x, tau, cm: cm.sum(1).float()[:, None, None, None] + 0 * x)
    ids, mask = captions(["abc", "hello"])
    out = model.sample(ids, mask, 4, steps=5, cfg=w, seeds=[1, 2])
    x_0 = model._initial_noise(torch.tensor([4, 4]), [1, 2])
    u_c, u_u = torch.tensor([4.0, 6.0]), torch.tensor([1.0, 1.0])
    expected = x_0 + (u_u + w * (u_c - u_u))[:, None, None, None]  # constant velocity, t 0 -> 1
    assert torch.allclose(out.latents, expected, atol=1e-5)
    batch_sizes = {size for size, _ in model.network.calls}
    assert batch_sizes == ({2} if w == 1.0 else {4}) and out.nfe == 5


@pytest.mark.parametrize(
    ("objective", "pooled"), [("flow", False), ("diffusion", False), ("flow", True)]
)
def test_a_row_alone_equals_the_same_row_in_a_batch(objective, pooled):
    model = make_model(objective=objective, pooled_caption=pooled)
    ids, mask = captions()
    frames = [7, 3, 5]
    batch = model.sample(ids, mask, frames, steps=4, cfg=3.0, seeds=[10, 11, 12])
    for i in range(3):
        alone_ids, alone_mask = captions([CAPTIONS[i]])
        alone = model.sample(alone_ids, alone_mask, frames[i], steps=4, cfg=3.0, seeds=[10 + i])
        n = frames[i]
        assert torch.allclose(batch.latents[i, :, :n], alone.latents[0], rtol=1e-4, atol=1e-5), i
        assert batch.latents[i, :, n:].abs().sum() == 0
    assert batch.latents[0].abs().sum() > 0


@pytest.mark.parametrize("pooled", [False, True])
def test_pooled_caption_reaches_the_output_without_cross_attention(pooled):
    """With cross-attention silenced, only pooled_caption lets the caption change the
    output; the pooled mean ignores caption padding."""
    model = make_model(pooled_caption=pooled)
    net = model.network
    with torch.no_grad():
        for block in net.blocks:
            block.cross.to_out.weight.zero_()
            block.cross.to_out.bias.zero_()
    x, tau = torch.randn(1, 8, 6, 16), torch.tensor([300.0])
    frames = torch.ones(1, 6, dtype=torch.bool)

    def run(text, pad=0):
        ids, mask = captions([text])
        ids = torch.nn.functional.pad(ids, (0, pad))
        mask = torch.nn.functional.pad(mask, (0, pad))
        caption = model.encode_caption(ids, mask)
        return net(x, tau, caption.x, caption.mask, frames)

    a, b = run("a dog barks"), run("rain on a tin roof")
    assert (not torch.allclose(a, b, atol=1e-6)) == pooled
    assert torch.allclose(run("a dog barks", pad=5), a, atol=1e-6)


def test_ten_euler_steps_on_the_exact_velocity_land_on_the_point():
    """Noise -> the point x*: the marginal velocity is u(x, t) = (x* - x) / (1 - t)."""
    model = make_model()
    target = torch.randn(1, 8, 6, 16)
    model.network = FakeNet(lambda x, tau, cm: (target - x) / (1 - tau / 999)[:, None, None, None])
    ids, mask = captions(["x"])
    out = model.sample(ids, mask, 6, steps=10, cfg=3.0, seeds=[0])
    assert torch.allclose(out.latents, target, atol=1e-5) and out.nfe == 10


@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "cosine"])
def test_ddim_on_the_exact_epsilon_recovers_the_data(schedule):
    """Data a point x*: the exact ε̂(x_k, k) = (x_k - sqrt(ᾱ_k) x*) / sqrt(1 - ᾱ_k)."""
    model = make_model(objective="diffusion", beta_schedule=schedule)
    target = torch.randn(1, 8, 5, 16)

    def eps(x, tau, cm):
        ab = model.alphas_cumprod[tau.long()][:, None, None, None]
        return (x - ab.sqrt() * target) / (1 - ab).sqrt()

    model.network = FakeNet(eps)
    ids, mask = captions(["x"])
    out = model.sample(ids, mask, 5, steps=10, cfg=3.0, seeds=[0])
    assert torch.allclose(out.latents, target, atol=1e-4) and out.nfe == 10
    steps = [float(tau[0]) for _, tau in model.network.calls]
    assert steps[0] == 999.0 and steps[-1] == 0.0 and steps == sorted(steps, reverse=True)


def test_caption_dropout_is_per_sample_with_the_configured_probability():
    model = make_model()
    latents = torch.zeros(20000, 8, 1, 16)
    draw = model.draw_training(latents, torch.Generator().manual_seed(0))
    assert abs(draw.drop.float().mean().item() - 0.1) < 0.01
    flow_t = draw.time
    assert flow_t.min() >= 1e-3 and flow_t.max() < 1.0  # t ~ U(1e-3, 1)
    ids, mask = captions(CAPTIONS)
    new_ids, new_mask = drop_captions(ids, mask, torch.tensor([False, True, False]), ())
    assert torch.equal(new_ids[0], ids[0]) and torch.equal(new_mask[2], mask[2])
    assert not new_mask[1].any()  # the empty caption ""
    empty_ids, empty_mask = captions([""])
    dropped = model.encode_caption(new_ids[1:2], new_mask[1:2])
    empty = model.encode_caption(empty_ids, empty_mask)
    assert torch.allclose(dropped.x[:, :1], empty.x[:, :1], atol=1e-6)  # dropped == encoding of ""
    assert dropped.mask.sum() == empty.mask.sum() == 1


def test_save_and_load_round_trip(tmp_path):
    model = make_model(objective="diffusion")
    folder = model.save_pretrained(tmp_path / "tta")
    loaded = LatentFlow.from_pretrained(folder)
    assert loaded.config == model.config
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    ids, mask = captions()
    a = model.sample(ids, mask, 4, steps=3, seed=5).latents
    assert torch.equal(a, loaded.sample(ids, mask, 4, steps=3, seed=5).latents)


def per_bin_statistics(seed: int = 3) -> dict:
    gen = torch.Generator().manual_seed(seed)
    mean = (torch.randn(8 * 16, generator=gen) * 2).tolist()
    std = (torch.rand(8 * 16, generator=gen) + 0.1).tolist()
    return {"latent_norm": "per_bin", "latent_mean": mean, "latent_std": std}


@pytest.mark.parametrize("objective", ["flow", "diffusion"])
def test_per_bin_norm_trains_on_standardised_latents_and_samples_back(objective, tmp_path):
    """latent_norm per_bin: the loss is the global model's loss on (z - mean) / std with the
    same weights and draw; samples are the global model's samples · std + mean; the
    statistics survive save / load."""
    stats = per_bin_statistics()
    plain, normed = make_model(objective=objective), make_model(objective=objective, **stats)
    normed.load_state_dict(plain.state_dict())
    mean = torch.tensor(stats["latent_mean"]).reshape(1, 8, 1, 16)
    std = torch.tensor(stats["latent_std"]).reshape(1, 8, 1, 16)
    ids, mask = captions()
    z = mean + std * torch.randn(3, 8, 6, 16)  # (b, c, t, f)
    lengths = torch.tensor([6, 4, 5])
    draw = plain.draw_training(z, torch.Generator().manual_seed(1))
    want = plain.loss((z - mean) / std, lengths, ids, mask, draw=draw).loss
    assert torch.allclose(normed.loss(z, lengths, ids, mask, draw=draw).loss, want, atol=1e-6)
    a = plain.sample(ids, mask, lengths, steps=3, seed=2)
    b = normed.sample(ids, mask, lengths, steps=3, seed=2)
    valid = lengths_to_mask(lengths, 6)[:, None, :, None].expand(a.latents.shape)
    assert torch.allclose(b.latents[valid], (a.latents * std + mean)[valid], atol=1e-5)
    assert b.latents[~valid].abs().sum() == 0  # padding stays zero
    loaded = LatentFlow.from_pretrained(normed.save_pretrained(tmp_path / "normed"))
    assert loaded.config.latent_mean == stats["latent_mean"]
    assert torch.equal(loaded.sample(ids, mask, lengths, steps=3, seed=2).latents, b.latents)


def test_per_bin_norm_needs_whole_finite_statistics():
    with pytest.raises(FlowvoxError, match="no latent_mean"):
        make_model(latent_norm="per_bin")
    stats = per_bin_statistics()
    with pytest.raises(FlowvoxError, match="128 finite numbers"):
        LatentFlowConfig.preset("tiny").replace(**{**stats, "latent_mean": [0.0] * 5})
    with pytest.raises(FlowvoxError, match="> 0"):
        LatentFlowConfig.preset("tiny").replace(**{**stats, "latent_std": [0.0] * 128})
    with pytest.raises(FlowvoxError, match="come together"):
        LatentFlowConfig.preset("tiny").replace(latent_mean=stats["latent_mean"])


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"steps": 0}, "steps"),
        ({"cfg": -1.0}, "cfg"),
        ({"cfg": float("nan")}, "cfg"),
        ({"frames": 0}, "frames"),
        ({"frames": [3, 4]}, "frame counts"),
        ({"seeds": [1]}, "seeds"),
    ],
)
def test_bad_sampling_inputs_are_one_line_errors(kwargs, word):
    model = make_model()
    ids, mask = captions()
    args = {"frames": 4, **kwargs}
    with pytest.raises(FlowvoxError, match=word) as info:
        model.sample(ids, mask, **args)
    assert "\n" not in str(info.value)


def test_empty_caption_batches_and_bad_latents_are_one_line_errors():
    model = make_model()
    with pytest.raises(FlowvoxError, match="no captions"):
        captions([])
    with pytest.raises(FlowvoxError, match="no captions"):
        model.sample(torch.zeros(0, 3, dtype=torch.long), torch.zeros(0, 3, dtype=bool), 4)
    ids, mask = captions(CAPTIONS[:1])
    with pytest.raises(FlowvoxError, match=r"expected \(b, 8, T, 16\)"):
        model.loss(torch.randn(1, 4, 5, 16), torch.tensor([5]), ids, mask)
    with pytest.raises(FlowvoxError, match="lengths"):
        model.loss(torch.randn(1, 8, 5, 16), torch.tensor([0]), ids, mask)
    with pytest.raises(FlowvoxError, match="patch_freq"):
        LatentFlowConfig.preset("tiny", ["patch_freq=3"])


def test_t5_caption_encoder_is_frozen_and_outside_the_state_dict(tmp_path):
    transformers = import_peer(
        "transformers", "pip install transformers", env="FLOWVOX_REQUIRE_TTA"
    )
    t5_config = transformers.T5Config(
        vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=4
    )
    transformers.T5EncoderModel(t5_config).save_pretrained(tmp_path / "t5")
    transformers.ByT5Tokenizer().save_pretrained(tmp_path / "t5")
    config = LatentFlowConfig.preset("tiny").replace(
        text_vocab_size=256, caption_encoder="t5", t5_path=str(tmp_path / "t5"), t5_dim=32
    )
    model = LatentFlow(config)
    assert not any(k.startswith("t5") for k in model.state_dict())
    ids, mask = model.t5.tokenize(["a dog barks", "rain"])
    loss = model.loss(torch.randn(2, 8, 4, 16), torch.tensor([4, 3]), ids, mask)
    assert torch.isfinite(loss.loss)
    assert len(model.empty_ids) == 1  # "" is </s>
    assert model.sample(ids, mask, 3, steps=2).latents.shape == (2, 8, 3, 16)
    model.to(torch.float64)  # .to() reaches the frozen T5 as well (as .to(device) does)
    assert next(model.t5.model.parameters()).dtype == torch.float64
    assert not any(k.startswith("t5") for k in model.state_dict())


def test_scaled_linear_is_latent_diffusions_schedule():
    """AudioLDM's 0.0015..0.0195 in √β: β_0, β_K and ᾱ_K = 1.4e-4 (DDPM's linear: 4.0e-5)."""
    model = make_model(
        objective="diffusion", beta_schedule="scaled_linear", beta_start=0.0015, beta_end=0.0195
    )
    ab = model.alphas_cumprod.double()
    assert 1 - float(ab[0]) == pytest.approx(0.0015, rel=1e-5)
    assert 1 - float(ab[-1] / ab[-2]) == pytest.approx(0.0195, rel=1e-5)
    assert float(ab[-1]) == pytest.approx(1.42e-4, rel=0.02)
    ddpm = make_model(objective="diffusion", beta_schedule="linear")
    assert float(ddpm.alphas_cumprod[-1]) == pytest.approx(4.04e-5, rel=0.02)
