"""``flowvox semantic generate``: lines of text -> semantic tokens with T2S-FM, in bulk.

Output: OUT/tokens.jsonl, one line per input line, in the token-file format of ``flowvox
semantic encode`` (so ``flowvox semantic decode OUT/tokens.jsonl`` reads it back)::

    {"id": 3, "text": "...", "codes": [17, 402, ...], "codebook_size": 512, "rate": 25.0,
     "seed": 3, "nfe": 8, "cfg": 2.0}

``id`` is the line number in LINES.txt (blank lines are skipped), and line n's noise comes
from seed + n, so a line gets the same codes whatever batch it lands in. Every input is
checked before anything is written: the sampling settings, the model and tokenizer (they
must belong together), and every line (empty file, a line of characters the model never
saw in training, a length N outside 1 .. max_frames). Resumable: after each batch its lines
are appended with one write; a rerun keeps the lines already there (a torn last line of a
killed run is dropped, by an atomic rewrite) and makes only the missing ones.
"""
# b: batch, n: semantic frames, d: embedding channels

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import FIXED_STEP_METHODS
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.files import load_tokenizer
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.t2s_fm_config import T2SFlowConfig
from flowvox.models.semantic.t2s_fm_data import read_text_lines
from flowvox.models.semantic.t2s_fm_model import T2SFlow, load_t2s
from flowvox.models.semantic.t2s_folder import TOKENIZER_DIR, tokenizer_folder
from flowvox.utils.atomic import atomic_write_text
from flowvox.utils.json_files import append_jsonl

TOKENS_FILE = "tokens.jsonl"


@dataclass(frozen=True)
class GenerateSettings:
    """How to sample: ``nfe`` steps of ``solver``, guidance ``cfg`` (None: the model's),
    base ``seed``, ``batch_size`` lines a batch; N by the model's rule unless ``frames``
    (all lines) or ``words_per_second`` (the rule's rate) is given."""

    nfe: int = 8
    cfg: float | None = None
    seed: int = 0
    batch_size: int = 32
    solver: str = "euler"
    words_per_second: float | None = None
    frames: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.nfe, bool) or self.nfe < 1:
            raise FlowvoxError(f"--nfe {self.nfe}: give at least 1 step")
        if self.cfg is not None and not (math.isfinite(self.cfg) and self.cfg >= 0):
            raise FlowvoxError(f"--cfg {self.cfg}: give a guidance weight >= 0 (1: off)")
        if self.batch_size < 1:
            raise FlowvoxError(f"--batch-size {self.batch_size}: must be 1 or more")
        if self.solver not in FIXED_STEP_METHODS:
            raise FlowvoxError(f"--solver {self.solver!r}: use one of {FIXED_STEP_METHODS}")
        if self.words_per_second is not None and not (
            math.isfinite(self.words_per_second) and self.words_per_second > 0
        ):
            raise FlowvoxError(
                f"--words-per-second {self.words_per_second}: must be > 0 (read English: 2.5)"
            )
        if self.frames is not None and self.frames < 1:
            raise FlowvoxError(f"--frames {self.frames}: N must be at least 1 semantic frame")


@dataclass(frozen=True)
class GenerateReport:
    """What one run did: lines made now, lines kept from before, codes made, seconds."""

    path: Path
    made: int
    kept: int
    codes: int
    seconds: float

    def summary(self) -> str:
        kept = f", kept {self.kept} from before" if self.kept else ""
        return (f"wrote {self.path}: {self.made} lines, {self.codes} semantic tokens in "
                f"{self.seconds:.1f} s{kept}")  # fmt: skip


def check_pair(model: T2SFlowConfig, tokenizer: SemanticConfig, where: str = "") -> None:
    """A one-line error unless ``tokenizer`` is the one ``model`` generates for (embedding
    dimension, codebook size, token rate)."""
    pairs = [("embedding dimension", model.emb_dim, tokenizer.dim),
             ("codebook size", model.codebook_size, tokenizer.codebook_size),
             ("token rate", model.token_rate, tokenizer.token_rate)]  # fmt: skip
    for what, mine, theirs in pairs:
        if mine != theirs:
            raise FlowvoxError(
                f"{where}the T2S model was trained for a tokenizer of {what} {mine:g}, but the "
                f"tokenizer has {theirs:g}; use the tokenizer it was trained with (its "
                f"{TOKENIZER_DIR}/ folder)"
            )


def load_pair(
    model: str | os.PathLike, tokenizer: str | os.PathLike | None = None, device: str = "cpu"
) -> tuple[T2SFlow, SemanticTokenizer]:
    """The T2S model of folder ``model`` and its tokenizer (``tokenizer``, else the folder's
    ``tokenizer/``), checked to belong together."""
    t2s = load_t2s(model, device)
    folder = tokenizer_folder(model, tokenizer)
    tok = load_tokenizer(folder, device)
    check_pair(t2s.config, tok.config, f"{folder}: ")
    return t2s, tok


