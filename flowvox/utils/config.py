"""Dataclass configs from YAML: strict keys, type checks, dotted ``--set`` overrides, JSON.

A config is a (possibly nested) ``@dataclass``. ``load_config(Cls, "x.yaml", ["a.b=3"])``
reads the YAML, applies the overrides, and builds ``Cls``; every mistake is a one-line
``FlowvoxError`` naming the dotted key:

- an unknown key names the allowed keys (and the closest one);
- a missing key without a default says how to set it;
- a value of the wrong type names the expected type. Types checked: ``bool``, ``int``,
  ``float`` (an int is accepted, and so is a numeric string such as ``1e-4``, which YAML 1.1
  reads as text), ``str``, ``Path``, ``None``, ``X | None`` and other unions, ``Literal``
  (a YAML 1.1 boolean stands for the choice it was spelt as: ``no``, ``off``, ``yes``, ``on``,
  as in ``--set train.mixed_precision=no``), ``list[X]``, ``tuple[X, ...]``,
  ``dict[str, X]``, nested dataclasses and ``Any``.

``config_to_dict`` gives plain JSON-able data and ``config_from_dict`` inverts it, so a
config saved with a checkpoint (``save_config_json``) rebuilds the same object.

``PresetConfig`` gives a model config class its packaged YAML presets
(``flowvox/configs/<family>/<name>.yaml``) and the ``model`` section forms of a run file.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import types
import typing
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import yaml

from flowvox.errors import FlowvoxError
from flowvox.utils.atomic import atomic_write_text

T = TypeVar("T")


def config_from_dict(cls: type[T], data: Mapping[str, Any], where: str = "") -> T:
    """Build dataclass ``cls`` from ``data``; ``where`` is the dotted prefix used in errors."""
    if not isinstance(data, Mapping):
        raise FlowvoxError(f"{_name(where)}: expected a mapping of keys, got {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise FlowvoxError(_unknown_key_message(_join(where, str(key)), fields))
    values = {}
    for name, field in fields.items():
        key = _join(where, name)
        if name in data:
            values[name] = _convert(data[name], hints[name], key)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise FlowvoxError(
                f"config key '{key}' is missing and has no default; set it in the YAML file "
                f"or with --set {key}=VALUE"
            )
    return cls(**values)


def config_to_dict(config: Any) -> Any:
    """Plain data (dicts, lists, str/int/float/bool/None) for a dataclass config."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return {
            f.name: config_to_dict(getattr(config, f.name))
            for f in dataclasses.fields(config)
            if f.init
        }
    if isinstance(config, Mapping):
        return {str(k): config_to_dict(v) for k, v in config.items()}
    if isinstance(config, (list, tuple)):
        return [config_to_dict(v) for v in config]
    if isinstance(config, Path):
        return str(config)
    return config


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """The top-level mapping of a YAML file (an empty file gives ``{}``)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise FlowvoxError(f"{path}: cannot read config file ({err.strerror})") from err
    except yaml.YAMLError as err:
        raise FlowvoxError(f"{path}: not valid YAML ({_one_line(err)})") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise FlowvoxError(f"{path}: the top level must be a mapping of keys, not {_show(data)}")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` -> (["a", "b"], 3); the value is read as a YAML scalar or flow list."""
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(part.strip() for part in parts):
        raise FlowvoxError(f"--set {text!r}: write --set key.subkey=VALUE")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise FlowvoxError(f"--set {text!r}: value is not valid YAML ({_one_line(err)})") from err
    return [part.strip() for part in parts], value


