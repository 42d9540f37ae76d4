"""``flowvox semantic speak``: text -> T2S -> semantic codes -> S2A -> mel -> vocoder -> file.

    codes = T2S(text)                      a "t2s_fm" or "t2s_ar" folder (by its stamp)
    prompt = (mel, codes) of --ref         the S2A's mel preset; codes from its tokenizer/
    mel = S2A(codes, prompt)               g = round(len(codes) · frames_per_token) frames
    wav = vocoder(mel)                     --vocoder DIR (checked against the S2A's mel),
                                           else Griffin-Lim

The T2S model and the S2A model must read the same frozen tokenizer (the weights of their
``tokenizer/`` folders are compared). Everything is checked and made before the output is
written, atomically: bad input leaves no file behind.
"""
# r: prompt mel frames, g: generated mel frames, f: mel bins

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from flowvox.audio.io import load_audio, save_audio
from flowvox.audio.mel import MelSpectrogram
from flowvox.errors import FlowvoxError
from flowvox.flow import FIXED_STEP_METHODS
from flowvox.infer.files import AUDIO_SUFFIXES, SpokenFile, check_output_file, check_text
from flowvox.infer.vocode import vocode_mels
from flowvox.models.loading import WEIGHTS_FILE
from flowvox.models.semantic.files import encode_audio, load_tokenizer
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.s2a_model import S2A, S2AJob, load_s2a
from flowvox.models.semantic.t2s_fm_generate import GenerateSettings
from flowvox.models.semantic.t2s_folder import TOKENIZER_DIR, tokenizer_folder
from flowvox.models.semantic.t2s_generate import check_text as check_t2s_text
from flowvox.models.semantic.t2s_generate import load_t2s_pair, t2s_records
from flowvox.vocoders.io import resolve_vocoder


@dataclass(frozen=True)
class S2ASettings:
    """S2A sampling: ``nfe`` steps of ``solver`` on the sway grid (``sway``), F5 guidance
    ``cfg`` (None: the model's; 0: off)."""

    nfe: int = 16
    cfg: float | None = None
    sway: float = -1.0
    solver: str = "euler"

    def __post_init__(self) -> None:
        if isinstance(self.nfe, bool) or self.nfe < 1:
            raise FlowvoxError(f"--s2a-nfe {self.nfe}: give at least 1 step")
        if self.cfg is not None and not self.cfg >= 0:
            raise FlowvoxError(f"--s2a-cfg {self.cfg}: give a guidance weight >= 0 (0: off)")
        if self.solver not in FIXED_STEP_METHODS:
            raise FlowvoxError(f"--s2a-solver {self.solver!r}: use one of {FIXED_STEP_METHODS}")


def _digest(folder: Path) -> str:
    return hashlib.sha256((folder / WEIGHTS_FILE).read_bytes()).hexdigest()


def s2a_tokenizer_folder(s2a: str | os.PathLike) -> Path:
    """The ``tokenizer/`` folder inside the S2A model folder ``s2a``."""
    folder = Path(s2a) / TOKENIZER_DIR
    if not (folder / WEIGHTS_FILE).is_file():
        raise FlowvoxError(
            f"--s2a {s2a}: no {TOKENIZER_DIR}/ folder inside; pass the folder `flowvox train` "
            "exported for task s2a (it holds the tokenizer the model was trained with)"
        )
    return folder


def check_same_tokenizer(t2s_tok: Path, s2a_tok: Path) -> None:
    """A one-line error unless both folders hold the same tokenizer weights."""
    if _digest(t2s_tok) != _digest(s2a_tok):
        raise FlowvoxError(
            f"the T2S model's tokenizer ({t2s_tok}) and the S2A model's ({s2a_tok}) differ; "
            "the S2A model reads only the codes of the tokenizer it was trained with: pair "
            "models trained against the same semantic tokenizer"
        )


def voice_prompt(
    model: S2A, tokenizer: SemanticTokenizer, ref_audio: str | os.PathLike | None
) -> tuple[Tensor, list[int]]:
    """(mel (r, f) in the S2A's preset, codes) of the reference clip; empty without one."""
    if ref_audio is None:
        return torch.zeros(0, model.config.mel_dim), []
    mel_config = model.config.mel
    clip = load_audio(ref_audio, mel_config.sample_rate)
    mel = MelSpectrogram(mel_config)(torch.from_numpy(clip.wav)).T  # (r, f)
    codes = encode_audio(tokenizer, ref_audio)
    return mel, [c for c in codes if c < tokenizer.config.codebook_size]


def speak_semantic_to_file(
    text: str,
    out_path: str | os.PathLike,
    t2s: str | os.PathLike,
    s2a: str | os.PathLike,
    vocoder: str | os.PathLike | None = None,
    ref_audio: str | os.PathLike | None = None,
    t2s_settings: GenerateSettings | None = None,
    s2a_settings: S2ASettings | None = None,
    tokenizer: str | os.PathLike | None = None,
    device: str = "cpu",
) -> SpokenFile:
    """Say ``text`` into ``out_path`` (.wav, .flac or .ogg) through the T2S model folder
    ``t2s`` (its ``tokenizer`` override as in ``semantic generate``), the S2A model folder
    ``s2a`` in the voice of ``ref_audio`` (none: the model's unprompted voice) and
    ``vocoder`` (see the module docstring). T2S line seed and S2A noise seed: the
    settings' ``seed``."""
    out = check_output_file(out_path)
    text = check_text(text)
    t2s_settings = t2s_settings or GenerateSettings()
    s2a_settings = s2a_settings or S2ASettings()
    if ref_audio is not None and not Path(ref_audio).is_file():
        raise FlowvoxError(f"--ref {ref_audio}: no such audio file")
    pair = load_t2s_pair(t2s, tokenizer, device)
    t2s_settings.check_family(pair.autoregressive, t2s)
    if not pair.autoregressive:
        pair.model.check_guidance(t2s_settings.cfg)
    check_t2s_text(pair, text, t2s_settings, "TEXT")
    model = load_s2a(s2a, device)
    s2a_tok = s2a_tokenizer_folder(s2a)
    check_same_tokenizer(tokenizer_folder(t2s, tokenizer), s2a_tok)
    voc = resolve_vocoder(vocoder, model.config.mel, device, acoustic_name="the S2A model")
    start = time.perf_counter()
    prompt_mel, prompt_codes = voice_prompt(model, load_tokenizer(s2a_tok, device), ref_audio)
    seed = t2s_settings.seed
    codes = t2s_records(pair, [text], [seed], t2s_settings)[0]["codes"]
    job = S2AJob(codes, prompt_mel, prompt_codes, seed)
    model.check_job(job)
    s = s2a_settings
    mel = model.sample([job], s.nfe, s.cfg, s.sway, s.solver)[0]  # (g, f)
    wav = vocode_mels(voc, [mel])[0]
    sample_rate = model.config.mel.sample_rate
    elapsed = time.perf_counter() - start
    save_audio(out, wav, sample_rate, AUDIO_SUFFIXES[out.suffix.lower()])
    return SpokenFile(out, sample_rate, len(wav) / sample_rate, elapsed)
