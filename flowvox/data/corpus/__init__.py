"""flowvox.data.corpus: build a multi-speaker synthetic speech corpus from Debian speech engines.

from flowvox.data.corpus import CorpusConfig, build_corpus
report = build_corpus(CorpusConfig("corpus/", hours=1.0))
"""

from flowvox.data.corpus.build import build_corpus
from flowvox.data.corpus.card import format_voice_table
from flowvox.data.corpus.config import CorpusConfig, CorpusReport, EngineSpeed
from flowvox.data.corpus.sentences import is_held_out
from flowvox.data.corpus.voices import VoiceInfo, check_available, list_voices, resolve_voice

__all__ = [
    "CorpusConfig",
    "CorpusReport",
    "EngineSpeed",
    "VoiceInfo",
    "build_corpus",
    "check_available",
    "format_voice_table",
    "is_held_out",
    "list_voices",
    "resolve_voice",
]
