"""SemanticTokenizer as a model folder (stamp, round trip, other families refused), its
config checks and presets, the text tokens, and greedy transcription per row."""
# b: batch, m: 25 Hz frames, d: channels

from __future__ import annotations

import json

import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.config import EOT, SOT, SemanticConfig
from flowvox.models.semantic.model import (
    SemanticTokenizer,
    batch_text_tokens,
    load_semantic,
    text_tokens,
    tokens_text,
)
from flowvox.models.tta.vae import MelVAE
from flowvox.models.tta.vae_config import MelVAEConfig


def tiny(**changes) -> SemanticTokenizer:
    torch.manual_seed(0)
    return SemanticTokenizer(SemanticConfig.preset("tiny").replace(**changes)).eval()


def test_save_and_load_round_trip_with_the_family_stamp(tmp_path):
    model = tiny(codebook_size=32)
    model.save_pretrained(tmp_path / "m", extra={"stage": "vq"})
    record = json.loads((tmp_path / "m/config.json").read_text())
    assert record["family"] == "semantic" and record["format_version"] == 1
    assert record["stage"] == "vq" and record["model"]["codebook_size"] == 32
    loaded = SemanticTokenizer.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config and not loaded.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    mel = torch.randn(1, 40, 80) - 5
    with torch.no_grad():
        assert torch.equal(model.quantize(model.encode(mel).emb).codes,
                           loaded.quantize(loaded.encode(mel).emb).codes)  # fmt: skip


def test_a_folder_of_another_family_is_refused(tmp_path):
    MelVAE(MelVAEConfig.preset("tiny")).save_pretrained(tmp_path / "vae")
    with pytest.raises(FlowvoxError, match="family 'tta_vae' is not a semantic tokenizer"):
        load_semantic(tmp_path / "vae")
    tiny().save_pretrained(tmp_path / "sem")
    with pytest.raises(FlowvoxError, match="is not a mel VAE"):
        MelVAE.from_pretrained(tmp_path / "sem")


def test_a_folder_whose_weights_do_not_fit_is_refused(tmp_path):
    tiny().save_pretrained(tmp_path / "m")
    record = json.loads((tmp_path / "m/config.json").read_text())
    record["model"]["codebook_size"] = 64
    (tmp_path / "m/config.json").write_text(json.dumps(record))
    with pytest.raises(FlowvoxError, match="does not match the model"):
        load_semantic(tmp_path / "m")


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"dim": 63}, "must divide dim"),
        ({"encoder_heads": 3}, "must divide dim=64"),
        ({"text_vocab_size": 300}, "byte text tokens need 258"),
        ({"mel": "nope"}, "unknown mel preset"),
        ({"pool": 0}, "must be at least 1"),
    ],
)
def test_bad_configs_are_clear_errors(changes, message):
    with pytest.raises(FlowvoxError, match=message):
        SemanticConfig.preset("tiny").replace(**changes)


def test_presets_and_their_rates():
    tiny_cfg, small = SemanticConfig.preset("tiny"), SemanticConfig.preset("small")
    assert (tiny_cfg.dim, tiny_cfg.encoder_depth, tiny_cfg.codebook_size) == (64, 2, 512)
    assert (small.dim, small.mask_code, small.n_mels) == (256, 512, 80)
    assert SemanticConfig.preset("tiny", ["pool=4"]).token_rate == 12.5
    with pytest.raises(FlowvoxError, match="unknown semantic preset 'huge'"):
        SemanticConfig.preset("huge")


def test_text_tokens_round_trip_and_teacher_forcing_pairs():
    assert text_tokens("hé") == [SOT, 104, 195, 169, EOT]
    assert tokens_text([104, 195, 169, EOT, 104]) == "hé"
    inputs, targets = batch_text_tokens(["ab", "a"])
    assert inputs.tolist() == [[SOT, 97, 98], [SOT, 97, EOT]]
    assert targets.tolist() == [[97, 98, EOT], [97, EOT, -100]]


def test_transcribe_gives_each_row_what_it_gives_alone():
    model = tiny()
    emb = torch.randn(3, 5, 64)
    mask = torch.tensor([[True] * 5, [True] * 2 + [False] * 3, [True] * 4 + [False]])
    texts = model.transcribe(emb, mask, max_tokens=6)
    assert len(texts) == 3
    for row in range(3):
        n = int(mask[row].sum())
        assert model.transcribe(emb[row : row + 1, :n], max_tokens=6) == [texts[row]]
    assert all(len(t) <= 6 for t in texts)  # at most one character per byte


def test_whisper_token_decoders_do_not_transcribe():
    model = SemanticTokenizer(
        SemanticConfig.preset("tiny").replace(text_tokens="whisper", text_vocab_size=300)
    )
    with pytest.raises(FlowvoxError, match="Whisper's tokenizer"):
        model.transcribe(torch.randn(1, 2, 64))
