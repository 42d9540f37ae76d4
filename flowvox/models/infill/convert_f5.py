"""Released F5-TTS / E2-TTS checkpoints -> flowvox model folders (``flowvox convert f5``).

Release files (``model_*.safetensors``) hold the flat EMA state dict: keys ``ema_model.<name>``
plus ``initted`` and ``step``. Training checkpoints (``model_*.pt``) hold
``ema_model_state_dict`` (and ``model_state_dict``, optimizer, scheduler, ``update``); they are
read with ``torch.load(weights_only=True)``, so no arbitrary object is unpickled. Converting
is: take the EMA (or raw) weights, strip the ``ema_model.`` prefix, drop ``initted``/``step``
and the mel front-end (``mel_spec.*``), give E2's UNetT layers flowvox's names (``f5_keys``;
the DiT's names are F5's already), and read the shape of the model off the tensors:

    transformer_blocks.{i} (DiT) or layers.{i} (E2)       i < depth -> backbone, depth
    text_embed.text_embed.weight   (vocab + 1, text_dim)     -> text_dim, vocab size check
    text_embed.text_blocks.{j}      j < conv_layers
    {block 0}.attn.to_q.weight      (heads · dim_head, dim)   -> dim, attention width
    rotary_embed.inv_freq           (dim_head / 2,)           -> dim_head, heads
    {block 0}.ff.ff.0.0.weight      (ff_mult · dim, dim)      -> ff_mult
    long_skip_connection.weight     present (DiT)              -> long_skip
    layers.{i}.skip_proj.weight     present (E2)               -> e2_skip "concat"
    proj_out.weight                 (100, dim)                 -> the 100-bin vocos24k mel

``--heads`` is only a check (or, for a file without the rotary table, the choice; default
width / 64 as in F5). The v0/v1 difference (filler masking, RoPE on all heads) is not in the
shapes: ``version`` says which (v1 is the default; F5TTS_Base and E2 releases are v0). The
official models read text through the pinyin tokenizer (``flowvox.text.pinyin``); a model
trained on plain characters takes ``tokenizer="char"``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from flowvox.audio.mel import get_mel_preset
from flowvox.errors import FlowvoxError
from flowvox.models.infill.config import INFILL_FAMILY, InfillTTSConfig
from flowvox.models.infill.f5_keys import (
    DIT_BLOCKS,
    E2_LAYERS,
    ROPE_KEY,
    attention_heads,
    backbone_of,
    count_indexed,
    rename_unett,
)
from flowvox.models.infill.load import load_infill_model
from flowvox.models.loading import stamp_family
from flowvox.nn.attention import RotaryEmbedding
from flowvox.text import load_vocab
from flowvox.utils.atomic import atomic_folder, check_new_folder

EXTRA_KEYS = {"initted", "step", "update"}
PT_SUFFIXES = {".pt", ".pth", ".ckpt"}


def read_f5_checkpoint(path: str | Path, use_ema: bool = True) -> dict[str, torch.Tensor]:
    """The backbone's state dict, keys as flowvox names them, from a release or training file."""
    path = Path(path)
    if not path.is_file():
        raise FlowvoxError(f"{path}: no such checkpoint file")
    if path.suffix == ".safetensors":
        try:
            state = load_file(str(path))
        except Exception as err:  # safetensors raises its own error types
            raise FlowvoxError(f"{path}: not a readable safetensors file ({err})") from err
        if not use_ema:
            raise FlowvoxError(f"{path}: release files hold only the EMA weights; drop --no-ema")
    elif path.suffix in PT_SUFFIXES:
        try:
            blob = torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception as err:
            raise FlowvoxError(
                f"{path}: not loadable as plain tensors ({type(err).__name__}); only weights "
                "are read (weights_only), never pickled objects"
            ) from err
        key = "ema_model_state_dict" if use_ema else "model_state_dict"
        if not isinstance(blob, dict) or key not in blob:
            have = sorted(blob)[:8] if isinstance(blob, dict) else type(blob).__name__
            raise FlowvoxError(f"{path}: no {key!r} in this training checkpoint (has {have})")
        state = blob[key]
    else:
        raise FlowvoxError(f"{path}: expected a .safetensors release or a .pt checkpoint")
    out = {}
    for name, tensor in state.items():
        if name in EXTRA_KEYS:
            continue
        name = name.removeprefix("ema_model.")
        if name.startswith("mel_spec."):
            continue
        if not name.startswith("transformer."):
            raise FlowvoxError(f"{path}: unexpected key {name!r}; is this an F5-TTS model?")
        out[name] = tensor.float() if tensor.is_floating_point() else tensor
    if not out:
        raise FlowvoxError(f"{path}: holds no model weights")
    return rename_unett(out) if backbone_of(out) == "e2" else out


