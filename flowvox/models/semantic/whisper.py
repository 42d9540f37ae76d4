"""A real Whisper from a local folder saved by transformers, in flowvox's modules.

# b: batch, n: mel frames (100 Hz), f: mel bins, d: channels, l: text tokens, v: vocab
``load_whisper(folder)`` reads a ``WhisperModel`` or ``WhisperForConditionalGeneration``
folder (config.json + model.safetensors, a sharded model.safetensors.index.json, or
pytorch_model.bin) into ``WhisperEncoderDecoder``: the semantic tokenizer's
``AudioEncoder`` and ``TextDecoder`` with Whisper's widths and weights (the parameter names
are Whisper's, so the state dict maps 1:1; ``proj_out`` is tied to ``embed_tokens``).

transformers is not imported: the folder is read with json, safetensors and
``torch.load(weights_only=True)``. Whisper reads 30 s windows: ``features`` turns 16 kHz
audio into its input (the audio zero-padded to 2 · max_source_positions frames, whisper16k log-mel,
the last STFT frame dropped, Whisper's scaling), and ``encode`` of those features
equals ``WhisperModel.encoder`` (tested to 1e-4 in tests/models/semantic/).
The decoder's ids are Whisper's BPE ids; tokenise text with Whisper's own tokenizer.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

from flowvox.audio.mel import MelSpectrogram
from flowvox.errors import FlowvoxError
from flowvox.models.semantic.config import SemanticConfig
from flowvox.models.semantic.model import SemanticEmbedding
from flowvox.models.semantic.network import (
    AudioEncoder,
    TextDecoder,
    pool_frames,
    whisper_features,
)
from flowvox.nn.state_dict import check_state_dict
from flowvox.utils.json_files import read_json_object

WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
WHISPER_DEFAULTS: dict[str, Any] = dict(  # transformers' WhisperConfig defaults
    vocab_size=51865, num_mel_bins=80, encoder_layers=4, encoder_attention_heads=6,
    decoder_layers=4, decoder_attention_heads=6, decoder_ffn_dim=1536, encoder_ffn_dim=1536,
    d_model=384, max_source_positions=1500, max_target_positions=448,
    activation_function="gelu",
)  # fmt: skip
MEL_PRESET = "whisper16k"


class WhisperEncoderDecoder(nn.Module):
    """Whisper's encoder and decoder as flowvox modules (see the module docstring)."""

    def __init__(self, config: SemanticConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = AudioEncoder(config)
        self.decoder = TextDecoder(config)
        self.mel = MelSpectrogram(config.mel_config)

    def features(self, wav: np.ndarray | Tensor) -> Tensor:
        """16 kHz mono audio (s,) -> Whisper's input features (1, 2 · max_frames, f): the
        audio zero-padded to the window (30 s), its whisper16k log-mel without the last
        frame, Whisper's scaling (``WhisperFeatureExtractor``'s computation)."""
        wav = torch.as_tensor(wav, dtype=torch.float32).flatten()
        mel = self.config.mel_config
        window = 2 * self.config.max_frames  # mel frames
        samples = window * mel.hop_length
        if wav.shape[0] > samples:
            raise FlowvoxError(
                f"audio of {wav.shape[0] / mel.sample_rate:.1f} s exceeds Whisper's window of "
                f"{samples / mel.sample_rate:g} s; cut it into windows"
            )
        wav = torch.nn.functional.pad(wav, (0, samples - wav.shape[0]))
        log_mel = self.mel(wav.to(self.mel.window.device)).T[:-1]  # (n, f), last frame dropped
        return whisper_features(log_mel[None])  # (1, n, f)

    def encode(self, features: Tensor) -> Tensor:
        """Whisper features (b, n, f) -> the encoder's last hidden state (b, n/2, d)."""
        return self.encoder(features)[0]

    def semantic(self, features: Tensor) -> SemanticEmbedding:
        """Whisper features (b, n, f) -> the encoder output mean-pooled to 25 Hz."""
        states, mask = self.encoder(features)
        emb, emb_mask = pool_frames(states, mask, self.config.pool)
        return SemanticEmbedding(emb, emb_mask)

    def decode_logits(self, states: Tensor, tokens: Tensor) -> Tensor:
        """Whisper's logits (b, l, v) for BPE ids (b, l) given encoder states (b, m, d)."""
        return self.decoder(tokens, states)


def _read_json(path: Path) -> dict[str, Any]:
    return read_json_object(path, "a Whisper folder needs its config.json")


def whisper_config(path: Path, data: dict[str, Any]) -> SemanticConfig:
    """The ``SemanticConfig`` (text tokens "whisper") of a transformers WhisperConfig."""
    if data.get("model_type", "whisper") != "whisper":
        raise FlowvoxError(f"{path}: model_type {data.get('model_type')!r} is not 'whisper'")
    c = {**WHISPER_DEFAULTS, **data}
    if c["activation_function"] != "gelu":
        raise FlowvoxError(f"{path}: activation_function {c['activation_function']!r}; only gelu")
    if c["num_mel_bins"] != 80:
        raise FlowvoxError(
            f"{path}: num_mel_bins={c['num_mel_bins']}; flowvox has Whisper's 80-bin front end "
            f"only ({MEL_PRESET}), not large-v3's 128 bins"
        )
    try:
        return SemanticConfig(
            mel=MEL_PRESET, dim=int(c["d_model"]),
            encoder_depth=int(c["encoder_layers"]), decoder_depth=int(c["decoder_layers"]),
            encoder_heads=int(c["encoder_attention_heads"]),
            decoder_heads=int(c["decoder_attention_heads"]),
            encoder_ffn_dim=int(c["encoder_ffn_dim"]), decoder_ffn_dim=int(c["decoder_ffn_dim"]),
            max_frames=int(c["max_source_positions"]),
            max_text_tokens=int(c["max_target_positions"]),
            text_tokens="whisper", text_vocab_size=int(c["vocab_size"]),
        )  # fmt: skip
    except FlowvoxError as err:
        raise FlowvoxError(f"{path}: {err}") from err


def _load_one(path: Path) -> dict[str, Tensor]:
    try:
        if path.suffix == ".safetensors":
            return load_file(path, device="cpu")
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (SafetensorError, pickle.UnpicklingError, RuntimeError, OSError, ValueError) as err:
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise FlowvoxError(f"{path}: not a readable weights file ({first})") from err
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise FlowvoxError(f"{path}: expected a state dict of tensors")
    return state


def read_whisper_weights(folder: Path) -> dict[str, Tensor]:
    """The folder's tensors (one file, or the shards a safetensors index names)."""
    for name in WEIGHTS:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            shards = sorted(set(_read_json(path).get("weight_map", {}).values()))
            return {k: v for shard in shards for k, v in _load_one(folder / shard).items()}
        return _load_one(path)
    raise FlowvoxError(f"{folder}: no weights file; expected one of {', '.join(WEIGHTS)}")


def whisper_state(state: dict[str, Tensor], source: Path) -> dict[str, Tensor]:
    """Whisper's keys -> flowvox's: ``model.`` dropped (ForConditionalGeneration),
    ``encoder.embed_positions.weight`` -> the buffer ``encoder.embed_positions``, the tied
    ``proj_out.weight`` checked against ``decoder.embed_tokens.weight`` and dropped."""
    out = {}
    for key, value in state.items():
        key = key.removeprefix("model.")
        if key == "encoder.embed_positions.weight":
            key = "encoder.embed_positions"
        out[key] = value
    proj = out.pop("proj_out.weight", None)
    tokens = out.get("decoder.embed_tokens.weight")
    if proj is not None and tokens is not None and not torch.equal(proj, tokens):
        raise FlowvoxError(
            f"{source}: proj_out is not tied to decoder.embed_tokens; flowvox's decoder ties them"
        )
    return out


def load_whisper(
    folder: str | os.PathLike, device: str | torch.device = "cpu"
) -> WhisperEncoderDecoder:
    """A transformers Whisper folder as ``WhisperEncoderDecoder``, same weights, eval mode."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FlowvoxError(f"Whisper folder {str(folder)!r} not found")
    config_path = folder / "config.json"
    model = WhisperEncoderDecoder(whisper_config(config_path, _read_json(config_path)))
    state = whisper_state(read_whisper_weights(folder), folder)
    check_state_dict(model, state, f"{folder} (Whisper)", "pass a Whisper folder saved whole")
    model.load_state_dict(state)
    return model.to(device).eval()
