"""Readers for the common corpus layouts, all giving ``ManifestEntry`` lists.

Accepted layouts (``read_entries`` tells them apart):
- a JSONL manifest file (``*.jsonl``), or a folder holding ``manifest.jsonl``;
- LJSpeech: a folder with ``metadata.csv`` (``id|text|normalized_text`` or ``id|text``)
  and the audio in ``wavs/<id>.wav``;
- a folder of ``x.wav`` / ``x.flac`` / ``x.ogg`` files, each with a sibling ``x.txt``
  (searched recursively; the speaker is the parent folder's name): transcripts, or captions
  of sounds;
- AudioCaps: a CSV of ``audiocap_id, youtube_id, start_time, caption``, or a folder holding
  such CSVs (train.csv, val.csv, test.csv), with the audio files under the same folder
  (``flowvox.data.audiocaps``).

Audio paths in the entries are absolute. Whether the audio is readable is not checked
here: ``prepare_dataset`` skips and reports bad audio files.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from flowvox.audio.io import audio_files
from flowvox.data.audiocaps import caption_tables, is_caption_table, locate_audiocaps
from flowvox.data.manifest import LocatedEntry, ManifestEntry, iter_manifest_located
from flowvox.errors import FlowvoxError

MANIFEST_NAME = "manifest.jsonl"
LJSPEECH_NAME = "metadata.csv"
LAYOUTS = (
    "a .jsonl manifest file; a folder with manifest.jsonl; a folder with metadata.csv "
    "(LJSpeech: id|text|normalized_text, audio in wavs/<id>.wav); or a folder of "
    "x.wav/x.flac/x.ogg files each with a sibling x.txt transcript or caption; or an "
    "AudioCaps-style CSV (audiocap_id,youtube_id,start_time,caption) or a folder of them, "
    "audio files beside"
)


def read_ljspeech(
    folder: str | os.PathLike, speaker: str | None = None, language: str = "en"
) -> list[ManifestEntry]:
    """Entries of an LJSpeech-style folder; the speaker defaults to the folder's name."""
    return [located.entry for located in locate_ljspeech(folder, speaker, language)]


def read_wav_txt_folder(
    folder: str | os.PathLike, speaker: str | None = None, language: str = "en"
) -> list[ManifestEntry]:
    """Entries of a folder of audio files with sibling ``.txt`` transcripts (recursive).

    The speaker is each file's parent folder name unless ``speaker`` fixes one name.
    Audio files without a transcript are left out with one warning.
    """
    return [located.entry for located in locate_wav_txt_folder(folder, speaker, language)]


def read_entries(path: str | os.PathLike) -> list[ManifestEntry]:
    """Entries of any accepted layout (see the module docstring), detected from ``path``."""
    return [located.entry for located in locate_entries(path)]


def locate_entries(path: str | os.PathLike) -> list[LocatedEntry]:
    """Like ``read_entries``, each entry paired with where it came from (for error messages)."""
    path = Path(path)
    if path.is_file():
        if path.suffix == ".jsonl":
            return list(iter_manifest_located(path))
        if path.name == LJSPEECH_NAME:
            return locate_ljspeech(path.parent)
        if is_caption_table(path):
            return locate_audiocaps(path)
        raise FlowvoxError(f"{path}: not a dataset; accepted layouts: {LAYOUTS}")
    if not path.is_dir():
        raise FlowvoxError(f"{path}: no such file or folder; accepted layouts: {LAYOUTS}")
    if (path / MANIFEST_NAME).is_file():
        return list(iter_manifest_located(path / MANIFEST_NAME))
    if (path / LJSPEECH_NAME).is_file():
        return locate_ljspeech(path)
    tables = caption_tables(path)
    if tables:
        return [located for table in tables for located in locate_audiocaps(table)]
    if any(audio_files(path)):
        return locate_wav_txt_folder(path)
    raise FlowvoxError(f"{path}: no dataset found; accepted layouts: {LAYOUTS}")


def locate_ljspeech(
    folder: str | os.PathLike, speaker: str | None = None, language: str = "en"
) -> list[LocatedEntry]:
    """``read_ljspeech`` with each entry's ``metadata.csv:line``."""
    folder = Path(folder).resolve()
    metadata = folder / LJSPEECH_NAME
    if not metadata.is_file():
        raise FlowvoxError(f"{folder}: no {LJSPEECH_NAME} (LJSpeech layout expected)")
    speaker = speaker or folder.name
    located = []
    with metadata.open(encoding="utf-8-sig") as lines:
        for number, line in enumerate(lines, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            where = f"{metadata}:{number}"
            fields = line.split("|")
            if len(fields) not in (2, 3) or not fields[0].strip():
                raise FlowvoxError(
                    f"{where}: expected 'id|text|normalized_text' or 'id|text', "
                    f"got {len(fields)} field(s)"
                )
            text = fields[2].strip() if len(fields) == 3 else ""
            text = text or fields[1].strip()
            if not text:
                raise FlowvoxError(f"{where}: the line has no text; give a transcript")
            audio = folder / "wavs" / f"{fields[0].strip()}.wav"
            entry = ManifestEntry(audio=str(audio), text=text, speaker=speaker, language=language)
            located.append(LocatedEntry(entry, where))
    if not located:
        raise FlowvoxError(f"{metadata}: holds no lines; give one 'id|text' line per clip")
    return located


def locate_wav_txt_folder(
    folder: str | os.PathLike, speaker: str | None = None, language: str = "en"
) -> list[LocatedEntry]:
    """``read_wav_txt_folder`` with each entry's transcript file as its origin."""
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise FlowvoxError(f"{folder}: no such folder")
    located, orphans = [], []
    for audio in sorted(audio_files(folder)):
        transcript = audio.with_suffix(".txt")
        if not transcript.is_file():
            orphans.append(audio)
            continue
        text = " ".join(transcript.read_text(encoding="utf-8-sig").split())
        if not text:
            raise FlowvoxError(f"{transcript}: the transcript is empty; write what is said")
        entry = ManifestEntry(
            audio=str(audio), text=text, speaker=speaker or audio.parent.name, language=language
        )
        located.append(LocatedEntry(entry, str(transcript)))
    if not located:
        raise FlowvoxError(f"{folder}: no audio file has a sibling .txt transcript")
    if orphans:
        warnings.warn(
            f"{folder}: {len(orphans)} audio file(s) without a .txt transcript left out "
            f"(first: {orphans[0]})",
            stacklevel=2,
        )
    return located