def infer_f5_config(
    state: dict[str, torch.Tensor],
    vocab_size: int,
    version: str = "v1",
    heads: int | None = None,
    tokenizer: str = "pinyin",
) -> InfillTTSConfig:
    """The ``InfillTTSConfig`` the tensors' shapes imply (see the module docstring); ``state``
    has flowvox's names (``read_f5_checkpoint``)."""
    backbone = backbone_of(state)
    blocks = DIT_BLOCKS if backbone == "dit" else E2_LAYERS
    try:
        emb = state["transformer.text_embed.text_embed.weight"]  # (vocab + 1, text_dim)
        q = state[f"{blocks}0.attn.to_q.weight"]  # (h · dh, dim)
        ff = state[f"{blocks}0.ff.ff.0.0.weight"]  # (ff · dim, dim)
        out = state["transformer.proj_out.weight"]  # (mel bins, dim)
    except KeyError as err:
        name = "DiT" if backbone == "dit" else "E2 UNetT"
        raise FlowvoxError(f"checkpoint lacks {err.args[0]!r}: not an F5-TTS {name}") from None
    dim, inner = q.shape[1], q.shape[0]
    if emb.shape[0] != vocab_size + 1:
        raise FlowvoxError(
            f"the checkpoint's text embedding has {emb.shape[0]} rows but the vocab file has "
            f"{vocab_size} tokens (+1 filler = {vocab_size + 1}); pass the vocab.txt released "
            "with these weights"
        )
    mel = get_mel_preset("vocos24k")
    if out.shape[0] != mel.n_mels:
        raise FlowvoxError(
            f"the checkpoint predicts {out.shape[0]} mel bins; only F5's {mel.n_mels}-bin "
            "vocos mel (vocos24k) converts"
        )
    heads, dim_head = attention_heads(state, inner, heads)
    if backbone == "e2" and not any(".skip_proj." in k for k in state):
        raise FlowvoxError(
            "this E2 checkpoint has no skip projections: its skips are added or dropped "
            "(UNetT skip_connect_type add/none), which the weights do not tell apart; only "
            "the official concat layout converts"
        )
    return InfillTTSConfig(
        backbone=backbone,
        version=version,
        dim=dim,
        depth=count_indexed(state, blocks),
        heads=heads,
        dim_head=dim_head,
        ff_mult=ff.shape[0] / dim,
        text_dim=emb.shape[1],
        conv_layers=count_indexed(state, "transformer.text_embed.text_blocks."),
        text_vocab_size=vocab_size,
        long_skip="transformer.long_skip_connection.weight" in state,
        e2_skip="concat",
        mel=mel,
        tokenizer=tokenizer,
        vocab_file="vocab.txt",
    )


def convert_f5(
    checkpoint: str | Path,
    vocab: str | Path,
    out_dir: str | Path,
    version: str = "v1",
    heads: int | None = None,
    use_ema: bool = True,
    tokenizer: str = "pinyin",
) -> InfillTTSConfig:
    """Write a flowvox model folder (model.safetensors, config.json, vocab.txt) for an F5-TTS
    DiT or E2-TTS UNetT checkpoint; it is loaded back (every key and shape checked) before it
    is kept."""
    if version not in ("v0", "v1"):
        raise FlowvoxError(f"--version {version!r}: use v1 (F5TTS_v1_*) or v0 (F5TTS_Base, E2)")
    out = check_new_folder(out_dir)  # before the checkpoint is read
    if not Path(vocab).is_file():
        raise FlowvoxError(f"--vocab {vocab}: no such file (the vocab.txt of the release)")
    tokens = load_vocab(vocab)
    state = read_f5_checkpoint(checkpoint, use_ema)
    if tokenizer not in ("pinyin", "char"):
        raise FlowvoxError(f"--tokenizer {tokenizer!r}: use pinyin (official models) or char")
    config = infer_f5_config(state, len(tokens), version, heads, tokenizer)
    if ROPE_KEY not in state:  # the table is fixed by the head width; F5 files carry it
        state[ROPE_KEY] = RotaryEmbedding(config.dim_head).inv_freq
    with atomic_folder(out, "converting") as tmp:
        save_file({k: v.contiguous() for k, v in state.items()}, str(tmp / "model.safetensors"))
        shutil.copyfile(vocab, tmp / "vocab.txt")
        record = stamp_family(
            {
                "model": config.to_dict(),
                "source": {"checkpoint": str(checkpoint), "format": "F5-TTS"},
            },
            INFILL_FAMILY,
        )
        (tmp / "config.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
        load_infill_model(tmp)  # every key and shape must match the inferred config
    return config
