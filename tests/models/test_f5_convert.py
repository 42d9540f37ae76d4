"""`flowvox convert f5` on F5-format checkpoints this test writes (release .safetensors with
``ema_model.`` keys, training .pt files): shapes inferred, same outputs, clear refusals."""

import json

import pytest
import torch
from safetensors.torch import save_file

from flowvox.cli.main import main
from flowvox.errors import FlowvoxError
from flowvox.models.infill import InfillTTS, InfillTTSConfig
from flowvox.models.infill.convert_f5 import convert_f5, read_f5_checkpoint
from flowvox.models.infill.load import load_infill_model

VOCAB = [" ", *"abcdefghijklmnopqrstuvwxyz", ".", ","]


def f5_like(long_skip=False, seed=0) -> InfillTTS:
    config = InfillTTSConfig(
        dim=64, depth=2, heads=1, dim_head=64, text_dim=32, conv_layers=2, ff_mult=2.0,
        text_vocab_size=len(VOCAB), long_skip=long_skip, dropout=0.0,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = InfillTTS(config).eval()
    with torch.no_grad():  # fill the zero-initialised layers: outputs depend on every weight
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.05)
    return model


def release_state(model) -> dict:
    state = {f"ema_model.{k}": v.clone() for k, v in model.state_dict().items()}
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
