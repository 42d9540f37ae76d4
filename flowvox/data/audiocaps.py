"""AudioCaps-style caption tables: a CSV of ``audiocap_id, youtube_id, start_time, caption``
beside a folder of local audio, read as ``ManifestEntry`` lists (text = the caption).

Each row's audio is looked up among the audio files under the audio folder (recursive) by
these stems, in order: ``{audiocap_id}``, ``{youtube_id}_{start_time}`` (start as written and
as an integer), ``Y{youtube_id}`` (AudioSet naming), ``{youtube_id}``. Rows with no file are
left out with one warning naming how many and the first; a table with no file at all is an
error. The split comes from the CSV's name (``train.csv`` → train; ``val``/``valid``/
``test`` → test), and a folder holding several such CSVs reads them all.
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

from flowvox.audio.io import audio_files
from flowvox.data.manifest import LocatedEntry, ManifestEntry
from flowvox.errors import FlowvoxError

COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
TEST_SPLITS = ("val", "valid", "validation", "test")


def is_caption_table(path: Path) -> bool:
    """True when ``path`` is a CSV whose header holds the AudioCaps columns."""
    if path.suffix.lower() != ".csv" or not path.is_file():
        return False
    with path.open(encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f), [])
    return set(COLUMNS) <= {name.strip() for name in header}


def caption_tables(folder: Path) -> list[Path]:
    """The AudioCaps-style CSVs directly inside ``folder``."""
    return sorted(p for p in folder.glob("*.csv") if is_caption_table(p))


def _stems(audio: str, youtube: str, start: str) -> list[str]:
    names = [audio, f"{youtube}_{start}"]
    try:
        names.append(f"{youtube}_{int(float(start))}")
    except ValueError:
        pass
    return [*names, f"Y{youtube}", youtube]


def locate_audiocaps(
    table: str | os.PathLike, audio_dir: str | os.PathLike | None = None
) -> list[LocatedEntry]:
    """Entries of one caption table; ``audio_dir`` defaults to the table's folder."""
    table = Path(table).resolve()
    if not is_caption_table(table):
        raise FlowvoxError(f"{table}: not a caption table; its header needs {', '.join(COLUMNS)}")
    folder = Path(audio_dir).resolve() if audio_dir is not None else table.parent
    files = {p.stem: p for p in audio_files(folder)}
    split = "test" if table.stem.lower() in TEST_SPLITS else "train"
    located, missing = [], []
    with table.open(encoding="utf-8-sig", newline="") as f:
        for number, row in enumerate(csv.DictReader(f), start=2):
            row = {k.strip(): (v or "").strip() for k, v in row.items() if k}
            where = f"{table}:{number}"
            caption = " ".join(row["caption"].split())
            if not caption:
                raise FlowvoxError(f"{where}: the caption is empty; write what is heard")
            stems = _stems(row["audiocap_id"], row["youtube_id"], row["start_time"])
            audio = next((files[s] for s in stems if s in files), None)
            if audio is None:
                missing.append(row["audiocap_id"] or where)
                continue
            extra = {"audiocap_id": row["audiocap_id"], "youtube_id": row["youtube_id"],
                     "start_time": row["start_time"]}  # fmt: skip
            entry = ManifestEntry(str(audio), caption, "audiocaps", "en", split=split, extra=extra)
            located.append(LocatedEntry(entry, where))
    if not located:
        raise FlowvoxError(
            f"{table}: none of its {len(missing)} rows has an audio file under {folder}; "
            "name files <audiocap_id>.wav or <youtube_id>_<start_time>.wav"
        )
    if missing:
        warnings.warn(
            f"{table}: {len(missing)} row(s) without an audio file under {folder} left out "
            f"(first: {missing[0]})",
            stacklevel=2,
        )
    return located
