"""State-dict names and shapes follow F5-TTS (REFERENCE.md); parameter counts; presets."""

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.infill import INFILL_PRESETS, InfillTTS, InfillTTSConfig
from tests.models.infill_helpers import VOCAB, tiny_model


def f5_keys(depth: int, conv_layers: int, long_skip: bool = False) -> set[str]:
    """The F5-TTS DiT key list of REFERENCE.md, written out independently of the model."""
    wb = (".weight", ".bias")
    keys = {f"time_embed.time_mlp.{i}{s}" for i in (0, 2) for s in wb}
    keys.add("text_embed.text_embed.weight")
    for j in range(conv_layers):
        for part in ("dwconv", "norm", "pwconv1", "pwconv2"):
            keys |= {f"text_embed.text_blocks.{j}.{part}{s}" for s in wb}
        keys |= {f"text_embed.text_blocks.{j}.grn.gamma", f"text_embed.text_blocks.{j}.grn.beta"}
    keys |= {f"input_embed.proj{s}" for s in wb}
    keys |= {f"input_embed.conv_pos_embed.conv1d.{i}{s}" for i in (0, 2) for s in wb}
    keys.add("rotary_embed.inv_freq")
    for i in range(depth):
        block = f"transformer_blocks.{i}"
        for part in ("attn_norm.linear", "attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0"):
            keys |= {f"{block}.{part}{s}" for s in wb}
        keys |= {f"{block}.ff.ff.0.0{s}" for s in wb} | {f"{block}.ff.ff.2{s}" for s in wb}
    if long_skip:
        keys.add("long_skip_connection.weight")
    keys |= {f"norm_out.linear{s}" for s in wb} | {f"proj_out{s}" for s in wb}
    return {"transformer." + k for k in keys}


@pytest.mark.parametrize("long_skip", [False, True])
def test_tiny_dit_keys_are_exactly_f5s(long_skip):
    model = tiny_model("tiny", f"long_skip={long_skip}", randomize=False)
    assert set(model.state_dict()) == f5_keys(depth=2, conv_layers=2, long_skip=long_skip)


def test_f5_shapes():
    model = tiny_model("tiny", randomize=False)  # dim 64, text_dim 64, 4 heads of 16
    sd = {k.removeprefix("transformer."): v for k, v in model.state_dict().items()}
    assert sd["text_embed.text_embed.weight"].shape == (VOCAB + 1, 64)  # + filler row
    assert sd["text_embed.text_blocks.0.grn.gamma"].shape == (1, 1, 128)
    assert sd["text_embed.text_blocks.0.dwconv.weight"].shape == (64, 1, 7)
    assert sd["input_embed.proj.weight"].shape == (64, 2 * 100 + 64)
    assert sd["input_embed.conv_pos_embed.conv1d.0.weight"].shape == (64, 64 // 16, 31)
    assert sd["rotary_embed.inv_freq"].shape == (8,)
    assert sd["transformer_blocks.0.attn_norm.linear.weight"].shape == (6 * 64, 64)
    assert sd["transformer_blocks.0.ff.ff.0.0.weight"].shape == (128, 64)
    assert sd["norm_out.linear.weight"].shape == (2 * 64, 64)
    assert sd["proj_out.weight"].shape == (100, 64)


def test_base_has_337m_parameters_with_f5_vocab():
    config = InfillTTSConfig.preset("base", ["text_vocab_size=2545"])  # F5 Emilia pinyin vocab
    with torch.device("meta"):
        model = InfillTTS(config)
    count = sum(p.numel() for p in model.parameters())
    assert count == 337_096_804
    assert round(count / 1e6) == 337


def test_e2_layout():
    model = tiny_model("e2_tiny", randomize=False)
    keys = set(model.state_dict())
    assert "transformer.layers.1.skip_proj.weight" in keys  # second half joins the skip
    assert "transformer.layers.0.skip_proj.weight" not in keys
    assert "transformer.layers.0.attn_norm.g" in keys and "transformer.norm_out.g" in keys
    assert model.state_dict()["transformer.text_embed.text_embed.weight"].shape == (VOCAB + 1, 100)
    assert not any("text_blocks" in k or "attn_norm.linear" in k for k in keys)


def test_every_preset_loads_and_builds_on_meta():
    for name in INFILL_PRESETS:
        config = InfillTTSConfig.preset(name, ["text_vocab_size=100"])
        with torch.device("meta"):
            InfillTTS(config)
        assert config.mel_dim == 100 and config.mel.name == "vocos24k"


def test_config_round_trips_through_dict():
    config = InfillTTSConfig.preset("small", ["text_vocab_size=77", "version=v0"])
    data = config.to_dict()
    assert data["mel"]["n_mels"] == 100  # the full mel config is stored
    assert InfillTTSConfig.from_dict(data) == config


def test_config_errors_are_clear():
    with pytest.raises(FlowvoxError, match="text_vocab_size is unset"):
        InfillTTS(InfillTTSConfig.preset("tiny"))
    with pytest.raises(FlowvoxError, match="unknown infill preset"):
        InfillTTSConfig.preset("huge")
    with pytest.raises(FlowvoxError, match="dimm"):
        InfillTTSConfig.preset("tiny", ["dimm=3"])
    with pytest.raises(FlowvoxError, match="even depth"):
        InfillTTSConfig(backbone="e2", depth=3)
    with pytest.raises(FlowvoxError, match="frac_lengths_mask"):
        InfillTTSConfig(frac_lengths_mask=(0.9, 0.5))
