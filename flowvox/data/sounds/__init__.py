"""flowvox.data.sounds: a captioned sound corpus (tones, beeps, noise, sweeps, speech) for
latent text-to-audio, with the attributes of every clip for the judges.

from flowvox.data.sounds import SoundCorpusConfig, build_sound_corpus
report = build_sound_corpus(SoundCorpusConfig("sounds/", clips=1000))
"""

from flowvox.data.sounds.attributes import Event, SoundAttributes, pitch_band
from flowvox.data.sounds.build import build_sound_corpus
from flowvox.data.sounds.config import SoundCorpusConfig, SoundCorpusReport
from flowvox.data.sounds.held_out import held_out_combo, split_of
from flowvox.data.sounds.plan import ClipPlan, plan_clip, plan_sounds

__all__ = [
    "ClipPlan",
    "Event",
    "SoundAttributes",
    "SoundCorpusConfig",
    "SoundCorpusReport",
    "build_sound_corpus",
    "held_out_combo",
    "pitch_band",
    "plan_clip",
    "plan_sounds",
    "split_of",
]
