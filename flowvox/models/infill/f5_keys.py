"""Key layouts of F5-TTS checkpoints: which backbone a state dict holds, the E2 renaming, and
the attention heads.

F5-TTS keeps its backbone under ``transformer.``:

    DiT    transformer.transformer_blocks.{i}.*    flowvox's DiT uses the same names
    UNetT  transformer.layers.{i}.{k}.*            E2-TTS: each layer is an nn.ModuleList
           k = 0 skip_proj (second half only), 1 attn_norm, 2 attn, 3 ff_norm, 4 ff;
           flowvox's E2Backbone names the same tensors layers.{i}.{skip_proj, ..., ff}

The number of heads is not in the projection shapes (to_q is (heads · dim_head, dim)), but
the rotary table is: ``rotary_embed.inv_freq`` has dim_head / 2 entries (F5 builds it as
``RotaryEmbedding(dim_head)``), so heads = attention width / dim_head.
"""

from __future__ import annotations

import re
from typing import Literal

import torch

from flowvox.errors import FlowvoxError

E2_PARTS = ("skip_proj", "attn_norm", "attn", "ff_norm", "ff")  # UNetT's layers.{i}.{k}
UNETT_KEY = re.compile(r"transformer\.layers\.(\d+)\.(\d+)\.(.+)")
DIT_BLOCKS = "transformer.transformer_blocks."
E2_LAYERS = "transformer.layers."
ROPE_KEY = "transformer.rotary_embed.inv_freq"


def backbone_of(state: dict[str, torch.Tensor]) -> Literal["dit", "e2"]:
    """The backbone: "dit" (F5 DiT) or "e2" (UNetT, official or flowvox names); else an error."""
    if any(k.startswith(DIT_BLOCKS) for k in state):
        return "dit"
    if any(k.startswith(E2_LAYERS) for k in state):
        return "e2"
    raise FlowvoxError(
        "checkpoint holds neither an F5-TTS DiT (transformer.transformer_blocks.*) nor an "
        "E2-TTS UNetT (transformer.layers.*)"
    )


def rename_unett(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """UNetT keys ``transformer.layers.{i}.{k}.rest`` -> ``transformer.layers.{i}.{part}.rest``
    (flowvox's E2Backbone); every other key is kept as it is."""
    out = {}
    for key, tensor in state.items():
        if m := UNETT_KEY.fullmatch(key):
            layer, part, rest = int(m.group(1)), int(m.group(2)), m.group(3)
            if part >= len(E2_PARTS):
                raise FlowvoxError(f"unexpected UNetT key {key!r}: a layer has parts 0-4")
            key = f"{E2_LAYERS}{layer}.{E2_PARTS[part]}.{rest}"
        out[key] = tensor
    return out


def count_indexed(state: dict[str, torch.Tensor], prefix: str) -> int:
    """How many ``{prefix}{i}.`` modules the keys hold (the largest i + 1; 0 when none)."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    return max(found) + 1 if found else 0


def attention_heads(
    state: dict[str, torch.Tensor], inner: int, heads: int | None
) -> tuple[int, int]:
    """(heads, dim_head) for attention width ``inner`` = heads · dim_head.

    dim_head is twice the length of the rotary table. ``heads`` (the ``--heads`` flag) must
    agree with it; without a table it decides (default inner / 64, as F5).
    """
    table = state.get(ROPE_KEY)  # (dim_head / 2,)
    if table is None:
        heads = heads or max(inner // 64, 1)
        if heads < 1 or inner % heads or (inner // heads) % 2:
            raise FlowvoxError(
                f"--heads {heads}: must divide the attention width {inner} into heads of an "
                "even width"
            )
        return heads, inner // heads
    dim_head = 2 * table.numel()
    if inner % dim_head:
        raise FlowvoxError(
            f"checkpoint: its rotary table is for heads of {dim_head} channels, which do not "
            f"divide the attention width {inner}; is this an F5-TTS model?"
        )
    found = inner // dim_head
    if heads is not None and heads != found:
        raise FlowvoxError(
            f"--heads {heads}: this checkpoint has {found} heads of {dim_head} channels (its "
            f"rotary table has {table.numel()} frequencies); drop --heads or pass {found}"
        )
    return found, dim_head
