"""YAML -> dataclass configs: strict keys, type checks, --set overrides, JSON round trip."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from flowvox.errors import FlowvoxError
from flowvox.utils.config import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    load_config_json,
    parse_override,
    save_config_json,
)


@dataclass
class Inner:
    dim: int = 8
    rate: float = 0.5
    name: str | None = None


@dataclass
class Outer:
    depth: int  # required
    inner: Inner = field(default_factory=Inner)
    kind: Literal["a", "b"] = "a"
    flag: bool = False
    sizes: list[int] = field(default_factory=lambda: [1, 2])
    pair: tuple[float, float] = (0.9, 0.99)
    table: dict[str, int] = field(default_factory=dict)
    where: Path = Path("out")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_yaml_loads_into_nested_dataclasses(tmp_path):
    path = write(
        tmp_path,
        "depth: 3\ninner: {dim: 16, rate: 1e-4}\nkind: b\nsizes: [4]\npair: [0.8, 1]\n"
        "table: {x: 1}\nwhere: runs/x\n",
    )
    config = load_config(Outer, path)
    assert config == Outer(
        depth=3,
        inner=Inner(dim=16, rate=1e-4),  # "1e-4" is text to YAML 1.1; a float field takes it
        kind="b",
        sizes=[4],
        pair=(0.8, 1.0),
        table={"x": 1},
        where=Path("runs/x"),
    )
    assert isinstance(config.pair[1], float) and isinstance(config.inner.rate, float)


def test_dotted_overrides_parse_yaml_scalars_and_lists(tmp_path):
    path = write(tmp_path, "depth: 3\n")
    overrides = ["inner.dim=32", "inner.rate=0.25", "inner.name=null", "flag=true", "sizes=[5, 6]"]
    config = load_config(Outer, path, overrides + ["inner.name=abc"])
    assert (config.inner.dim, config.inner.rate, config.inner.name) == (32, 0.25, "abc")
    assert config.flag is True and config.sizes == [5, 6]
    assert parse_override("a.b = x y ") == (["a", "b"], "x y")
    assert parse_override("a=") == (["a"], "")


@dataclass
class Switches:
    mixed_precision: Literal["no", "bf16", "fp16"] = "bf16"
    mode: Literal["on", "off", "auto"] = "auto"


def test_yaml_booleans_stand_for_the_literal_choice_spelt_like_them(tmp_path):
    path = write(tmp_path, "mode: off\n")  # YAML 1.1: False
    config = load_config(Switches, path, ["mixed_precision=no"])
    assert config == Switches(mixed_precision="no", mode="off")
    assert load_config(Switches, path, ["mode=on"]).mode == "on"
    with pytest.raises(FlowvoxError, match="'mixed_precision': expected one of"):
        load_config(Switches, path, ["mixed_precision=yes"])  # no choice spelt "yes"
    with pytest.raises(FlowvoxError, match="'kind': expected one of 'a', 'b'"):
        load_config(Outer, write(tmp_path, "depth: 1\n"), ["kind=no"])


def test_round_trip_through_json(tmp_path):
    config = config_from_dict(Outer, {"depth": 2, "inner": {"name": "n"}, "table": {"k": 3}})
    save_config_json(config, tmp_path / "config.json")
    data = load_config_json(tmp_path / "config.json")
    assert data["pair"] == [0.9, 0.99] and data["where"] == "out"
    assert config_from_dict(Outer, data) == config
    assert config_to_dict(config_from_dict(Outer, data)) == data


@pytest.mark.parametrize(
    "data, message",
    [
        ({"depth": 1, "inner": {"dimm": 3}}, "'inner.dimm' is unknown (did you mean 'dim'?)"),
        ({"depth": 1, "extra": 3}, "allowed keys here: depth, inner, kind"),
        ({}, "'depth' is missing"),
        ({"depth": "3"}, "'depth': expected int, got '3' (str)"),
        ({"depth": True}, "'depth': expected int, got True (bool)"),
        ({"depth": 1, "inner": {"rate": "fast"}}, "'inner.rate': expected float"),
        ({"depth": 1, "inner": {"name": 5}}, "'inner.name': expected str | null"),
        ({"depth": 1, "kind": "c"}, "'kind': expected one of 'a', 'b'"),
        ({"depth": 1, "flag": "yes please"}, "'flag': expected bool"),
        ({"depth": 1, "sizes": [1, "x"]}, "'sizes[1]': expected int"),
        ({"depth": 1, "pair": [1.0]}, "'pair': expected tuple[float, float] (2 items)"),
        ({"depth": 1, "inner": 7}, "config key 'inner': expected a mapping"),
    ],
)
def test_errors_name_the_dotted_key(data, message):
    with pytest.raises(FlowvoxError) as err:
        config_from_dict(Outer, data)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_bad_overrides_and_files_are_named(tmp_path):
    path = write(tmp_path, "depth: 3\ninner: {dim: 4}\n")
    with pytest.raises(FlowvoxError, match=r"--set 'inner.dim': write --set key.subkey=VALUE"):
        load_config(Outer, path, ["inner.dim"])
    with pytest.raises(FlowvoxError, match=r"'inner.dim' is a value \(4 \(int\)\), not a section"):
        load_config(Outer, path, ["inner.dim.x=1"])
    with pytest.raises(FlowvoxError, match=r"c.yaml: config key 'inner.dimm' is unknown"):
        load_config(Outer, path, ["inner.dimm=1"])
    with pytest.raises(FlowvoxError, match="value is not valid YAML"):
        load_config(Outer, path, ["sizes=[1, 2"])
    with pytest.raises(FlowvoxError, match="not valid YAML"):
        load_config(Outer, write(tmp_path, "depth: [1\n"))
    with pytest.raises(FlowvoxError, match="top level must be a mapping"):
        load_config(Outer, write(tmp_path, "- 1\n"))
    with pytest.raises(FlowvoxError, match="cannot read config file"):
        load_config(Outer, tmp_path / "missing.yaml")


def test_overrides_create_missing_sections_without_touching_the_input():
    data = {"depth": 1}
    result = apply_overrides(data, ["inner.dim=5"])
    assert result == {"depth": 1, "inner": {"dim": 5}} and data == {"depth": 1}
    assert config_from_dict(Outer, result).inner == Inner(dim=5)
