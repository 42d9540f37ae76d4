"""Token files, and the jobs of ``flowvox semantic encode`` and ``flowvox semantic decode``.

A token file is JSONL, one line per audio file::

    {"audio": "a.wav", "codes": [17, 402, ...], "codebook_size": 512, "rate": 25.0}

``codes`` are in 0 .. codebook_size, the last value being the mask (padding) code;
``codebook_size`` (optional when written by hand) must be the decoding model's. Every line
is checked before anything is decoded, and outputs are written atomically, so bad input
leaves no file behind.
"""
# b: batch, n: mel frames, f: mel bins, m: semantic frames

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from flowvox.audio.io import load_audio
from flowvox.audio.mel import MelSpectrogram
from flowvox.errors import FlowvoxError
from flowvox.models.loading import CONFIG_FILE, model_folder, read_config_json
from flowvox.models.semantic.model import SemanticTokenizer, load_semantic
from flowvox.utils.atomic import atomic_path


@dataclass
class TokenLine:
    """One line of a token file."""

    codes: list[int]
    audio: str | None
    where: str  # file:line, for messages


def run_tokenizer(folder: str | None, device: str = "cpu") -> SemanticTokenizer:
    """A run file's ``data.tokenizer``: ``load_tokenizer``, or a one-line error when unset."""
    if not folder:
        raise FlowvoxError(
            "data.tokenizer is not set; pass the model folder of a trained semantic "
            "tokenizer (stage vq), e.g. --set data.tokenizer=runs/semantic-small-vq/model"
        )
    return load_tokenizer(folder, device)


def load_tokenizer(folder: str | os.PathLike, device: str = "cpu") -> SemanticTokenizer:
    """The semantic tokenizer of ``folder``, refused when its VQ is untrained (stage asr)."""
    path = model_folder(folder) / CONFIG_FILE
    if read_config_json(path).get("stage") == "asr":
        raise FlowvoxError(
            f"{folder}: a stage-asr model (its quantiser is untrained); train stage vq from it "
            "(stage: vq, init_from: this folder) and pass that model"
        )
    return load_semantic(folder, device)


@torch.no_grad()
def encode_audio(
    model: SemanticTokenizer, path: str | os.PathLike, mel_fn: MelSpectrogram | None = None
) -> list[int]:
    """The semantic codes of one audio file (resampled to the model's mel rate); ``mel_fn``:
    the model's ``MelSpectrogram`` on its device (built here when None)."""
    mel_config = model.config.mel_config
    device = next(model.parameters()).device
    mel_fn = mel_fn or MelSpectrogram(mel_config).to(device)
    clip = load_audio(path, mel_config.sample_rate)
    mel = mel_fn(torch.from_numpy(clip.wav).to(device))  # (f, n)
    enc = model.encode(mel.T[None])  # (1, m, d)
    return model.quantize(enc.emb, enc.mask).codes[0].tolist()


def encode_audio_files(
    audio: Sequence[str | os.PathLike], out: str | os.PathLike, model: str | os.PathLike,
    device: str = "cpu",
) -> int:  # fmt: skip
    """Write the token file ``out`` for ``audio`` files (all encoded before it is written);
    returns the number of semantic tokens written."""
    if not audio:
        raise FlowvoxError("no audio files given; pass one or more AUDIO paths")
    if Path(out).suffix != ".jsonl":
        raise FlowvoxError(f"-o {out}: a token file is JSONL; name it OUT.jsonl")
    tokenizer = load_tokenizer(model, device)
    config = tokenizer.config
    mel_fn = MelSpectrogram(config.mel_config).to(next(tokenizer.parameters()).device)
    lines, total = [], 0
    for path in audio:
        codes = encode_audio(tokenizer, path, mel_fn)
        total += len(codes)
        record = {"audio": str(path), "codes": codes, "codebook_size": config.codebook_size,
                  "rate": config.token_rate}  # fmt: skip
        lines.append(json.dumps(record))
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return total


def read_token_file(path: str | os.PathLike, codebook_size: int) -> list[TokenLine]:
    """The lines of a token file, each checked against a codebook of ``codebook_size``."""
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"{path}: no such token file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise FlowvoxError(f"{path}: not a readable UTF-8 token file ({err})") from err
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            out.append(_parse_line(line, f"{path}:{number}", codebook_size))
    if not out:
        raise FlowvoxError(f"{path}: holds no token lines; write it with `flowvox semantic encode`")
    return out


def _parse_line(line: str, where: str, codebook_size: int) -> TokenLine:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise FlowvoxError(f"{where}: not valid JSON ({err.msg})") from err
    if not isinstance(record, dict):
        raise FlowvoxError(f'{where}: expected a JSON object {{"codes": [...]}}')
    codes = record.get("codes")
    if not isinstance(codes, list) or not codes:
        raise FlowvoxError(f"{where}: 'codes' must be a non-empty list of integers")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
        raise FlowvoxError(f"{where}: 'codes' must hold integers only")
    size = record.get("codebook_size", codebook_size)
    if size != codebook_size:
        raise FlowvoxError(
            f"{where}: tokens of a {size}-code book, but the model has {codebook_size} codes; "
            "decode with the model that encoded them"
        )
    bad = [c for c in codes if not 0 <= c <= codebook_size]
    if bad:
        raise FlowvoxError(
            f"{where}: codes {bad[:5]} out of range 0 .. {codebook_size} "
            f"({codebook_size} = mask); decode with the model that encoded them"
        )
    if all(c == codebook_size for c in codes):
        raise FlowvoxError(f"{where}: only mask codes ({codebook_size}); nothing to decode")
    audio = record.get("audio")
    return TokenLine(codes, audio if isinstance(audio, str) else None, where)


@torch.no_grad()
def decode_token_file(
    path: str | os.PathLike, model: str | os.PathLike, out: str | os.PathLike | None = None,
    device: str = "cpu",
) -> list[str]:  # fmt: skip
    """The text of each line of token file ``path``; with ``out`` also written as JSONL
    ``{"audio", "text"}`` (atomically, after every line is decoded)."""
    tokenizer = load_tokenizer(model, device)
    lines = read_token_file(path, tokenizer.config.codebook_size)
    dev = next(tokenizer.parameters()).device
    texts = []
    for line in lines:
        sem = tokenizer.dequantize(torch.tensor([line.codes], device=dev))  # (1, m, d)
        texts.append(tokenizer.transcribe(sem.emb, sem.mask)[0])
    if out is not None:
        records = [json.dumps({"audio": ln.audio, "text": t}, ensure_ascii=False)
                   for ln, t in zip(lines, texts, strict=True)]  # fmt: skip
        with atomic_path(out) as tmp:
            tmp.write_text("\n".join(records) + "\n", encoding="utf-8")
    return texts
