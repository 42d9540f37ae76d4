"""Text -> semantic codes with T2S-FM: the settings of ``flowvox semantic generate`` (both
T2S families), and the flow family's checks and batches.

N by the model's length rule (or ``frames``); line n's noise comes from seed + n, so a line
gets the same codes whatever batch it lands in. Every input is checked before anything is
written: the sampling settings, the model and tokenizer (they must belong together), and
every line (a line of characters the model never saw in training, a length N outside
1 .. max_frames). The output file is ``flowvox.models.semantic.t2s_files``'s.
"""
# b: batch, n: semantic frames, d: embedding channels

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace

import torch

from flowvox.errors import FlowvoxError
from flowvox.flow import FIXED_STEP_METHODS
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.files import load_tokenizer
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.t2s_fm_config import T2SFlowConfig
from flowvox.models.semantic.t2s_fm_model import T2SFlow, load_t2s
from flowvox.models.semantic.t2s_folder import TOKENIZER_DIR, tokenizer_folder

FLOW_OPTIONS = ("nfe", "cfg", "solver", "words_per_second", "frames")
AR_OPTIONS = ("temperature", "top_k", "cps")


@dataclass(frozen=True)
class GenerateSettings:
    """How to sample, for either T2S family; base ``seed`` (line n: seed + n) and
    ``batch_size`` lines a batch serve both.

    Flow matching: ``nfe`` steps (None: 8) of ``solver`` (None: euler), guidance ``cfg``
    (None: the model's); N by the model's rule unless ``frames`` (all lines) or
    ``words_per_second`` (the rule's rate) is given. Autoregressive: ``temperature`` (None:
    0, greedy), ``top_k`` ids (None: all), the ``cps`` condition (None: the model's).
    Options of the other family must stay None (``check_family``).
    """

    nfe: int | None = None
    cfg: float | None = None
    seed: int = 0
    batch_size: int = 32
    solver: str | None = None
    words_per_second: float | None = None
    frames: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    cps: float | None = None

    def __post_init__(self) -> None:
        if self.nfe is not None and (isinstance(self.nfe, bool) or self.nfe < 1):
            raise FlowvoxError(f"--nfe {self.nfe}: give at least 1 step")
        if self.cfg is not None and not (math.isfinite(self.cfg) and self.cfg >= 0):
            raise FlowvoxError(f"--cfg {self.cfg}: give a guidance weight >= 0 (1: off)")
        if self.batch_size < 1:
            raise FlowvoxError(f"--batch-size {self.batch_size}: must be 1 or more")
        if self.solver is not None and self.solver not in FIXED_STEP_METHODS:
            raise FlowvoxError(f"--solver {self.solver!r}: use one of {FIXED_STEP_METHODS}")
        if self.words_per_second is not None and not (
            math.isfinite(self.words_per_second) and self.words_per_second > 0
        ):
            raise FlowvoxError(
                f"--words-per-second {self.words_per_second}: must be > 0 (read English: 2.5)"
            )
        if self.frames is not None and self.frames < 1:
            raise FlowvoxError(f"--frames {self.frames}: N must be at least 1 semantic frame")
        if self.temperature is not None and not (
            math.isfinite(self.temperature) and self.temperature >= 0
        ):
            raise FlowvoxError(
                f"--temperature {self.temperature}: use 0 (greedy) or a positive value"
            )
        if self.top_k is not None and self.top_k < 1:
            raise FlowvoxError(f"--top-k {self.top_k}: use a positive number of ids")
        if self.cps is not None and not (math.isfinite(self.cps) and self.cps > 0):
            raise FlowvoxError(f"--cps {self.cps}: must be > 0 characters per second (e.g. 15)")

    def check_family(self, autoregressive: bool, model: str | os.PathLike = "the model") -> None:
        """Refuse options of the other T2S family (``model`` names the folder)."""
        foreign = AR_OPTIONS if not autoregressive else FLOW_OPTIONS
        given = [key for key in foreign if getattr(self, key) is not None]
        if given:
            flag = "--" + given[0].replace("_", "-")
            kind, other = (
                ("an autoregressive", "flow-matching")
                if autoregressive
                else ("a flow-matching", "autoregressive")
            )
            raise FlowvoxError(
                f"{flag}: {model} is {kind} T2S model; {flag} serves {other} T2S models "
                "only: drop it"
            )

    def for_flow(self) -> GenerateSettings:
        """These settings with the flow defaults filled in (nfe 8, solver euler)."""
        return replace(self, nfe=self.nfe or 8, solver=self.solver or "euler")


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
    settings = settings.for_flow()
    frames = None if settings.frames is None else [settings.frames] * len(texts)
    out = model.sample(texts, frames, settings.nfe, settings.cfg, seeds, settings.solver,
                       words_per_second=settings.words_per_second)  # fmt: skip
    codes = tokenizer.quantize(out.emb, out.mask).codes  # (b, n)
    return [row[:n] for row, n in zip(codes.tolist(), out.lengths.tolist(), strict=True)]


def flow_records(
    model: T2SFlow,
    tokenizer: SemanticTokenizer,
    texts: list[str],
    seeds: list[int],
    settings: GenerateSettings,
) -> list[dict]:
    """Token-file records (codes, codebook_size, rate, seed, nfe, cfg) of ``texts``;
    ``settings`` with the flow defaults filled in (``for_flow``)."""
    settings = settings.for_flow()
    codes = generate_codes(model, tokenizer, texts, seeds, settings)
    cfg = model.check_guidance(settings.cfg)
    tok = tokenizer.config
    return [
        dict(codes=c, codebook_size=tok.codebook_size, rate=tok.token_rate, seed=s,
             nfe=settings.nfe, cfg=cfg)
        for c, s in zip(codes, seeds, strict=True)
    ]  # fmt: skip
