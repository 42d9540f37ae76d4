"""Forward of the infilling models: AdaLN-zero start, text cache, CFG batch, padding, drops."""
# b: batch, n: frames, f: mel bins

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.infill import InfillTTS, TextCache
from flowvox.nn.masks import pad_token_ids
from tests.models.infill_helpers import LENGTHS, TEXTS, batch, tiny_model

BACKBONES = [("tiny", "v1"), ("tiny", "v0"), ("e2_tiny", "v0"), ("e2_tiny", "v1")]


def test_fresh_dit_predicts_zero():
    model = tiny_model("tiny", randomize=False)
    x, cond, ids, t, mask = batch()
    assert model(x, cond, ids, t, mask).abs().max() == 0  # AdaLN-zero and zero output layer


@pytest.mark.parametrize("preset,version", BACKBONES)
def test_shapes(preset, version):
    model = tiny_model(preset, f"version={version}")
    x, cond, ids, t, mask = batch()
    out = model(x, cond, ids, t, mask)
    assert out.shape == x.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("preset,version", BACKBONES)
def test_text_cache_gives_the_uncached_result(preset, version):
    model = tiny_model(preset, f"version={version}")
    x, cond, ids, t, mask = batch()
    with torch.no_grad():
        cache = model.encode_text(ids, x.shape[1], mask)
        for step in range(2):  # the same cache serves every ODE step
            t_step = (t + 0.3 * step) % 1
            torch.testing.assert_close(
                model(x, cond, cache, t_step, mask), model(x, cond, ids, t_step, mask)
            )


@pytest.mark.parametrize("preset,version", BACKBONES)
def test_cfg_doubled_batch_equals_separate_passes(preset, version):
    # float64: in float32 the doubled batch takes other matmul kernels (~1e-5 relative)
    model = tiny_model(preset, f"version={version}").double()
    x, cond, ids, t, mask = batch()
    x, cond, t = x.double(), cond.double(), t.double()
    b, n = x.shape[:2]
    with torch.no_grad():
        cache = model.encode_text_cfg(ids, n, mask)
        drop_audio = torch.arange(2 * b) >= b
        two = model(
            x.repeat(2, 1, 1),
            cond.repeat(2, 1, 1),
            cache,
            t.repeat(2),
            mask.repeat(2, 1),
            drop_audio_cond=drop_audio,
        )
        v_c = model(x, cond, ids, t, mask)
        v_u = model(x, cond, ids, t, mask, drop_audio_cond=True, drop_text=True)
    torch.testing.assert_close(two[:b], v_c, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(two[b:], v_u, atol=1e-10, rtol=1e-10)
    assert (v_c - v_u).abs().max() > 1e-2


@pytest.mark.parametrize("preset,version", BACKBONES)
def test_padded_batch_equals_each_item_alone(preset, version):
    model = tiny_model(preset, f"version={version}")
    x, cond, ids, t, mask = batch()
    drop_audio, drop_text = torch.tensor([False, True, False]), torch.tensor([False, False, True])
    with torch.no_grad():
        out = model(x, cond, ids, t, mask, drop_audio, drop_text)
        for i, n in enumerate(LENGTHS):
            alone = model(
                x[i : i + 1, :n],
                cond[i : i + 1, :n],
                pad_token_ids([TEXTS[i]]),
                t[i : i + 1],
                None,
                bool(drop_audio[i]),
                bool(drop_text[i]),
            )
            torch.testing.assert_close(out[i, :n], alone[0], atol=2e-4, rtol=1e-5)


def test_padding_leaks_without_hide_padding():
    model = tiny_model("tiny", "hide_padding=false")  # F5 release behaviour
    x, cond, ids, t, mask = batch()
    with torch.no_grad():
        out = model(x, cond, ids, t, mask)
        alone = model(x[1:2, :25], cond[1:2, :25], pad_token_ids([TEXTS[1]]), t[1:2])
    assert (out[1, :25] - alone[0]).abs().max() > 1e-2


@pytest.mark.parametrize("preset,version", BACKBONES)
def test_drop_audio_cond_ignores_the_prompt_per_sample(preset, version):
    model = tiny_model(preset, f"version={version}")
    x, cond, ids, t, mask = batch()
    other = torch.randn_like(cond)
    flags = torch.tensor([True, False, True])
    with torch.no_grad():
        out = model(x, cond, ids, t, mask, drop_audio_cond=flags)
        out_other = model(x, other, ids, t, mask, drop_audio_cond=flags)
        zero_prompt = model(x, torch.zeros_like(cond), ids, t, mask)
        kept = model(x, cond, ids, t, mask)
    torch.testing.assert_close(out[flags], out_other[flags])  # dropped rows: prompt unused
    torch.testing.assert_close(out[flags], zero_prompt[flags])  # ... as if it were zero
    torch.testing.assert_close(out[~flags], kept[~flags])
    assert (out_other[~flags] - out[~flags]).abs().max() > 1e-2


@pytest.mark.parametrize("preset,version", BACKBONES)
def test_drop_text_keeps_only_the_text_length(preset, version):
    model = tiny_model(preset, f"version={version}")
    x, cond, ids, t, mask = batch()
    shuffled = torch.where(ids >= 0, (ids * 7 + 3) % 40, ids)  # other tokens, same lengths
    flags = torch.tensor([True, True, False])
    with torch.no_grad():
        out = model(x, cond, ids, t, mask, drop_text=flags)
        out_shuffled = model(x, cond, shuffled, t, mask, drop_text=flags)
        kept = model(x, cond, ids, t, mask)
    torch.testing.assert_close(out[flags], out_shuffled[flags])  # token identities unused
    torch.testing.assert_close(out[~flags], kept[~flags])
    assert (out[flags] - kept[flags]).abs().max() > 1e-2


def test_v1_drop_text_zeroes_the_text_input_but_keeps_filler_mask():
    model = tiny_model("tiny")
    _, _, ids, _, mask = batch()
    with torch.no_grad():
        dropped = model.encode_text(ids, 37, mask, drop_text=True).embed
        fillers = model.encode_text(torch.full_like(ids, -1), 37, mask).embed
    assert fillers.abs().max() == 0  # v1: filler positions are zeroed
    assert dropped[1, :3].abs().max() > 0  # text positions (3 tokens) hold filler + position
    assert dropped[1, 3:].abs().max() == 0


def test_bad_inputs_are_clear_errors():
    model = tiny_model("tiny", randomize=False)
    x, cond, ids, t, mask = batch()
    with pytest.raises(FlowvoxError, match="one time per sample"):
        model(x, cond, ids, t[0], mask)
    with pytest.raises(FlowvoxError, match=r"\(b, n, 100\)"):
        model(x[..., :80], cond[..., :80], ids, t, mask)
    cache = model.encode_text(ids, 37, mask)
    with pytest.raises(FlowvoxError, match="fixed in the TextCache"):
        model(x, cond, cache, t, mask, drop_text=True)
    with pytest.raises(FlowvoxError, match="text cache covers"):
        model(x[:, :20], cond[:, :20], cache, t, mask[:, :20])
    assert isinstance(TextCache.cat([cache, cache]).embed, torch.Tensor)


def test_checkpointed_activations_give_the_same_gradients():
    plain = tiny_model("tiny")
    ckpt = InfillTTS(plain.config.replace(checkpoint_activations=True)).eval()
    ckpt.load_state_dict(plain.state_dict())
    x, cond, ids, t, mask = batch()
    for model in (plain, ckpt):
        model(x, cond, ids, t, mask).square().mean().backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
