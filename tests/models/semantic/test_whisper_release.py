"""``load_whisper`` against transformers' Whisper: a random tiny ``WhisperModel`` and a
``WhisperForConditionalGeneration`` saved by ``save_pretrained`` and read back by flowvox;
encoder output and decoder logits must agree within 1e-4 (max abs). transformers lives in
the peers venv only (``benchmarks/peers/setup_peers.sh tta``); elsewhere these tests skip,
or fail with FLOWVOX_REQUIRE_TTA=1:
  FLOWVOX_REQUIRE_TTA=1 benchmarks/.peers-venv/bin/python -m pytest -q -p no:cacheprovider \\
      tests/models/semantic/test_whisper_release.py
"""
# b: batch, n: mel frames, f: mel bins, l: text tokens, v: vocab, d: channels

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.whisper import load_whisper
from tests.peers.require import import_peer

INSTALL = "benchmarks/peers/setup_peers.sh tta"
ENV = "FLOWVOX_REQUIRE_TTA"
TOLERANCE = 1e-4
SOURCE_POSITIONS = 24  # 48 mel frames: Whisper's window, shrunk

transformers = import_peer("transformers", INSTALL, env=ENV)


def tiny_config(**changes):
    fields = dict(
        vocab_size=300, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=4, decoder_attention_heads=2, encoder_ffn_dim=96,
        decoder_ffn_dim=128, max_source_positions=SOURCE_POSITIONS, max_target_positions=16,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3,
    )  # fmt: skip
    return transformers.WhisperConfig(**{**fields, **changes})


def randomise(model: nn.Module, seed: int) -> None:
    """Every parameter random but of sane size (norm gains near 1), so no term hides."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_positions" in name and "encoder" in name:
                continue  # Whisper's fixed sinusoids
            if p.dim() == 1 and "norm" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            elif p.dim() == 1:
                p.normal_(0.0, 0.1)
            else:
                p.normal_(0.0, p[0].numel() ** -0.5)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def inputs():
    g = torch.Generator().manual_seed(1)
    features = torch.randn(2, 80, 2 * SOURCE_POSITIONS, generator=g)  # (b, f, n) as HF reads
    tokens = torch.randint(0, 300, (2, 7), generator=g)  # (b, l)
    return features, tokens


@pytest.mark.parametrize("kind", ["WhisperModel", "WhisperForConditionalGeneration"])
def test_encoder_and_decoder_match_transformers(tmp_path, kind):
    reference = getattr(transformers, kind)(tiny_config()).eval()
    randomise(reference, seed=0)
    reference.save_pretrained(tmp_path / "whisper")
    ours = load_whisper(tmp_path / "whisper")
    features, tokens = inputs()
    with torch.no_grad():
        out = reference(input_features=features, decoder_input_ids=tokens)
        base = getattr(reference, "model", reference)
        encoded = base.encoder(features).last_hidden_state  # (b, n/2, d)
        if kind == "WhisperModel":  # no head: the tied projection by hand
            logits = out.last_hidden_state @ base.decoder.embed_tokens.weight.T
        else:
            logits = out.logits
        mine = ours.encode(features.transpose(1, 2))
        assert max_diff(mine, encoded) <= TOLERANCE
        assert encoded.abs().max() > 0.1
        assert max_diff(ours.decode_logits(mine, tokens), logits) <= TOLERANCE
        assert logits.std() > 0.1
        pooled = ours.semantic(features.transpose(1, 2)).emb  # (b, n/4, d)
        assert max_diff(pooled, encoded.unflatten(1, (-1, 2)).mean(2)) <= TOLERANCE


def test_features_are_whisper_feature_extractor(tmp_path):
    transformers.WhisperModel(tiny_config(max_source_positions=1500)).save_pretrained(
        tmp_path / "w"
    )
    ours = load_whisper(tmp_path / "w")
    t = np.arange(16000 * 2) / 16000
    wav = (0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t)).astype(np.float32)
    extractor = transformers.WhisperFeatureExtractor(feature_size=80)
    theirs = extractor(wav, sampling_rate=16000, return_tensors="pt").input_features  # (1, f, n)
    mine = ours.features(wav)  # (1, n, f)
    assert max_diff(mine.transpose(1, 2), theirs) <= 1e-3  # float32 STFTs differ in rounding


def test_other_model_types_and_untied_heads_are_refused(tmp_path):
    transformers.WhisperModel(tiny_config()).save_pretrained(tmp_path / "w")
    config = json.loads((tmp_path / "w/config.json").read_text())
    (tmp_path / "w/config.json").write_text(json.dumps({**config, "model_type": "bert"}))
    with pytest.raises(FlowvoxError, match="is not 'whisper'"):
        load_whisper(tmp_path / "w")
    (tmp_path / "w/config.json").write_text(json.dumps({**config, "d_model": 32}))
    with pytest.raises(FlowvoxError, match="does not match the model"):
        load_whisper(tmp_path / "w")
