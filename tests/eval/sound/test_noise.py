import numpy as np
import pytest

from flowvox.errors import FlowvoxError
from flowvox.eval.sound.noise import colour_from_slope, noise_colour, spectral_slope

from .make_audio import sox_synth


@pytest.mark.parametrize(("colour", "slope"), [("white", 0.0), ("pink", -3.0), ("brown", -6.0)])
def test_sox_noise_slopes_and_colours(colour, slope):
    for seconds, volume in ((3.0, "0.5"), (1.0, "0.05")):
        x = sox_synth(seconds, f"{colour}noise", "vol", volume)
        assert spectral_slope(x) == pytest.approx(slope, abs=0.75)
        assert noise_colour(x) == colour


def test_numpy_white_noise_is_flat_and_boundaries_pick_nearest():
    x = np.random.default_rng(0).standard_normal(32000)
    assert spectral_slope(x) == pytest.approx(0.0, abs=0.3)
    assert [colour_from_slope(s) for s in (1.0, -1.4, -1.6, -4.4, -4.6, -9)] == [
        "white", "white", "pink", "pink", "brown", "brown",
    ]  # fmt: skip


def test_too_short_for_a_slope():
    with pytest.raises(FlowvoxError, match="too few"):
        spectral_slope(np.zeros(100))
