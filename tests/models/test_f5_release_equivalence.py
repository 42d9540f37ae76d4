"""flowvox's infilling DiT against the released ``f5-tts`` package (1.1.22) on the same weights.

A seeded f5-tts ``CFM(DiT)`` (zero-init layers filled so outputs are not trivially zero) is
saved as an F5 release file, read back by f5-tts and, through the benchmark's release-format
mapping, by flowvox's model-directory loader; both must give the same velocity for every
drop-flag combination and the same mel from the sampler. The torchaudio stand-in that lets
f5-tts import (tests/peers/f5_peer.py) is checked against flowvox's own mel front-end.

The peer tests need the peers venv (benchmarks/peers/setup_peers.sh f5tts); elsewhere they
skip, or fail with FLOWVOX_REQUIRE_F5=1 (`make test-f5` runs them there in CI):
  benchmarks/.peers-venv/bin/python -m pytest -q -p no:cacheprovider tests/models/test_f5_*.py
"""

import os

import pytest
import torch

from flowvox.audio.mel import MelSpectrogram, get_mel_preset
from flowvox.infer.backends.infill import sample_chunks
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.sampling import ChunkJob
from tests.peers import f5_pair
from tests.peers.f5_peer import StandinMelSpectrogram, import_f5_model, missing_packages

SHAPE = f5_pair.PairShape("test", dim=64, depth=2, heads=2, text_dim=32, conv_layers=1)


def test_standin_mel_matches_flowvox_vocos_mel():
    wav = torch.randn(2, 24000, generator=torch.Generator().manual_seed(0)) * 0.1
    standin = StandinMelSpectrogram(
        sample_rate=24000, n_fft=1024, win_length=1024, hop_length=256, n_mels=100, power=1,
        center=True, normalized=False, norm=None,
    )  # fmt: skip
    ours = MelSpectrogram(get_mel_preset("vocos24k"))(wav)  # (b, f, n) log-mel
    theirs = standin(wav).clamp(min=1e-5).log()  # what f5-tts does with it
    assert theirs.shape == ours.shape == (2, 100, 94)
    torch.testing.assert_close(theirs, ours, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def f5_model():
    missing = missing_packages()
    if missing:
        message = f"{missing} not installed: benchmarks/peers/setup_peers.sh f5tts"
        if os.environ.get("FLOWVOX_REQUIRE_F5") == "1":  # set where the peers venv runs it
            pytest.fail(message)
        pytest.skip(message)
    return import_f5_model()


@pytest.fixture(scope="module")
def pair(f5_model, tmp_path_factory):
    """(f5 CFM, flowvox InfillTTS, flowvox tokenizer) loaded from one release file."""
    folder = tmp_path_factory.mktemp("f5")
    source = f5_pair.build_f5(f5_model, SHAPE, seed=0)
    release = folder / "model.safetensors"
    f5_pair.save_release(source, release)
    f5 = f5_pair.build_f5(f5_model, SHAPE, seed=1)
    f5_pair.load_release_into_f5(f5, release)
    config = f5_pair.flowvox_config(SHAPE, hide_padding=True)
    model_dir = f5_pair.release_to_flowvox_dir(release, config, folder / "flowvox")
    loaded = f5_pair.load_flowvox(model_dir)
    return f5.eval(), loaded.model, loaded.tokenizer


@pytest.mark.slow
@pytest.mark.parametrize("drop_audio, drop_text", [(False, False), (True, False), (True, True)])
def test_dit_forward_matches_f5(pair, drop_audio, drop_text):
    f5, flowvox, tokenizer = pair
    g = torch.Generator().manual_seed(1)
    x, cond = torch.randn(2, 1, 80, 100, generator=g)
    cond[:, 40:] = 0.0
    t = torch.rand(1, generator=g)
    ids = torch.tensor([tokenizer.encode("Hello there, general Kenobi.")])
    with torch.no_grad():
        theirs = f5.transformer(
            x=x, cond=cond, text=ids, time=t, drop_audio_cond=drop_audio, drop_text=drop_text
        )
        ours = flowvox(x, cond, ids, t, None, drop_audio, drop_text)
    assert theirs.abs().max() > 0.1  # the filled zero-init layers make the output non-trivial
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


@pytest.mark.slow
def test_sampler_matches_f5_cfm_sample(pair):
    f5, flowvox, tokenizer = pair
    ref = torch.randn(30, 100, generator=torch.Generator().manual_seed(2)) - 4.0
    text, total, seed = "Short prompt, then a little more text.", 90, 7
    out, _ = f5.sample(
        cond=ref[None], text=[text], duration=total, steps=4, cfg_strength=2.0,
        sway_sampling_coef=-1.0, seed=seed, use_epss=False,
    )  # fmt: skip
    job = ChunkJob(ref, tokenizer.encode(text), total, seed)
    options = SynthesisOptions(nfe=4, cfg=2.0, sway=-1.0, seed=seed)
    ours = sample_chunks(flowvox, [job], options).mels[0]
    torch.testing.assert_close(ours, out[0, 30:total], atol=1e-4, rtol=1e-4)


MIXED_TEXTS = [
    "你好，世界！Hello world; 我们在2024年去了北京。",
    "他说：“我不知道。” Then he left…",
    "Mixed: 一个AI模型, version 2.0, 跑得很快!",
    "展览会上有很多有趣的展品；‘Really?’ she asked.",
    "一一 五五五 老老虎",
]


@pytest.mark.slow
def test_pinyin_tokens_match_f5(f5_model):
    """flowvox's pinyin tokenizer gives f5-tts's token lists on mixed Chinese/English text."""
    from f5_tts.model.utils import convert_char_to_pinyin

    from flowvox.text.pinyin import pinyin_tokens

    theirs = convert_char_to_pinyin(MIXED_TEXTS)
    for text, expected in zip(MIXED_TEXTS, theirs, strict=True):
        assert pinyin_tokens(text) == expected, text
