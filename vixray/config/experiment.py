"""An experiment: every section of :mod:`vixray.config.sections` plus the optional search, loaded from YAML here.

An experiment file (``experiments/presets/NAME.yaml``, ``experiments/search/NAME.yaml``) has one section per
dataclass::

    name: quick_test
    data:     {source: auto, tickers: [SPY, QQQ, ^VIX]}
    features: {set: seed}
    labels:   {threshold: 0.01, horizon: 1}
    eras:     {development: {end: 2019-12-31}, holdout: {start: 2020-01-01}}   # or  holdout: last 20%
    split:    {n_splits: 5, train_size: 1000, test_size: 250, gap: 1}
    model:    {seq_len: 5, hidden_size: 32, num_layers: 2, dropout: 0.2}
    train:    {epochs: 10, batch_size: 16, lr: 0.001, weight_decay: 0.00001}
    search:   {...}   # only for `vixray tune` (vixray.config.search)

Every error names the file and the YAML key (``experiments/x.yaml: model.hidden_size = -1: ...``). Flat dotted
overrides (``{"model.hidden_size": 64}``), as a hyperparameter search produces them, go through the same validation
(:meth:`ExperimentConfig.with_overrides`), so no untyped config dict travels past the search boundary.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from vixray.config.errors import ConfigError, fail
from vixray.config.search import SearchConfig, search_from_dict, trial_overrides
from vixray.config.sections import (
    DataConfig,
    ErasConfig,
    FeatureConfig,
    LabelConfig,
    ModelConfig,
    SplitConfig,
    TrainConfig,
)
from vixray.features import SEPARATOR as FEATURE_SEPARATOR
from vixray.features import spec_parts
from vixray.labels import DIRECTION


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: every section above, cross-checked."""

    name: str
    description: str = ""
    data: DataConfig = field(default_factory=DataConfig)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    labels: LabelConfig = field(default_factory=LabelConfig)
    eras: ErasConfig = field(default_factory=lambda: ErasConfig(holdout_fraction=0.2))
    split: SplitConfig = field(default_factory=SplitConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    search: SearchConfig | None = None  # only a searchable experiment (`vixray tune`) has one

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name or ""):
            fail("name", self.name, "use letters, digits, '_', '-' or '.' (it names the results folder)")
        if self.split.gap < self.labels.horizon:
            fail(
                "split.gap",
                self.split.gap,
                f"must be >= labels.horizon = {self.labels.horizon} so no training label reaches into a test block",
            )
        if self.search is not None and self.search.metric.startswith("val_") and self.split.val_fraction == 0:
            fail(
                "split.val_fraction",
                0.0,
                f"the search metric {self.search.metric} is measured on each training block's validation tail, "
                "which val_fraction = 0 leaves empty; set split.val_fraction > 0 (0.2 is usual)",
            )
        if self.labels.target not in self.data.tickers:
            fail(
                "labels.target", self.labels.target, f"is not among data.tickers = {list(self.data.tickers)}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-able dict that :func:`experiment_from_dict` turns back into an equal config."""
        data = {f.name: _to_plain(getattr(self, f.name)) for f in fields(self) if f.name != "search"}
        data["search"] = self.search.to_dict() if self.search is not None else None
        return data

    def with_overrides(self, overrides: Mapping[str, Any], *, origin: str = "overrides") -> ExperimentConfig:
        """A copy with flat dotted keys replaced, e.g. ``{"model.hidden_size": 128, "train.lr": 3e-4}``."""
        nested: dict[str, dict[str, Any]] = {}
        for key, value in overrides.items():
            section, _, name = key.partition(".")
            if not name or section not in _SECTIONS:
                raise ConfigError(
                    f"{origin}: unknown key {key!r}; use SECTION.FIELD with SECTION one of {sorted(_SECTIONS)}",
                    key=key,
                )
            nested.setdefault(section, {})[name] = value
        data = self.to_dict()
        data["search"] = None  # the search space is not overridable; it is carried over unchanged
        for section, values in nested.items():
            data[section] = {**(data.get(section) or {}), **values}
        if "labels" in nested:
            data["labels"].pop("threshold", None)
            if (
                nested["labels"].get("kind") == DIRECTION
            ):  # the framing changes: the old thresholds do not apply
                for bound in {"down", "up"} - set(nested["labels"]):
                    data["labels"].pop(bound, None)
        return dataclasses.replace(experiment_from_dict(data, origin=origin), search=self.search)


# ------------------------------------------------------------------------------------------------ YAML <-> config

_SECTIONS: dict[str, type] = {
    "data": DataConfig,
    "features": FeatureConfig,
    "labels": LabelConfig,
    "eras": ErasConfig,
    "split": SplitConfig,
    "model": ModelConfig,
    "train": TrainConfig,
}
_HOLDOUT_LAST = re.compile(r"last\s+(\d+(?:\.\d+)?)\s*%")


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if isinstance(value, ErasConfig):
            return _eras_to_yaml(value)
        plain = {f.name: _to_plain(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, LabelConfig) and value.kind == DIRECTION:
            del plain["down"], plain["up"]  # a direction label has no thresholds to write
        return plain
    if isinstance(value, tuple | list):
        return [_to_plain(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def _eras_to_yaml(eras: ErasConfig) -> dict[str, Any]:
    dev = {"start": eras.development_start, "end": eras.development_end}
    if eras.holdout_fraction is not None:
        holdout: Any = f"last {eras.holdout_fraction * 100:g}%"
    else:
        holdout = {"start": eras.holdout_start, "end": eras.holdout_end}
        holdout = {k: v.isoformat() for k, v in holdout.items() if v is not None}
    return {"development": {k: v.isoformat() for k, v in dev.items() if v is not None}, "holdout": holdout}


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Turn a YAML scalar/list into the annotated type (dates, tuples, optionals); leave the rest to validation."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if hint is date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            fail(key, value, "is not a date; write YYYY-MM-DD")
    if origin is tuple:
        inner = typing.get_args(hint)[0]
        items = value if isinstance(value, list | tuple) else [value]
        return tuple(_coerce(v, inner, key) for v in items)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        try:
            return float(value)  # YAML 1.1 reads 1e-5 as a string
        except ValueError:
            fail(key, value, "must be a number")
    return value


def _build_section(cls: type, raw: Any, *, section: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        fail(section, raw, "must be a mapping of key: value")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"{section}.{unknown[0]}: unknown key; valid keys in '{section}' are {sorted(known)}",
            key=f"{section}.{unknown[0]}",
        )
    kwargs = {k: _coerce(v, hints[k], f"{section}.{k}") for k, v in raw.items()}
    try:
        return cls(**kwargs)
    except ConfigError as err:
        raise ConfigError(f"{section}.{err}", key=f"{section}.{err.key}") from None


def _labels_from_yaml(raw: Mapping[str, Any] | None) -> dict[str, Any]:
    raw = dict(raw or {})
    if raw.get("kind") == DIRECTION:
        given = sorted(k for k in ("threshold", "up", "down") if k in raw)
        if given:
            fail(
                f"labels.{given[0]}",
                raw[given[0]],
                "a direction label has no threshold (Up if the next close is higher, else Down); remove it, or use "
                "kind: threshold",
            )
        raw["down"], raw["up"] = 0.0, 0.0
        return raw
    if "threshold" in raw:
        t = raw.pop("threshold")
        if "up" in raw or "down" in raw:
            fail("labels.threshold", t, "give either threshold or up/down, not both")
        if isinstance(t, bool) or not isinstance(t, int | float) or t <= 0:
            fail(
                "labels.threshold",
                t,
                "must be a positive fraction (0.01 = ±1%); negative thresholds are not allowed",
            )
        raw["down"], raw["up"] = -float(t), float(t)
    return raw


def _features_from_yaml(raw: Any) -> Any:
    """``blocks: [seed, calendar]`` is the spec ``set: seed+calendar``; one of the two, never both."""
    if not isinstance(raw, Mapping) or "blocks" not in raw:
        return raw
    raw = dict(raw)
    blocks = raw.pop("blocks")
    if "set" in raw:
        fail("features.blocks", blocks, "give either features.set or features.blocks, not both")
    if isinstance(blocks, str) or not isinstance(blocks, list | tuple) or not blocks:
        fail(
            "features.blocks", blocks, "must be a non-empty list of block or set names, e.g. [seed, calendar]"
        )
    if not all(isinstance(b, str) for b in blocks):
        fail("features.blocks", blocks, "must list block or set names (strings), e.g. [seed, calendar]")
    spec = FEATURE_SEPARATOR.join(blocks)
    try:
        spec_parts(spec)
    except ValueError as err:
        fail("features.blocks", list(blocks), str(err).split(": ", 1)[1])
    raw["set"] = spec
    return raw


def _eras_from_yaml(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"holdout_fraction": 0.2}
    if not isinstance(raw, Mapping):
        fail("eras", raw, "must be a mapping with 'development' and 'holdout'")
    unknown = sorted(set(raw) - {"development", "holdout"})
    if unknown:
        fail(f"eras.{unknown[0]}", raw[unknown[0]], "unknown key; use 'development' and 'holdout'")
    out: dict[str, Any] = {}
    for era in ("development", "holdout"):
        spec = raw.get(era)
        if era == "holdout" and isinstance(spec, str):
            match = _HOLDOUT_LAST.fullmatch(spec.strip())
            if not match:
                fail(
                    "eras.holdout", spec, "write 'last 20%' or a mapping {start: YYYY-MM-DD, end: YYYY-MM-DD}"
                )
            out["holdout_fraction"] = float(match.group(1)) / 100
            continue
        if spec is None:
            continue
        if not isinstance(spec, Mapping) or set(spec) - {"start", "end"}:
            fail(f"eras.{era}", spec, "must be a mapping with 'start' and/or 'end' dates")
        for bound in ("start", "end"):
            if spec.get(bound) is not None:
                out[f"{era}_{bound}"] = spec[bound]
    return out


def experiment_from_dict(raw: Mapping[str, Any], *, origin: str = "<dict>") -> ExperimentConfig:
    """Build and validate an :class:`ExperimentConfig`; every error names ``origin`` and the YAML key."""
    try:
        return _experiment_from_dict(raw)
    except ConfigError as err:
        raise ConfigError(f"{origin}: {err}", key=err.key) from None


def _experiment_from_dict(raw: Mapping[str, Any]) -> ExperimentConfig:
    if not isinstance(raw, Mapping):
        raise ConfigError("the experiment must be a YAML mapping of sections")
    allowed = {"name", "description", "search", *_SECTIONS}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(
            f"{unknown[0]}: unknown section; valid sections are {sorted(allowed)}", key=unknown[0]
        )
    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        section_raw = raw.get(name)
        if name == "labels":
            section_raw = _labels_from_yaml(section_raw)
        elif name == "features":
            section_raw = _features_from_yaml(section_raw)
        elif name == "eras":
            eras_raw = _eras_from_yaml(section_raw)
            hints = typing.get_type_hints(ErasConfig)
            try:
                coerced = {
                    k: _coerce(v, hints[k], "eras." + k.replace("_", ".", 1)) for k, v in eras_raw.items()
                }
                sections[name] = ErasConfig(**coerced)
            except ConfigError as err:
                raise ConfigError(
                    f"eras.{err}" if not str(err).startswith("eras") else str(err), key=err.key
                ) from None
            continue
        sections[name] = _build_section(cls, section_raw, section=name)
    search = None
    if raw.get("search") is not None:
        search = search_from_dict(raw["search"])
    config = ExperimentConfig(
        name=str(raw.get("name") or ""),
        description=str(raw.get("description") or ""),
        search=search,
        **sections,
    )
    if search is not None:
        _check_space(config, search)
    return config


def _check_space(config: ExperimentConfig, search: SearchConfig) -> None:
    """Every value a search can draw must make a valid experiment, checked before any trial runs: each parameter at
    its bounds and at every choice, with the parameters its ``when`` names set to the first values that enable it,
    through the same overrides a trial applies. (Combinations of several parameters are checked by the trials.)"""
    for p in search.space:
        values: list[Any] = list(p.choices) if p.type == "categorical" else [p.low, p.high]
        if p.type == "int":
            values = [int(v) for v in values]
        parents = {other: allowed[0] for other, allowed in p.when}
        for value in values:
            try:
                config.with_overrides(trial_overrides({**parents, p.name: value}), origin="search space")
            except ConfigError as err:
                why = str(err).removeprefix("search space: ")
                raise ConfigError(
                    f"search.space.{p.name} = {value!r} would make an invalid experiment: {why}",
                    key=f"search.space.{p.name}",
                ) from None


class _Loader(yaml.SafeLoader):
    """YAML's safe loader with dates left as text, so a bad date (2019-02-30) is an error naming its key."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_experiment(path: str | Path, *, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """Read an experiment file such as ``experiments/search/quick.yaml`` (the one place YAML is parsed). ``name`` defaults to the file stem."""
    path = Path(path)
    if not path.is_file():
        siblings = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        hint = f"; experiments there: {siblings}" if siblings else ""
        raise ConfigError(f"{path}: experiment file not found{hint}")
    try:
        raw = yaml.load(path.read_text(), Loader=_Loader) or {}  # noqa: S506 (a SafeLoader)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if isinstance(raw, Mapping):
        raw = {"name": path.stem, **raw}
    config = experiment_from_dict(raw, origin=str(path))
    return config.with_overrides(overrides, origin=str(path)) if overrides else config


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs from the command line (``features.set=full``, ``split.n_splits=all``) as dotted overrides,
    each value read as YAML (``true``, ``0.01``, ``[16, 8]``); validation is :meth:`ExperimentConfig.with_overrides`'s."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--override {item!r}: write KEY=VALUE, e.g. features.set=full", key=item)
        try:
            out[key.strip()] = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConfigError(f"--override {item!r}: the value is not valid YAML ({err})", key=key) from None
    return out


def dump_experiment(config: ExperimentConfig) -> str:
    """The resolved experiment as YAML text (what manifests and reports record)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
