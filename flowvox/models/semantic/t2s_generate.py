"""Text -> semantic codes with a T2S model folder of either family, known by its stamp:
"t2s_fm" (flow matching, ``t2s_fm_generate``) or "t2s_ar" (autoregressive,
``ar_generate``). ``flowvox semantic generate`` (``generate_tokens_file``) and ``flowvox
semantic speak`` both come through here.

Line n is generated with seed + n, alone or in any batch: the flow family draws its noise
from that seed, the autoregressive family its samples (greedy at temperature 0 needs none).
The autoregressive family records ``temperature``, ``top_k``, ``cps`` and ``ended`` (False:
cut at its length limit without EOS) where the flow family records ``nfe`` and ``cfg``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flowvox.errors import FlowvoxError
from flowvox.models.semantic.ar import ARTextToSemantic
from flowvox.models.semantic.ar_config import AR_FAMILY
from flowvox.models.semantic.ar_generate import generate_tokens_ar, load_ar_pair
from flowvox.models.semantic.model import SemanticTokenizer
from flowvox.models.semantic.t2s_files import (
    GenerateReport,
    check_out_dir,
    write_token_lines,
)
from flowvox.models.semantic.t2s_fm_data import read_text_lines
from flowvox.models.semantic.t2s_fm_generate import (
    GenerateSettings,
    check_line,
    flow_records,
    load_pair,
)
from flowvox.models.semantic.t2s_fm_model import T2SFlow
from flowvox.models.semantic.t2s_folder import t2s_family
from flowvox.utils.distributed import Launch


@dataclass
class T2SPair:
    """A T2S model of either family and the frozen tokenizer that reads its codes."""

    model: T2SFlow | ARTextToSemantic
    tokenizer: SemanticTokenizer

    @property
    def autoregressive(self) -> bool:
        return isinstance(self.model, ARTextToSemantic)


def load_t2s_pair(
    model: str | os.PathLike, tokenizer: str | os.PathLike | None = None, device: str = "cpu"
) -> T2SPair:
    """The T2S model of folder ``model`` (by its family stamp) and its tokenizer
    (``tokenizer``, else the folder's ``tokenizer/``), checked to belong together. A folder
    of no T2S family gets the flow loader's one-line error."""
    if t2s_family(model) == AR_FAMILY.name:
        ar = load_ar_pair(model, tokenizer, device)
        return T2SPair(ar.model, ar.tokenizer)
    return T2SPair(*load_pair(model, tokenizer, device))


def check_text(pair: T2SPair, text: str, settings: GenerateSettings, where: str = "text") -> None:
    """Refuse a line the model cannot take (``where`` starts the message): characters all
    unseen in training, too many bytes, or (flow) a length N outside 1 .. max_frames."""
    if not pair.autoregressive:
        check_line(text, pair.model, settings, where)
        return
    config = pair.model.config
    unknown = config.unknown_characters(text)
    if unknown and unknown == {ch for ch in text if not ch.isspace()}:
        shown = "".join(sorted(unknown))[:20]
        raise FlowvoxError(
            f"{where}: only characters the model never saw in training ({shown!r}); write the "
            "line in the training data's script, or remove it"
        )
    size = len(text.strip().encode("utf-8"))
    if size > config.max_text_bytes:
        raise FlowvoxError(
            f"{where}: {size} UTF-8 bytes; this T2S model reads at most "
            f"{config.max_text_bytes}: split the line into sentences"
        )


def t2s_records(
    pair: T2SPair, texts: list[str], seeds: list[int], settings: GenerateSettings
) -> list[dict]:
    """One token-file record per text ("codes", "codebook_size", "rate", "seed" and the
    family's settings), row i generated with ``seeds[i]``."""
    if not pair.autoregressive:
        return flow_records(pair.model, pair.tokenizer, texts, seeds, settings)
    temperature = settings.temperature or 0.0
    cps = settings.cps or pair.model.config.inference_cps
    out = generate_tokens_ar(
        pair.model, texts, cps=cps, temperature=temperature, top_k=settings.top_k,
        seeds=seeds, batch_size=len(texts), tokenizer=pair.tokenizer.config,
    )  # fmt: skip
    tok = pair.tokenizer.config
    return [
        dict(codes=c, codebook_size=tok.codebook_size, rate=tok.token_rate, seed=s,
             temperature=temperature, top_k=settings.top_k, cps=cps, ended=e)
        for c, s, e in zip(out.codes, seeds, out.ended, strict=True)
    ]  # fmt: skip


def generate_tokens_file(
    lines: str | os.PathLike,
    out_dir: str | os.PathLike,
    model: str | os.PathLike,
    settings: GenerateSettings | None = None,
    tokenizer: str | os.PathLike | None = None,
    device: str = "cpu",
    progress: bool = True,
    launch: Launch | None = None,
) -> GenerateReport:
    """Write OUT_DIR/tokens.jsonl for every line of ``lines`` with the T2S model folder
    ``model`` (either family; ``flowvox.models.semantic.t2s_files`` has the format). The
    settings, the folders and every line are checked before anything is written.
    ``launch``: this process's share of the batches (``flowvox.utils.distributed``; the
    CLI passes ``launch_from_env()``); None: one process, whatever the environment."""
    settings = settings or GenerateSettings()
    items = read_text_lines(lines, "LINES")
    out = check_out_dir(out_dir)
    pair = load_t2s_pair(model, tokenizer, device)
    settings.check_family(pair.autoregressive, model)
    if not pair.autoregressive:
        pair.model.check_guidance(settings.cfg)
    for number, text in items:
        check_text(pair, text, settings, f"{lines}:{number}")

    def make_batch(batch: list[tuple[int, str]]) -> list[dict]:
        seeds = [settings.seed + n for n, _ in batch]
        records = t2s_records(pair, [t for _, t in batch], seeds, settings)
        return [dict(id=n, text=t, **r) for (n, t), r in zip(batch, records, strict=True)]

    return write_token_lines(items, out, make_batch, settings.batch_size, progress, launch)
