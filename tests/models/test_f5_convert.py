"""`flowvox convert f5` on F5-format checkpoints this test writes (release .safetensors with
``ema_model.`` keys, training .pt files; DiT, and E2 renamed to the official UNetT layout):
shapes inferred, same outputs, clear refusals. Files written by f5-tts itself are tested in
test_f5_release_equivalence.py (peers venv)."""

import json
import re

import pytest
import torch
from safetensors.torch import save_file

from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.models.infill.convert_f5 import convert_f5, read_f5_checkpoint
from flowvox.models.infill.f5_keys import backbone_of, rename_unett
from flowvox.models.infill.load import load_infill_model

VOCAB = [" ", *"abcdefghijklmnopqrstuvwxyz", ".", ","]


def f5_like(long_skip=False, seed=0, **shape) -> InfillTTS:
    fields = dict(dim=64, depth=2, heads=1, dim_head=64, text_dim=32, conv_layers=2, ff_mult=2.0)
    fields.update(shape)
    config = InfillTTSConfig(**fields, text_vocab_size=len(VOCAB), long_skip=long_skip, dropout=0.0)
    torch.manual_seed(seed)
    model = InfillTTS(config).eval()
    with torch.no_grad():  # fill the zero-initialised layers: outputs depend on every weight
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    return model


def e2_like(**shape) -> InfillTTS:
    """flowvox E2 shaped like the official E2 (text width = mel width, no ConvNeXt, v0)."""
    official = dict(backbone="e2", version="v0", depth=4, heads=4, dim_head=16, ff_mult=4.0)
    return f5_like(**(official | dict(text_dim=None, conv_layers=0) | shape))


OURS = ("skip_proj", "attn_norm", "attn", "ff_norm", "ff")


def as_unett(state: dict) -> dict:
    """flowvox E2 names -> f5-tts UNetT names: layers.{i}.{0..4} (written out independently of
    flowvox.models.infill.f5_keys)."""
    out = {}
    for key, value in state.items():
        if m := re.fullmatch(r"transformer\.layers\.(\d+)\.([a-z_]+)\.(.+)", key):
            key = f"transformer.layers.{m.group(1)}.{OURS.index(m.group(2))}.{m.group(3)}"
        out[key] = value
    return out


def save_release(model, path, unett=False, drop=()) -> None:
    state = release_state(model, unett)
    for key in drop:
        del state[key]
    save_file({k: v.contiguous() for k, v in state.items()}, path)


def release_state(model, unett=False) -> dict:
    own = as_unett(model.state_dict()) if unett else model.state_dict()
    state = {f"ema_model.{k}": v.clone() for k, v in own.items()}
    state["ema_model.mel_spec.mel_stft.window"] = torch.ones(4)  # F5's front-end: dropped
    state["initted"], state["step"] = torch.tensor(True), torch.tensor(7)
    return state


@pytest.fixture
def vocab(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(VOCAB) + "\n")
    return path


def same_outputs(a: InfillTTS, b: InfillTTS) -> None:
    g = torch.Generator().manual_seed(1)
    x, cond = torch.randn(2, 1, 40, 100, generator=g)
    ids, t = torch.tensor([[3, 4, 5, 0, 9, 27]]), torch.tensor([0.4])
    with torch.no_grad():
        torch.testing.assert_close(a(x, cond, ids, t), b(x, cond, ids, t), rtol=0, atol=0)


@pytest.mark.parametrize("long_skip", [False, True])
def test_release_file_converts_to_the_same_model(tmp_path, vocab, long_skip):
    model = f5_like(long_skip)
    save_file(
        {k: v.contiguous() for k, v in release_state(model).items()}, tmp_path / "r.safetensors"
    )
    config = convert_f5(tmp_path / "r.safetensors", vocab, tmp_path / "out")
    assert (config.dim, config.depth, config.heads, config.text_dim) == (64, 2, 1, 32)
    assert config.conv_layers == 2 and config.long_skip is long_skip and config.ff_mult == 2.0
    loaded = load_infill_model(tmp_path / "out")
    same_outputs(model, loaded.model)
    assert loaded.tokenizer.encode("ab") == [1, 2]
    record = json.loads((tmp_path / "out" / "config.json").read_text())
    assert record["family"] == "infill" and record["format_version"] == 1