def apply_overrides(data: Mapping[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """A copy of ``data`` with each ``key.subkey=value`` of ``overrides`` set in it.

    Missing sections are created (their keys are checked later by ``config_from_dict``);
    setting a key inside something that is not a section is an error naming it.
    """
    result = _deep_copy(data)
    for text in overrides:
        keys, value = parse_override(text)
        node = result
        for depth, key in enumerate(keys[:-1]):
            child = node.setdefault(key, {})
            if child is None:
                child = node[key] = {}
            if not isinstance(child, dict):
                section = ".".join(keys[: depth + 1])
                raise FlowvoxError(
                    f"--set {text!r}: '{section}' is a value ({_show(child)}), not a section"
                )
            node = child
        node[keys[-1]] = value
    return result


def load_config(cls: type[T], path: str | os.PathLike, overrides: Sequence[str] = ()) -> T:
    """``cls`` built from the YAML file at ``path`` with ``--set`` style ``overrides``."""
    data = apply_overrides(read_yaml(path), overrides)
    try:
        return config_from_dict(cls, data)
    except FlowvoxError as err:
        raise FlowvoxError(f"{path}: {err}") from err


def save_config_json(config: Any, path: str | os.PathLike) -> None:
    """Write ``config_to_dict(config)`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(config_to_dict(config), indent=2, sort_keys=False) + "\n")


def load_config_json(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping stored by ``save_config_json`` (build a class with ``config_from_dict``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise FlowvoxError(f"{path}: cannot read JSON config ({err})") from err
    if not isinstance(data, dict):
        raise FlowvoxError(f"{path}: expected a JSON object")
    return data


class PresetConfig:
    """Mixin of a model config dataclass: JSON round trip, packaged presets, ``replace``.

    The subclass sets ``PRESET_FAMILY`` (its preset folder ``flowvox/configs/<family>/``, and
    its name in messages) and ``PRESETS`` (the preset names there); each preset file holds
    the dataclass's fields at its top level.
    """

    PRESET_FAMILY: ClassVar[str]
    PRESETS: ClassVar[tuple[str, ...]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with nested configs in full (what a checkpoint stores)."""
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Inverse of ``to_dict``; ``mel`` may be a preset name. Unknown keys are an error."""
        return config_from_dict(cls, data)

    @classmethod
    def preset(cls, name: str, overrides: Sequence[str] = ()) -> Self:
        """A packaged preset (one of ``PRESETS``) with ``key=value`` overrides."""
        if name not in cls.PRESETS:
            raise FlowvoxError(
                f"unknown {cls.PRESET_FAMILY} preset {name!r}; choose one of "
                f"{', '.join(cls.PRESETS)}"
            )
        path = resources.files("flowvox") / "configs" / cls.PRESET_FAMILY / f"{name}.yaml"
        with resources.as_file(path) as file:
            return load_config(cls, file, overrides)

    @classmethod
    def from_section(cls, model: str | Mapping[str, Any]) -> Self:
        """The ``model`` section of a run file: a preset name, a mapping with ``preset``
        (that preset, the other keys overriding it), or a mapping of the fields themselves."""
        if isinstance(model, str):
            return cls.preset(model)
        fields = dict(model)
        preset = fields.pop("preset", None)
        base = cls.preset(str(preset)).to_dict() if preset is not None else {}
        return cls.from_dict({**base, **fields})

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (and checked)."""
        return dataclasses.replace(self, **changes)


def _convert(value: Any, hint: Any, key: str) -> Any:
    """``value`` checked against type ``hint`` (and made a float/tuple/Path where asked)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if dataclasses.is_dataclass(hint):
        return config_from_dict(hint, value, key)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for arm in (a for a in args if a is not type(None)):
            try:
                return _convert(value, arm, key)
            except FlowvoxError:
                continue
        raise _type_error(key, " | ".join(_type_name(a) for a in args), value)
    if origin is typing.Literal:
        if value in args and type(value) in {type(a) for a in args}:
            return value
        if isinstance(value, bool):
            spelt = [a for a in args if isinstance(a, str) and a.lower() in YAML_BOOLS[value]]
            if len(spelt) == 1:
                return spelt[0]
        raise _type_error(key, "one of " + ", ".join(repr(a) for a in args), value)
    if origin in (list, Sequence, tuple):
        if not isinstance(value, (list, tuple)):
            raise _type_error(key, _type_name(hint), value)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise _type_error(key, f"{_type_name(hint)} ({len(args)} items)", value)
            items = [
                _convert(v, a, f"{key}[{i}]")
                for i, (v, a) in enumerate(zip(value, args, strict=True))
            ]
        else:
            arm = args[0] if args else Any
            items = [_convert(v, arm, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
            raise _type_error(key, _type_name(hint), value)
        arm = args[1] if args else Any
        return {k: _convert(v, arm, f"{key}.{k}") for k, v in value.items()}
    return _convert_scalar(value, hint, key)


def _convert_scalar(value: Any, hint: Any, key: str) -> Any:
    if hint is type(None):
        if value is None:
            return None
    elif hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as text
            try:
                return float(value)
            except ValueError:
                pass
    elif hint is str:
        if isinstance(value, str):
            return value
    elif hint is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
    elif isinstance(hint, type):
        if isinstance(value, hint):
            return value
    else:
        raise AssertionError(f"config type {hint!r} of '{key}' is not supported")
    raise _type_error(key, _type_name(hint), value)


def _unknown_key_message(key: str, fields: Mapping[str, Any]) -> str:
    name = key.rsplit(".", 1)[-1]
    close = difflib.get_close_matches(name, list(fields), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"config key '{key}' is unknown{hint}; allowed keys here: {', '.join(fields)}"


# the words YAML 1.1 reads as False / True, for Literal choices spelt like them
YAML_BOOLS = {False: ("no", "off", "false", "n"), True: ("yes", "on", "true", "y")}


def _type_error(key: str, expected: str, value: Any) -> FlowvoxError:
    return FlowvoxError(f"config key '{key}': expected {expected}, got {_show(value)}")


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "null"
    if isinstance(hint, type) and typing.get_origin(hint) is None:
        return hint.__name__
    return str(hint).replace("typing.", "")


def _show(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _name(where: str) -> str:
    return f"config key '{where}'" if where else "config"


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