def check_line(text: str, model: T2SFlow, settings: GenerateSettings, where: str = "text") -> None:
    """Refuse a line whose characters (blanks aside) were all unseen in training, one over
    the model's bytes, or one whose N lies outside 1 .. max_frames."""
    config = model.config
    unknown = config.unknown_characters(text)
    if unknown and unknown == {ch for ch in text if not ch.isspace()}:
        shown = "".join(sorted(unknown))[:20]
        raise FlowvoxError(
            f"{where}: only characters the model never saw in training ({shown!r}); write the "
            "line in the training data's script, or remove it"
        )
    size = len(text.encode("utf-8"))
    if size > config.max_text_bytes:
        raise FlowvoxError(
            f"{where}: {size} UTF-8 bytes; this T2S model reads at most "
            f"{config.max_text_bytes}: split the line into sentences"
        )
    frames = settings.frames or config.frames_for_text(text, settings.words_per_second)
    try:
        model.check_frames([frames])
    except FlowvoxError as err:
        raise FlowvoxError(f"{where}: {err}") from None


@torch.inference_mode()
def generate_codes(
    model: T2SFlow,
    tokenizer: SemanticTokenizer,
    texts: list[str],
    seeds: list[int],
    settings: GenerateSettings,
) -> list[list[int]]:
    """The nearest codes (the tokenizer's ``quantize``) of the embeddings T2S generates for
    ``texts``, one list per text, its length N."""
    frames = None if settings.frames is None else [settings.frames] * len(texts)
    out = model.sample(texts, frames, settings.nfe, settings.cfg, seeds, settings.solver,
                       words_per_second=settings.words_per_second)  # fmt: skip
    codes = tokenizer.quantize(out.emb, out.mask).codes  # (b, n)
    return [row[:n] for row, n in zip(codes.tolist(), out.lengths.tolist(), strict=True)]


def generate_tokens_file(
    lines: str | os.PathLike,
    out_dir: str | os.PathLike,
    model: str | os.PathLike,
    settings: GenerateSettings | None = None,
    tokenizer: str | os.PathLike | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> GenerateReport:
    """Write OUT_DIR/tokens.jsonl for every line of ``lines`` (see the module docstring)."""
    settings = settings or GenerateSettings()
    items = read_text_lines(lines, "LINES")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise FlowvoxError(f"{out}: exists and is not a folder; choose another OUT_DIR")
    if not out.parent.is_dir():
        raise FlowvoxError(f"{out.parent}: no such folder for OUT_DIR; create it first")
    t2s, tok = load_pair(model, tokenizer, device)
    cfg = t2s.check_guidance(settings.cfg)
    for number, text in items:
        check_line(text, t2s, settings, f"{lines}:{number}")
    path = out / TOKENS_FILE
    done = _finished(path, items)
    todo = [(n, t) for n, t in items if n not in done]
    out.mkdir(exist_ok=True)
    start, made_codes = time.perf_counter(), 0
    with _progress_bar(len(items), len(items) - len(todo), progress) as bar:
        for first in range(0, len(todo), settings.batch_size):
            batch = todo[first : first + settings.batch_size]
            seeds = [settings.seed + n for n, _ in batch]
            codes = generate_codes(t2s, tok, [t for _, t in batch], seeds, settings)
            records = [
                dict(id=n, text=t, codes=c, codebook_size=tok.config.codebook_size,
                     rate=tok.config.token_rate, seed=s, nfe=settings.nfe, cfg=cfg)
                for (n, t), c, s in zip(batch, codes, seeds, strict=True)
            ]  # fmt: skip
            append_jsonl(path, records)
            made_codes += sum(len(c) for c in codes)
            bar.update(len(batch))
    seconds = time.perf_counter() - start
    return GenerateReport(path, len(todo), len(items) - len(todo), made_codes, seconds)


def _finished(path: Path, items: list[tuple[int, str]]) -> set[int]:
    """Ids of LINES already in ``path`` with the same text; a line whose text changed since
    is an error. Torn (a killed run's last) and repeated lines are dropped by an atomic
    rewrite; lines of ids LINES no longer has are kept."""
    if not path.is_file():
        return set()
    texts = dict(items)
    kept, good, seen = [], set(), set()
    raw = path.read_text(encoding="utf-8", errors="replace").splitlines()
    for line in raw:
        record = _parse(line)
        if record is None or record["id"] in seen:
            continue
        seen.add(record["id"])
        kept.append(line)
        if record["id"] not in texts:
            continue
        if record["text"] != texts[record["id"]]:
            raise FlowvoxError(
                f"{path}: line {record['id']} was made from other text "
                f"({str(record['text'])[:40]!r}); LINES changed since: use a new OUT_DIR"
            )
        good.add(record["id"])
    if len(kept) != len(raw):
        atomic_write_text(path, "".join(line + "\n" for line in kept))
    return good


def _parse(line: str) -> dict | None:
    """A finished line's record ({"id": int, "text", "codes": non-empty list}), else None."""
    try:
        record = json.loads(line)
        ok = isinstance(record["id"], int) and isinstance(record["codes"], list)
        return record if ok and record["codes"] and "text" in record else None
    except (ValueError, KeyError, TypeError):
        return None


def _progress_bar(total: int, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, initial=done, desc="semantic generate", unit="line",
                file=sys.stderr, disable=not enabled, dynamic_ncols=True)  # fmt: skip
