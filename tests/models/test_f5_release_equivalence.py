"""flowvox's infilling models against the released ``f5-tts`` package (1.1.22) on the same
weights.

A seeded f5-tts ``CFM(DiT)`` (zero-init layers filled so outputs are not trivially zero) is
saved as an F5 release file, read back by f5-tts and, through the benchmark's release-format
mapping, by flowvox's model-directory loader; both must give the same velocity for every
drop-flag combination and the same mel from the sampler (NFE 4 on the uniform grid, NFE 16
on the EPSS grid, NFE 32 as the official CLI runs it; sway -1 on top of each). Then the
files f5-tts writes itself (its ``Trainer`` with an ``ema_pytorch`` EMA:
``model_<update>.pt``, pruned to a ``.safetensors`` release) go through the real ``flowvox
convert f5`` CLI, for the DiT and for E2's UNetT, and must match what f5-tts's
``load_checkpoint`` makes of the same file (max abs difference <= 1e-4). The torchaudio
stand-in that lets f5-tts import (tests/peers/f5_peer.py) is checked against flowvox's own
mel front-end.

The peer tests need the peers venv (benchmarks/peers/setup_peers.sh f5tts); elsewhere they
skip, or fail with FLOWVOX_REQUIRE_F5=1 (`make test-f5` runs them there in CI):
  benchmarks/.peers-venv/bin/python -m pytest -q -p no:cacheprovider tests/models/test_f5_*.py
"""

from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file, save_file

from flowvox.audio.mel import MelSpectrogram, get_mel_preset
from flowvox.cli.main import main
from flowvox.infer.backends.infill import sample_chunks
from flowvox.infer.options import SynthesisOptions
from flowvox.infer.sampling import ChunkJob
from flowvox.models.infill.load import load_infill_model
from tests.peers import f5_pair
from tests.peers.f5_peer import (
    INSTALL_HINT,
    StandinMelSpectrogram,
    import_f5_model,
    missing_packages,
)
from tests.peers.require import require_peer

SHAPE = f5_pair.PairShape("test", dim=64, depth=2, heads=2, text_dim=32, conv_layers=1)
# 4 heads of 16 channels: F5's rule (width / 64) would say 1 head; long skip on
TRAINED = f5_pair.PairShape(
    "trained", dim=64, depth=2, heads=4, dim_head=16, text_dim=32, conv_layers=1, long_skip=True
)
E2_SHAPES = {  # v0: the official E2 (text width = mel width, no ConvNeXt, RoPE on head 0)
    "v0": f5_pair.E2Shape(dim=64, depth=4, heads=4, dim_head=16),
    "v1": f5_pair.E2Shape(dim=64, depth=2, heads=2, dim_head=32, version="v1", text_dim=32,
                          conv_layers=1),
}  # fmt: skip
DROPS = [(False, False), (True, False), (True, True)]
TOL = 1e-4  # max abs difference, velocity and sampled mel


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
    require_peer(missing_packages(), INSTALL_HINT, env="FLOWVOX_REQUIRE_F5")
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


def velocities(f5, flowvox, tokenizer, drop_audio: bool, drop_text: bool):
    """(f5's, flowvox's) velocity (1, 80, 100) for one seeded input and the drop flags."""
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
    return theirs, ours


def velocity_diff(f5, flowvox, tokenizer, drop_audio: bool = False, drop_text: bool = False):
    theirs, ours = velocities(f5, flowvox, tokenizer, drop_audio, drop_text)
    return (ours - theirs).abs().max().item()


def samples(f5, flowvox, tokenizer, nfe=4, f5_epss=False, epss=False):
    """(f5's ``CFM.sample`` with ``use_epss=f5_epss``, flowvox's ``sample_chunks`` with
    ``epss``) mel (60, 100) after a 30-frame prompt: ``nfe`` Euler steps, CFG 2, sway -1,
    one seed."""
    ref = torch.randn(30, 100, generator=torch.Generator().manual_seed(2)) - 4.0
    text, total, seed = "Short prompt, then a little more text.", 90, 7
    out, _ = f5.sample(
        cond=ref[None], text=[text], duration=total, steps=nfe, cfg_strength=2.0,
        sway_sampling_coef=-1.0, seed=seed, use_epss=f5_epss,
    )  # fmt: skip
    job = ChunkJob(ref, tokenizer.encode(text), total, seed)
    options = SynthesisOptions(nfe=nfe, cfg=2.0, sway=-1.0, seed=seed, epss=epss)
    return out[0, 30:total], sample_chunks(flowvox, [job], options).mels[0]


