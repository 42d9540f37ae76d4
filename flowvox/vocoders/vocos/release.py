"""Read the released Vocos format: ``config.yaml`` (vocos 0.1.0 class paths and init args)
and ``pytorch_model.bin`` (a flat state dict), e.g. charactr/vocos-mel-24khz.

# c: frequency bins (n_fft/2 + 1), f: mel bins, w: window taps
Only the mel variant is supported: feature extractor ``MelSpectrogramFeatures``, backbone
``VocosBackbone`` without AdaLayerNorm, head ``ISTFTHead``. The release state dict also holds
buffers that follow from the config (the STFT windows and the torchaudio mel filter bank);
they are checked against flowvox's own and dropped, so a release whose mel differs from its
config is refused rather than silently paired with the wrong front-end.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import replace
from pathlib import Path

import torch

from flowvox.audio.mel import MEL_PRESETS, MelConfig, mel_filter_bank
from flowvox.errors import FlowvoxError
from flowvox.nn.state_dict import describe_mismatch
from flowvox.vocoders.vocos.model import Vocos, VocosConfig

FEATURES = "vocos.feature_extractors.MelSpectrogramFeatures"
BACKBONE = "vocos.models.VocosBackbone"
HEAD = "vocos.heads.ISTFTHead"

# Buffers of the release that are functions of the config, not learned weights.
FEATURE_WINDOW = "feature_extractor.mel_spec.spectrogram.window"
FEATURE_FILTERS = "feature_extractor.mel_spec.mel_scale.fb"
HEAD_WINDOW = "head.istft.window"


def load_vocos_release(
    source: str | os.PathLike, weights: str | os.PathLike | None = None
) -> Vocos:
    """A ``Vocos`` holding the released weights; ``FlowvoxError`` on anything it cannot map.

    ``source`` is a directory with ``config.yaml`` and ``pytorch_model.bin``, or the
    config.yaml itself with ``weights`` naming the state-dict file. The weights are read with
    ``torch.load(weights_only=True)``, which refuses arbitrary pickled objects.
    """
    source = Path(source)
    if not source.exists():
        raise FlowvoxError(f"vocos release: {source} not found")
    if source.is_dir():
        config_path, weights_path = source / "config.yaml", source / "pytorch_model.bin"
    else:
        if weights is None:
            raise FlowvoxError(f"vocos release {source}: pass the directory, or also the weights")
        config_path, weights_path = source, Path(weights)
    for path in (config_path, weights_path):
        if not path.is_file():
            raise FlowvoxError(f"vocos release: {path} not found")
    config = config_from_release(_read_yaml(config_path))
    model = Vocos(config)
    load_release_state_dict(model, _read_weights(weights_path))
    return model.eval()


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise FlowvoxError(f"vocos release config {path}: not valid YAML ({error})") from None
    if not isinstance(data, dict):
        raise FlowvoxError(f"vocos release config {path}: expected a mapping at the top level")
    return data


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as error:
        raise FlowvoxError(
            f"vocos release weights {path}: not a plain tensor state dict ({error})"
        ) from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FlowvoxError(f"vocos release weights {path}: expected a flat dict of tensors")
    return state


def _section(data: dict, name: str, class_path: str, allowed: dict) -> dict:
    """``init_args`` of section ``name`` with defaults filled in; checks class and keys."""
    section = data.get(name)
    if not isinstance(section, dict) or "class_path" not in section:
        raise FlowvoxError(f"vocos release config: missing section {name!r} with a class_path")
    if section["class_path"] != class_path:
        raise FlowvoxError(
            f"vocos release config: {name} {section['class_path']!r} is not supported; "
            f"flowvox loads the mel vocoder ({class_path})"
        )
    extra = sorted(set(section) - {"class_path", "init_args"})
    args = section.get("init_args") or {}
    unknown = sorted(set(args) - set(allowed)) + [f"{name}.{k}" for k in extra]
    if unknown:
        raise FlowvoxError(
            f"vocos release config: unsupported {name} options {unknown}; known: {sorted(allowed)}"
        )
    return {**allowed, **args}


def config_from_release(data: dict) -> VocosConfig:
    """Map a release config.yaml (already parsed) to a ``VocosConfig``.

    The mel is the torchaudio ``MelSpectrogram`` that vocos 0.1.0 builds: periodic Hann of
    n_fft taps, HTK scale, no filter norm, magnitude, f_min 0, f_max sr/2, reflect padding;
    ``padding: center`` is a centred STFT, ``same`` pads (n_fft - hop)/2. When that equals a
    flowvox preset the preset (and its name) is used; the log floor is flowvox's 1e-5 (see the
    mel-contract note in ``flowvox.vocoders.vocos.model``).
    """
    unknown = sorted(set(data) - {"feature_extractor", "backbone", "head"})
    if unknown:
        raise FlowvoxError(f"vocos release config: unsupported top-level keys {unknown}")
    mel_args = _section(
        data,
        "feature_extractor",
        FEATURES,
        dict(sample_rate=24000, n_fft=1024, hop_length=256, n_mels=100, padding="center"),
    )
    backbone = _section(
        data,
        "backbone",
        BACKBONE,
        dict(
            input_channels=None,
            dim=None,
            intermediate_dim=None,
            num_layers=None,
            layer_scale_init_value=None,
            adanorm_num_embeddings=None,
        ),
    )
    head = _section(data, "head", HEAD, dict(dim=None, n_fft=None, hop_length=None, padding="same"))

    if mel_args["padding"] not in ("center", "same"):
        raise FlowvoxError(f"vocos release config: feature padding {mel_args['padding']!r}")
    mel = MelConfig(
        name="vocos-release",
        sample_rate=int(mel_args["sample_rate"]),
        n_fft=int(mel_args["n_fft"]),
        hop_length=int(mel_args["hop_length"]),
        win_length=int(mel_args["n_fft"]),
        n_mels=int(mel_args["n_mels"]),
        mel_scale="htk",
        norm=None,
        power=1.0,
        center=mel_args["padding"] == "center",
    )
    for preset in MEL_PRESETS.values():
        if replace(preset, name=mel.name) == mel:
            mel = preset
    if backbone["adanorm_num_embeddings"] is not None:
        raise FlowvoxError(
            "vocos release config: AdaLayerNorm (adanorm_num_embeddings) belongs to the EnCodec "
            "variant, which flowvox does not load"
        )
    for key in ("input_channels", "dim", "intermediate_dim", "num_layers"):
        if backbone[key] is None:
            raise FlowvoxError(f"vocos release config: backbone.init_args.{key} is missing")
    for key in ("dim", "n_fft", "hop_length"):
        if head[key] is None:
            raise FlowvoxError(f"vocos release config: head.init_args.{key} is missing")
    checks = [
        ("backbone input_channels", backbone["input_channels"], "n_mels", mel.n_mels),
        ("head dim", head["dim"], "backbone dim", backbone["dim"]),
        ("head hop_length", head["hop_length"], "feature hop_length", mel.hop_length),
    ]
    for name, value, other, expected in checks:
        if value != expected:
            raise FlowvoxError(f"vocos release config: {name} {value} != {other} {expected}")
    return VocosConfig(
        mel=mel,
        dim=int(backbone["dim"]),
        hidden_dim=int(backbone["intermediate_dim"]),
        num_layers=int(backbone["num_layers"]),
        layer_scale_init=backbone["layer_scale_init_value"],
        n_fft=int(head["n_fft"]),
        padding=head["padding"],
    )


def load_release_state_dict(model: Vocos, state: dict[str, torch.Tensor]) -> None:
    """Copy a release state dict into ``model``; derived buffers are checked, then dropped.

    Missing or unexpected keys, or a tensor of the wrong shape, raise ``FlowvoxError`` naming
    them all.
    """
    state = dict(state)
    config = model.config
    derived = {
        FEATURE_WINDOW: torch.hann_window(config.mel.win_length),  # (w,)
        HEAD_WINDOW: torch.hann_window(config.n_fft),  # (w,)
        FEATURE_FILTERS: mel_filter_bank(config.mel).T,  # (c, f) as torchaudio stores it
    }
    for key, expected in derived.items():
        if key not in state:
            continue
        found = state.pop(key).float()
        if found.shape != expected.shape or not torch.allclose(found, expected, atol=1e-4):
            raise FlowvoxError(
                f"vocos release weights: buffer {key} does not match the mel config "
                f"{config.mel.name!r} (shape {tuple(found.shape)} vs {tuple(expected.shape)}); "
                "the checkpoint was made with a different front-end"
            )
    mismatch = describe_mismatch(model.state_dict(), state)
    if mismatch:
        raise FlowvoxError(
            f"vocos release weights do not fit the config: {mismatch}; check that config.yaml "
            "belongs to this pytorch_model.bin"
        )
    model.load_state_dict(state)
