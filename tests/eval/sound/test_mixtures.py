"""Mixtures as the sound corpus makes them: a tonal foreground over quieter sox noise."""

import pytest

from flowvox.eval.sound.judges import judge_clip, score

from .make_audio import SR, Clip, beeps, noise, over_noise, sox_synth, tone


def _pluck(freq: float) -> Clip:
    clip = Clip().add(1.0, sox_synth(1.0, "pluck", str(freq)), "pluck")
    clip.truth = clip.contract(pitch_hz=freq)
    return clip


def _steady(freq: float, seconds: float = 1.5) -> Clip:
    clip = Clip().add(1.0, tone(freq, seconds), "tone")
    clip.truth = clip.contract(pitch_hz=freq)
    return clip


@pytest.mark.parametrize(
    ("fg", "colour"),
    [
        (_steady(330.0), "white"),
        (_steady(550.0), "brown"),
        (beeps(3, 440.0, on=0.12, gap=0.2, start=1.0), "pink"),
        (beeps(4, 1200.0, on=0.12, gap=0.25, start=1.0), "brown"),
        (beeps(2, 262.0, on=0.35, gap=0.15, start=1.0), "white"),
        (_pluck(392.0), "pink"),
    ],
    ids=["tone-white", "tone-brown", "beeps3-pink", "beeps4-brown", "pulses2-white", "pluck-pink"],
)
def test_tonal_foreground_over_noise(fg, colour):
    clip = over_noise(fg, colour)
    estimate = judge_clip(clip.render(), SR)
    verdict = score(estimate, clip.truth)
    for key in ("count", "pitch_hz", "noise_colour", "order", "speech", "fade"):
        assert verdict[key], (key, estimate.to_dict(), clip.truth)


@pytest.mark.parametrize("colour", ["white", "pink", "brown"])
def test_noise_alone_is_not_a_mixture(colour):
    estimate = judge_clip(noise(colour, seconds=3.0).render(), SR)
    assert (estimate.count, estimate.order, estimate.noise_colour) == (1, ["noise"], colour)