def sample_diff(f5, flowvox, tokenizer) -> float:
    theirs, ours = samples(f5, flowvox, tokenizer)
    assert ours.shape == theirs.shape == (60, 100)
    return (ours - theirs).abs().max().item()


@pytest.mark.slow
@pytest.mark.parametrize("drop_audio, drop_text", DROPS)
def test_dit_forward_matches_f5(pair, drop_audio, drop_text):
    theirs, ours = velocities(*pair, drop_audio, drop_text)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


# (nfe, f5-tts use_epss, flowvox epss): f5-tts takes the EPSS grid where its table has the
# step count (16) and the uniform grid elsewhere (32, its CLI's default), sway on top of both
SAMPLINGS = {
    "nfe4-uniform": (4, False, False),
    "nfe16-epss": (16, True, True),
    "nfe32-official-default": (32, True, False),
    "nfe32-epss-fallback": (32, True, True),
}


@pytest.mark.slow
@pytest.mark.parametrize("nfe, f5_epss, epss", SAMPLINGS.values(), ids=SAMPLINGS.keys())
def test_sampler_matches_f5_cfm_sample(pair, nfe, f5_epss, epss):
    theirs, ours = samples(*pair, nfe=nfe, f5_epss=f5_epss, epss=epss)
    assert (ours - theirs).abs().max().item() <= TOL
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_epss_grid_changes_the_nfe16_sample(pair):
    """The EPSS comparison can fail: at NFE 16 f5-tts's EPSS and uniform grids disagree."""
    epss, _ = samples(*pair, nfe=16, f5_epss=True, epss=True)
    uniform, ours_uniform = samples(*pair, nfe=16, f5_epss=False, epss=False)
    assert (epss - uniform).abs().max().item() > 1e-3
    assert (ours_uniform - uniform).abs().max().item() <= TOL


def convert(checkpoint, out, vocab, *flags: str) -> int:
    """``flowvox convert f5 CHECKPOINT OUT --vocab V --tokenizer char [flags]``, in process."""
    argv = ["convert", "f5", str(checkpoint), str(out), "--vocab", str(vocab)]
    return main([*argv, "--tokenizer", "char", *flags])


def f5_files(f5_model, cfm, folder):
    """The files f5-tts writes for ``cfm``: its Trainer's .pt and the pruned release."""
    folder.mkdir()
    pt = f5_pair.trainer_checkpoint(f5_model, cfm, folder / "ckpts")
    release = f5_pair.prune_to_release(pt, folder / "model_4.safetensors")
    return SimpleNamespace(pt=pt, release=release, vocab=f5_pair.write_vocab(folder / "vocab.txt"))


