"""Reading study configs: YAML files, ``key.sub=value`` overrides, sweep cells, error messages, key docs."""

from __future__ import annotations

import copy
import difflib
import itertools
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from blendaug.data.errors import ConfigError
from blendaug.study.arms import ArmSpec
from blendaug.study.config import StudyConfig

# The shipped configs are package data (blendaug.configs), so they are found without the checkout.
CONFIG_DIR = Path(str(resources.files("blendaug.configs")))
DEFAULT_CONFIG = CONFIG_DIR / "quick.yaml"


def _model_at(model: type[BaseModel], keys: list[str]) -> type[BaseModel] | None:
    for key in keys:
        field = model.model_fields.get(key)
        ann = field.annotation if field else None
        if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
            return None
        model = ann
    return model


def _error_message(err: ValidationError, source: str) -> str:
    first = err.errors()[0]
    loc = [str(p) for p in first["loc"]]
    key = ".".join(loc)
    if first["type"] == "extra_forbidden":
        parent = _model_at(StudyConfig, loc[:-1])
        valid = list(parent.model_fields) if parent else []
        close = difflib.get_close_matches(loc[-1], valid, n=1)
        hint = f" (did you mean '{'.'.join([*loc[:-1], close[0]])}'?)" if close else ""
        return f"{source}: unknown key '{key}'{hint}"
    msg = str(first.get("ctx", {}).get("error", "")) or first["msg"]
    return f"{source}: key '{key}': {msg}"


def parse_overrides(overrides: list[str]) -> list[tuple[str, Any]]:
    """``["gan.steps=5", "seeds=[0,1]"]`` to ``[("gan.steps", 5), ("seeds", [0, 1])]``; values parse as YAML."""
    pairs = []
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected key.sub=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        if not all(key.strip().split(".")):
            raise ConfigError(f"override '{item}': empty key")
        pairs.append((key.strip(), value))
    return pairs


def apply_overrides(raw: dict[str, Any], pairs: list[tuple[str, Any]], what: str = "override") -> dict[str, Any]:
    """A copy of ``raw`` with each dotted key set to its value. A value replaces what the key held, mappings
    included (``arms={baseline: {}, paste_real: {}}`` declares exactly those arms, ``sweep={}`` clears the
    sweep); to change one entry of a mapping, name it (``detection.args.lr0=0.02``)."""
    out = copy.deepcopy(raw)
    for dotted, value in pairs:
        node = out
        parts = dotted.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{what} '{dotted}': '{p}' is not a section")
        node[parts[-1]] = value
    return out


def find_config(path: str | Path | None) -> Path:
    """The config file: a path, or the name of a shipped config (``quick.yaml``, ``configs/quick.yaml``)."""
    path = Path(path) if path else DEFAULT_CONFIG
    if not path.is_file() and not path.is_absolute():
        shipped = Path(*path.parts[1:]) if path.parts[0] == "configs" and len(path.parts) > 1 else path
        if (CONFIG_DIR / shipped).is_file():
            path = CONFIG_DIR / shipped
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    return path


def validate(raw: dict[str, Any], source: str) -> StudyConfig:
    """Validate a config mapping (and each of its sweep cells); errors name ``source`` and the key."""
    try:
        cfg = StudyConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(_error_message(e, source)) from None
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    cells(cfg, source)  # a bad sweep key or value stops the study now
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> StudyConfig:
    """Read a YAML study config (default ``configs/quick.yaml``), apply overrides, validate.

    Raises:
        ConfigError: naming the file and key, with a suggestion for unknown keys.
    """
    path = find_config(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{line}: not valid YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys")
    return validate(apply_overrides(raw, parse_overrides(overrides or [])), str(path))


@dataclass(frozen=True)
class Cell:
    """One value (or one combination of values) of the sweep; ``name`` is ``''`` without a sweep."""

    name: str
    values: dict[str, Any]
    cfg: StudyConfig


def _cell_name(values: dict[str, Any]) -> str:
    return ",".join(f"{k.split('.')[-1]}={v}" for k, v in values.items())


def cells(cfg: StudyConfig, source: str = "config") -> list[Cell]:
    """The sweep as a grid of cells (every combination of the swept values, in the given order).

    Each cell's config is the study config with the swept keys set and no sweep of its own.
    """
    if not cfg.sweep:
        return [Cell("", {}, cfg)]
    base = cfg.model_dump(mode="json", exclude={"sweep"})
    out = []
    for key, values in cfg.sweep.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{source}: sweep.{key}: expected a non-empty list of values")
        if key.split(".")[0] in ("sweep", "seeds", "name", "executor"):
            raise ConfigError(f"{source}: sweep.{key}: cannot sweep '{key.split('.')[0]}'")
    for combo in itertools.product(*cfg.sweep.values()):
        values = dict(zip(cfg.sweep, combo, strict=True))
        try:
            cell_cfg = StudyConfig.model_validate(apply_overrides(base, list(values.items()), "sweep"))
        except ValidationError as e:
            raise ConfigError(_error_message(e, f"{source}: sweep value {values}")) from None
        out.append(Cell(_cell_name(values), values, cell_cfg))
    if len({c.name for c in out}) != len(out):
        raise ConfigError(f"{source}: sweep: two cells have the same name")
    return out


def describe_fields(model: type[BaseModel] = StudyConfig, prefix: str = "") -> list[str]:
    """``key: default  # description`` lines for every field, like ultralytics' default.yaml."""
    lines = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            lines.append(f"{prefix}{name}:  # {field.description}")
            lines += describe_fields(ann, prefix + "  ")
        else:
            default = field.get_default(call_default_factory=True)
            lines.append(f"{prefix}{name}: {default!r}  # {field.description}")
    if model is StudyConfig:
        lines.append("# arm fields (arms: {name: {field: value}}; unset fields come from synthetic:):")
        for name, field in ArmSpec.model_fields.items():
            lines.append(f"#   {name}: {field.description}")
    return lines