def test_training_checkpoint_ema_or_raw_weights(tmp_path, vocab):
    ema, raw = f5_like(seed=0), f5_like(seed=1)
    blob = {
        "ema_model_state_dict": release_state(ema),
        "model_state_dict": dict(raw.state_dict()),
        "update": 1000,
    }
    torch.save(blob, tmp_path / "model_1000.pt")
    convert_f5(tmp_path / "model_1000.pt", vocab, tmp_path / "ema")
    convert_f5(tmp_path / "model_1000.pt", vocab, tmp_path / "raw", use_ema=False)
    same_outputs(ema, load_infill_model(tmp_path / "ema").model)
    same_outputs(raw, load_infill_model(tmp_path / "raw").model)


class NotATensor:
    pass


def test_pickled_objects_are_never_loaded(tmp_path):
    torch.save({"ema_model_state_dict": {}, "trap": NotATensor()}, tmp_path / "bad.pt")
    with pytest.raises(FlowvoxError, match="weights_only"):
        read_f5_checkpoint(tmp_path / "bad.pt")


def test_truncated_and_mismatched_files_are_clear_errors(tmp_path, vocab):
    state = release_state(f5_like())
    del state["ema_model.transformer.transformer_blocks.1.ff.ff.2.weight"]
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "cut.safetensors")
    with pytest.raises(FlowvoxError, match=r"missing 1: transformer\.transformer_blocks\.1\.ff"):
        convert_f5(tmp_path / "cut.safetensors", vocab, tmp_path / "cut")
    assert not (tmp_path / "cut").exists()
    short = tmp_path / "short.txt"
    short.write_text("\n".join(VOCAB[:-3]) + "\n")
    full = release_state(f5_like())
    save_file({k: v.contiguous() for k, v in full.items()}, tmp_path / "ok.safetensors")
    with pytest.raises(FlowvoxError, match="rows but the vocab file has"):
        convert_f5(tmp_path / "ok.safetensors", short, tmp_path / "v")
    (tmp_path / "junk.safetensors").write_bytes(b"\x00" * 40)
    with pytest.raises(FlowvoxError, match="not a readable safetensors"):
        read_f5_checkpoint(tmp_path / "junk.safetensors")
    save_file({"ema_model.encoder.w": torch.ones(2)}, tmp_path / "other.safetensors")
    with pytest.raises(FlowvoxError, match="unexpected key 'encoder.w'"):
        read_f5_checkpoint(tmp_path / "other.safetensors")


def test_cli_convert(tmp_path, vocab, capsys):
    save_file(
        {k: v.contiguous() for k, v in release_state(f5_like()).items()}, tmp_path / "r.safetensors"
    )
    out = tmp_path / "m"
    assert (
        main(["convert", "f5", str(tmp_path / "r.safetensors"), str(out), "--vocab", str(vocab)])
        == 0
    )
    assert "dim 64, depth 2, heads 1" in capsys.readouterr().out
    assert (
        main(["convert", "f5", str(tmp_path / "r.safetensors"), str(out), "--vocab", str(vocab)])
        == 2
    )
    assert "not empty" in capsys.readouterr().err


def test_e2_in_the_official_unett_layout_converts_to_the_same_model(tmp_path, vocab):
    model = e2_like()
    assert "ema_model.transformer.layers.2.0.weight" in release_state(model, unett=True)
    save_release(model, tmp_path / "e2.safetensors", unett=True)
    config = convert_f5(tmp_path / "e2.safetensors", vocab, tmp_path / "out", version="v0")
    assert (config.backbone, config.version, config.e2_skip) == ("e2", "v0", "concat")
    assert (config.dim, config.depth, config.heads, config.dim_head) == (64, 4, 4, 16)
    assert (config.ff_mult, config.text_width, config.conv_layers) == (4.0, 100, 0)
    same_outputs(model, load_infill_model(tmp_path / "out").model)


