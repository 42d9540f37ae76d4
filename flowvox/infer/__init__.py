"""flowvox.infer: the Synthesizer pipeline (reference, duration, chunking, batching, streaming).

from flowvox.infer import Synthesizer
tts = Synthesizer.from_pretrained("MODEL_DIR")
wav, sr = tts.speak("Hello there.", ref_audio="me.wav", ref_text="What I said.")
"""

from flowvox.infer.backends.infill import sample_chunks
from flowvox.infer.duration import chunk_budget, prepare_ref_text, rule_frames, split_duration
from flowvox.infer.join import CrossFader, cross_fade_join
from flowvox.infer.options import Speech, SynthesisOptions
from flowvox.infer.reference import Reference, build_reference, clip_at_silence
from flowvox.infer.sampling import ChunkJob, SampleResult
from flowvox.infer.synthesizer import Synthesizer

__all__ = [
    "ChunkJob",
    "CrossFader",
    "Reference",
    "SampleResult",
    "Speech",
    "SynthesisOptions",
    "Synthesizer",
    "build_reference",
    "chunk_budget",
    "clip_at_silence",
    "cross_fade_join",
    "prepare_ref_text",
    "rule_frames",
    "sample_chunks",
    "split_duration",
]