@pytest.fixture(scope="module")
def dit_files(f5_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained")
    return f5_files(f5_model, f5_pair.build_f5(f5_model, TRAINED, seed=3), folder / "dit")


def f5_reading(f5_model, path, use_ema=True, shape=TRAINED):
    """A fresh f5-tts model (other seed) loaded from ``path`` as f5-tts's inference does."""
    if isinstance(shape, f5_pair.E2Shape):
        return f5_pair.load_like_f5(f5_pair.build_f5_e2(f5_model, shape, seed=99), path, use_ema)
    return f5_pair.load_like_f5(f5_pair.build_f5(f5_model, shape, seed=99), path, use_ema)


@pytest.mark.slow
def test_convert_cli_on_f5_trainer_release(f5_model, dit_files, tmp_path, capsys):
    keys = set(load_file(str(dit_files.release)))  # the EMA's own state dict, as f5-tts wrote it
    assert {"initted", "step", "ema_model.transformer.proj_out.weight"} <= keys
    assert convert(dit_files.release, tmp_path / "m", dit_files.vocab) == 0
    assert "F5 DiT v1, dim 64, depth 2, heads 4, text_dim 32, 1 ConvNeXt" in capsys.readouterr().out
    loaded = load_infill_model(tmp_path / "m")
    c = loaded.config
    assert (c.backbone, c.heads, c.dim_head, c.long_skip, c.ff_mult) == ("dit", 4, 16, True, 2.0)
    f5 = f5_reading(f5_model, dit_files.release)
    for drops in DROPS:
        assert velocity_diff(f5, loaded.model, loaded.tokenizer, *drops) <= TOL
    assert sample_diff(f5, loaded.model, loaded.tokenizer) <= TOL


@pytest.mark.slow
def test_convert_cli_on_f5_trainer_checkpoint_ema_and_raw(f5_model, dit_files, tmp_path):
    assert convert(dit_files.pt, tmp_path / "ema", dit_files.vocab) == 0
    assert convert(dit_files.pt, tmp_path / "raw", dit_files.vocab, "--no-ema") == 0
    ema, raw = (load_infill_model(tmp_path / name) for name in ("ema", "raw"))
    f5_ema = f5_reading(f5_model, dit_files.pt, use_ema=True)
    f5_raw = f5_reading(f5_model, dit_files.pt, use_ema=False)
    assert velocity_diff(f5_ema, ema.model, ema.tokenizer) <= TOL
    assert velocity_diff(f5_raw, raw.model, raw.tokenizer) <= TOL
    assert velocity_diff(f5_raw, ema.model, ema.tokenizer) > 1e-3  # EMA != raw: a swap shows
    assert sample_diff(f5_ema, ema.model, ema.tokenizer) <= TOL


@pytest.mark.slow
def test_heads_come_from_the_rotary_table(f5_model, dit_files, tmp_path, capsys):
    """4 heads of 16: read off rotary_embed.inv_freq (8 entries), not F5's width / 64."""
    vocab, f5 = dit_files.vocab, f5_reading(f5_model, dit_files.release)
    assert convert(dit_files.release, tmp_path / "h4", vocab, "--heads", "4") == 0
    assert load_infill_model(tmp_path / "h4").config.heads == 4
    assert convert(dit_files.release, tmp_path / "h1", vocab, "--heads", "1") == 2
    assert "--heads 1: this checkpoint has 4 heads of 16 channels" in capsys.readouterr().err
    assert not (tmp_path / "h1").exists()
    # a file without the table: --heads decides (and the table is rebuilt) ...
    state = load_file(str(dit_files.release))
    del state["ema_model.transformer.rotary_embed.inv_freq"]
    save_file(state, str(tmp_path / "no_table.safetensors"))
    assert convert(tmp_path / "no_table.safetensors", tmp_path / "t4", vocab, "--heads", "4") == 0
    loaded = load_infill_model(tmp_path / "t4")
    assert velocity_diff(f5, loaded.model, loaded.tokenizer) <= TOL
    # ... and without it F5's rule (width / 64 = 1 head) is taken: not this model
    assert convert(tmp_path / "no_table.safetensors", tmp_path / "t", vocab) == 0
    guessed = load_infill_model(tmp_path / "t")
    assert guessed.config.heads == 1 and guessed.config.dim_head == 64
    assert velocity_diff(f5, guessed.model, guessed.tokenizer) > 1e-3


@pytest.mark.slow
@pytest.mark.parametrize("version", sorted(E2_SHAPES))
def test_convert_cli_on_f5_e2_release(f5_model, tmp_path, capsys, version):
    shape = E2_SHAPES[version]
    files = f5_files(f5_model, f5_pair.build_f5_e2(f5_model, shape, seed=5), tmp_path / "e2")
    assert "ema_model.transformer.layers.1.4.ff.0.0.weight" in load_file(str(files.release))
    assert convert(files.release, tmp_path / "m", files.vocab, "--version", version) == 0
    assert f"F5 E2 {version}, dim 64, depth {shape.depth}, heads {shape.heads}" in (
        capsys.readouterr().out
    )
    loaded = load_infill_model(tmp_path / "m")
    c = loaded.config
    assert (c.backbone, c.e2_skip, c.dim_head, c.ff_mult) == ("e2", "concat", shape.dim_head, 4.0)
    assert (c.text_width, c.conv_layers) == (shape.text_dim or 100, shape.conv_layers)
    f5 = f5_reading(f5_model, files.release, shape=shape)
    for drops in DROPS:
        assert velocity_diff(f5, loaded.model, loaded.tokenizer, *drops) <= TOL
    assert sample_diff(f5, loaded.model, loaded.tokenizer) <= TOL


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