def test_e2_with_text_blocks_from_a_training_checkpoint(tmp_path, vocab):
    model = e2_like(version="v1", depth=2, heads=2, dim_head=32, text_dim=32, conv_layers=1)
    torch.save({"ema_model_state_dict": release_state(model, unett=True)}, tmp_path / "e2.pt")
    config = convert_f5(tmp_path / "e2.pt", vocab, tmp_path / "out")
    assert (config.backbone, config.heads, config.text_dim, config.conv_layers) == ("e2", 2, 32, 1)
    same_outputs(model, load_infill_model(tmp_path / "out").model)


def test_unett_keys_are_renamed_and_the_backbone_detected():
    state = {"transformer.layers.3.0.weight": 0, "transformer.layers.3.4.ff.2.bias": 1}
    renamed = rename_unett(state)
    assert set(renamed) == {
        "transformer.layers.3.skip_proj.weight",
        "transformer.layers.3.ff.ff.2.bias",
    }
    assert backbone_of(state) == backbone_of(renamed) == "e2"
    assert backbone_of({"transformer.transformer_blocks.0.attn.to_q.weight": 0}) == "dit"
    with pytest.raises(FlowvoxError, match="neither an F5-TTS DiT"):
        backbone_of({"transformer.proj_out.weight": 0})
    with pytest.raises(FlowvoxError, match="parts 0-4"):
        rename_unett({"transformer.layers.0.5.weight": 0})


def test_e2_without_skip_projections_is_a_clear_error(tmp_path, vocab):
    save_release(e2_like(e2_skip="add"), tmp_path / "add.safetensors", unett=True)
    with pytest.raises(FlowvoxError, match="no skip projections"):
        convert_f5(tmp_path / "add.safetensors", vocab, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_heads_are_read_off_the_rotary_table(tmp_path, vocab):
    """4 heads of 16 channels: F5's rule (width / 64) would say 1; the table says 4."""
    model = f5_like(heads=4, dim_head=16)
    save_release(model, tmp_path / "r.safetensors")
    assert convert_f5(tmp_path / "r.safetensors", vocab, tmp_path / "a").heads == 4
    same_outputs(model, load_infill_model(tmp_path / "a").model)
    assert convert_f5(tmp_path / "r.safetensors", vocab, tmp_path / "b", heads=4).heads == 4
    with pytest.raises(FlowvoxError, match="--heads 2: this checkpoint has 4 heads of 16"):
        convert_f5(tmp_path / "r.safetensors", vocab, tmp_path / "c", heads=2)
    assert not (tmp_path / "c").exists()


def test_without_the_rotary_table_heads_decide(tmp_path, vocab):
    model = f5_like(heads=4, dim_head=16)
    table = "ema_model.transformer.rotary_embed.inv_freq"
    save_release(model, tmp_path / "r.safetensors", drop=[table])
    config = convert_f5(tmp_path / "r.safetensors", vocab, tmp_path / "a", heads=4)
    assert (config.heads, config.dim_head) == (4, 16)
    same_outputs(model, load_infill_model(tmp_path / "a").model)  # the table is rebuilt
    config = convert_f5(tmp_path / "r.safetensors", vocab, tmp_path / "b")
    assert (config.heads, config.dim_head) == (1, 64)  # F5's rule: width / 64
    with pytest.raises(FlowvoxError, match="--heads 3: must divide the attention width 64"):
        convert_f5(tmp_path / "r.safetensors", vocab, tmp_path / "c", heads=3)


def test_other_mel_widths_are_a_clear_error(tmp_path, vocab):
    state = release_state(f5_like())
    state["ema_model.transformer.proj_out.weight"] = torch.zeros(80, 64)
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "r.safetensors")
    with pytest.raises(FlowvoxError, match="predicts 80 mel bins"):
        convert_f5(tmp_path / "r.safetensors", vocab, tmp_path / "out")


def test_cli_convert_e2(tmp_path, vocab, capsys):
    save_release(e2_like(), tmp_path / "e2.safetensors", unett=True)
    argv = ["convert", "f5", str(tmp_path / "e2.safetensors"), str(tmp_path / "m")]
    assert main([*argv, "--vocab", str(vocab), "--version", "v0"]) == 0
    assert "F5 E2 v0, dim 64, depth 4, heads 4, text_dim 100, 0 ConvNeXt" in capsys.readouterr().out
