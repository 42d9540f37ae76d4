import numpy as np
import pytest

from flowvox.errors import FlowvoxError
from flowvox.eval.sound.frechet import (
    embed_clips,
    frechet_distance,
    projection,
    sound_frechet_distance,
)

from .make_audio import SR, tone


def _beep_set(base: float, n: int = 6, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        tone(base * 2 ** (rng.uniform(-1, 1) / 12), 1.0) + 0.01 * rng.standard_normal(SR)
        for _ in range(n)
    ]


def test_projection_is_fixed_and_orthonormal():
    q = projection()
    assert q.shape == (256, 128)
    np.testing.assert_allclose(q.T @ q, np.eye(128), atol=1e-10)
    np.testing.assert_array_equal(q, projection())


def test_closed_form_for_gaussians_with_equal_covariance():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    shift = np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a, a + shift) == pytest.approx(5.0, rel=1e-6)


def test_fd_is_zero_against_itself_symmetric_and_grows_with_pitch_shift():
    base, other = _beep_set(440), _beep_set(440, seed=1)
    shifted = _beep_set(440 * 2 ** (4 / 12), seed=1)  # a major third up
    octave = _beep_set(880, seed=1)
    e = embed_clips(base + other + shifted + octave, SR)  # (24, 128)
    e_base, e_other, e_shifted, e_octave = e[:6], e[6:12], e[12:18], e[18:]
    assert sound_frechet_distance(base, base, SR) == pytest.approx(0.0, abs=1e-6)
    near = frechet_distance(e_base, e_other)
    assert near == pytest.approx(frechet_distance(e_other, e_base), rel=1e-6)
    assert near < frechet_distance(e_base, e_shifted) < frechet_distance(e_base, e_octave)


def test_embedding_shape_and_errors():
    assert embed_clips(_beep_set(300, n=3), SR).shape == (3, 128)
    with pytest.raises(FlowvoxError, match="too short"):
        embed_clips([np.zeros(100)], SR)
    with pytest.raises(FlowvoxError, match="≥ 2 clips"):
        frechet_distance(np.zeros((1, 4)), np.zeros((3, 4)))
    with pytest.raises(FlowvoxError, match="same d"):
        frechet_distance(np.zeros((3, 4)), np.zeros((3, 5)))
