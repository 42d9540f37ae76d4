"""Data: manifests, corpus readers, mel datasets, frame-budget batching and preparation."""

from flowvox.data.cache import load_cache_config, mel_cache_name, read_mel
from flowvox.data.dataset import Batch, MelDataset, Utterance, collate_utterances
from flowvox.data.manifest import (
    LocatedEntry,
    ManifestEntry,
    iter_manifest,
    iter_manifest_located,
    parse_manifest_line,
    read_manifest,
    write_manifest,
)
from flowvox.data.prepare import prepare_dataset
from flowvox.data.prepare_item import SKIP_REASONS, SkippedFile
from flowvox.data.readers import (
    locate_entries,
    read_entries,
    read_ljspeech,
    read_wav_txt_folder,
)
from flowvox.data.report import PrepareReport
from flowvox.data.sampler import FrameBudgetBatchSampler

__all__ = [
    "Batch",
    "FrameBudgetBatchSampler",
    "LocatedEntry",
    "ManifestEntry",
    "MelDataset",
    "PrepareReport",
    "SKIP_REASONS",
    "SkippedFile",
    "Utterance",
    "collate_utterances",
    "iter_manifest",
    "iter_manifest_located",
    "load_cache_config",
    "locate_entries",
    "mel_cache_name",
    "parse_manifest_line",
    "prepare_dataset",
    "read_entries",
    "read_ljspeech",
    "read_manifest",
    "read_mel",
    "read_wav_txt_folder",
    "write_manifest",
]
