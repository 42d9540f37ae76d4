"""Duration rule, chunk budget, cross-fade join and the silence cut, on exact numbers."""

import math

import numpy as np
import pytest
import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import epss_grid
from flowvox.infer import (
    CrossFader,
    SynthesisOptions,
    chunk_budget,
    clip_at_silence,
    cross_fade_join,
    prepare_ref_text,
    rule_frames,
    split_duration,
)
from flowvox.infer.sampling import sampling_grid


def test_rule_frames_is_the_f5_formula():
    # total = ref + int(ref * utf8(gen) / utf8(ref) / speed)
    assert rule_frames(200, "abcd. ", "x" * 30, 1.0) == 200 + int(200 / 6 * 30)
    assert rule_frames(200, "abcd. ", "x" * 30, 2.0) == 200 + int(200 / 6 * 30 / 2)
    assert rule_frames(100, "ab. ", "é", 1.0) == 100 + int(100 / 4 * 2)  # é is 2 UTF-8 bytes
    assert rule_frames(100, "a" * 1000, "b", 1.0) == 102  # at least two generated frames


def test_prepare_ref_text_ends_like_f5():
    assert prepare_ref_text("  hello   world ") == "hello world. "
    assert prepare_ref_text("hello.") == "hello. "
    assert prepare_ref_text("你好。") == "你好。"
    with pytest.raises(FlowvoxError, match="ref_text is empty"):
        prepare_ref_text("   ")


def test_split_duration_shares_by_bytes_and_adds_overlaps():
    frames = split_duration(3.0, ["aaaa", "aaaaaaaaaaaa"], frame_rate=100.0, overlap_seconds=0.5)
    assert sum(frames) == round((3.0 + 0.5) * 100)
    assert frames == [87, 263]  # 350 · 4/16 = 87.5 -> 87, remainder to the last
    assert split_duration(1.0, ["abc"], 93.75, 0.15) == [94]


def test_chunk_budget_uses_the_reference_pace():
    # 30 bytes in 3 s = 10 B/s, 22 - 3 = 19 s left -> 190 bytes; speed 2 -> 380
    assert chunk_budget("x" * 30, 3.0, 22.0) == 190
    assert chunk_budget("x" * 30, 3.0, 22.0, speed=2.0) == 380
    assert chunk_budget("x", 10.0, 22.0) == 16  # floor: never smaller than 16 bytes


def test_cross_fade_join_matches_the_formula():
    a = np.ones(10, np.float32)
    b = np.full(8, 3.0, np.float32)
    out = cross_fade_join([a, b], 4)
    ramp = np.linspace(0, 1, 4, dtype=np.float32)
    expected = np.concatenate([a[:6], (1 - ramp) * 1 + ramp * 3, b[4:]])
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert len(out) == 10 + 8 - 4
    # a chunk shorter than the fade shortens the overlap to its own length
    assert len(cross_fade_join([a, np.ones(2, np.float32)], 4)) == 10


def test_streamed_join_concatenates_to_the_whole_join():
    rng = np.random.default_rng(0)
    chunks = [rng.standard_normal(n).astype(np.float32) for n in (50, 3, 40, 7, 60)]
    fader = CrossFader(6)
    pieces = [fader.push(c) for c in chunks] + [fader.finish()]
    np.testing.assert_allclose(np.concatenate(pieces), cross_fade_join(chunks, 6), rtol=1e-6)
    assert all(len(p) <= 60 for p in pieces)


def test_clip_at_silence_cuts_in_the_quiet_gap():
    sr = 1000
    wav = np.ones(15 * sr, np.float32)
    wav[int(10.2 * sr) : int(10.5 * sr)] = 0.0  # the only quiet stretch before 12 s
    out = clip_at_silence(wav, sr, 12.0)
    assert 10.2 * sr <= len(out) <= 10.5 * sr
    short = np.ones(5 * sr, np.float32)
    assert clip_at_silence(short, sr, 12.0) is short


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("nfe", 0, "nfe=0"),
        ("nfe", 2.5, "nfe=2.5"),
        ("cfg", -0.5, "cfg=-0.5"),
        ("speed", 0.0, "speed=0.0"),
        ("speed", -1.0, "speed=-1.0"),
        ("sway", 2.0, "sway=2.0"),
        ("solver", "heun", "solver='heun'"),
        ("duration", 0.0, "duration=0.0"),
        ("seed", 1.5, "seed=1.5"),
    ],
)
def test_bad_options_raise_one_line_errors(field, value, message):
    with pytest.raises(FlowvoxError, match=message) as err:
        SynthesisOptions(**{field: value})
    assert "\n" not in str(err.value)


def f5_grid(nfe: int, sway: float, epss: bool) -> torch.Tensor:
    """f5-tts 1.1.22 ``CFM.sample``'s t, written out: the EPSS table (in 32nds) where it has
    one and epss is on, else uniform; then t + s (cos(pi t / 2) - 1 + t)."""
    tables = {
        5: [0, 2, 4, 8, 16, 32],
        16: [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28, 32],
    }
    if epss and nfe in tables:
        t = torch.tensor(tables[nfe], dtype=torch.float64) / 32
    else:
        t = torch.arange(nfe + 1, dtype=torch.float64) / nfe
    return t + sway * (torch.cos(math.pi / 2 * t) - 1 + t)


@pytest.mark.parametrize(
    ("nfe", "sway", "epss"),
    [(16, -1.0, True), (5, -1.0, True), (16, 0.0, True), (16, 0.4, True), (9, -1.0, True),
     (32, -1.0, True), (16, -1.0, False), (32, -1.0, False), (8, 0.0, False)],
)  # fmt: skip
def test_sampling_grid_is_f5s_epss_or_uniform_grid_then_sway(nfe, sway, epss):
    grid = sampling_grid(SynthesisOptions(nfe=nfe, sway=sway, epss=epss))
    assert grid.dtype == torch.float32 and grid.shape == (nfe + 1,)
    torch.testing.assert_close(grid.double(), f5_grid(nfe, sway, epss), rtol=0, atol=3e-7)
    assert bool((grid.diff() > 0).all()) and grid[0] == 0 and grid[-1] == 1


def test_epss_with_sway_zero_is_the_bare_epss_table():
    grid = sampling_grid(SynthesisOptions(nfe=16, sway=0.0, epss=True))
    assert torch.equal(grid, epss_grid(16))
    sway_on = sampling_grid(SynthesisOptions(nfe=16, sway=-1.0, epss=True))
    assert (sway_on - grid).abs().max() > 0.01  # sway changes the EPSS grid


def test_epss_outside_the_table_is_accepted_and_falls_back_to_uniform():
    opts = SynthesisOptions(nfe=9, epss=True)
    assert torch.equal(sampling_grid(opts), sampling_grid(opts.replace(epss=False)))
    assert sampling_grid(opts.replace(solver="dopri5")) is None


def test_unknown_option_name_is_refused():
    with pytest.raises(FlowvoxError, match="unknown synthesis option"):
        SynthesisOptions().replace(steps=4)
