"""Experiment configuration: frozen dataclasses, validated on construction, loaded from YAML in one place.

An experiment file (``experiments/NAME.yaml``) has one section per dataclass below::

    name: quick_test
    data:     {source: auto, tickers: [SPY, QQQ, ^VIX]}
    features: {set: seed}
    labels:   {threshold: 0.01, horizon: 1}
    eras:     {development: {end: 2019-12-31}, holdout: {start: 2020-01-01}}   # or  holdout: last 20%
    split:    {n_splits: 5, train_size: 1000, test_size: 250, gap: 1}
    model:    {seq_len: 5, hidden_size: 32, num_layers: 2, dropout: 0.2}
    train:    {epochs: 10, batch_size: 16, lr: 0.001, weight_decay: 0.00001}
    search:   {...}   # only for `vixray tune`

Every error names the file and the YAML key (``experiments/x.yaml: model.hidden_size = -1: ...``). Flat dotted
overrides (``{"model.hidden_size": 64}``), as a hyperparameter search produces them, go through the same validation
(:meth:`ExperimentConfig.with_overrides`), so no untyped config dict travels past the search boundary.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from vixray.features import FEATURE_SETS

CLASS_NAMES = ("down", "neutral", "up")


class ConfigError(ValueError):
    """A bad configuration value; ``key`` is the dotted YAML key when known."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def _fail(key: str, value: Any, why: str) -> typing.NoReturn:
    raise ConfigError(f"{key} = {value!r}: {why}", key=key)


def _positive_int(key: str, value: int, *, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, value, f"must be an integer >= {minimum}")


def _fraction(
    key: str, value: float, *, low: float = 0.0, high: float = 1.0, closed_high: bool = False
) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    ok = ok and low <= value and (value <= high if closed_high else value < high)
    if not ok:
        _fail(key, value, f"must be a number in [{low}, {high}{']' if closed_high else ')'}")


# --------------------------------------------------------------------------------------------------- sections


@dataclass(frozen=True)
class DataConfig:
    """Where prices come from: ``auto``, ``yahoo``, ``sample``, ``synthetic[:SEED]`` or ``csv:DIR``."""

    source: str = "auto"
    tickers: tuple[str, ...] = ("SPY", "QQQ", "^VIX")
    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if not self.tickers:
            _fail("tickers", self.tickers, "list at least SPY, QQQ and ^VIX")
        missing = [t for t in ("SPY", "QQQ", "^VIX") if t not in self.tickers]
        if missing:
            _fail("tickers", list(self.tickers), f"the features need {missing}; add them to the list")
        if self.start and self.end and self.start > self.end:
            _fail("start", self.start.isoformat(), f"is after data.end = {self.end.isoformat()}; swap them")


@dataclass(frozen=True)
class FeatureConfig:
    """Which named feature set (see :mod:`vixray.features`) feeds the model and the logistic baseline."""

    set: str = "seed"

    def __post_init__(self) -> None:
        if self.set not in FEATURE_SETS:
            _fail("set", self.set, f"unknown feature set; choose one of {sorted(FEATURE_SETS)}")


@dataclass(frozen=True)
class LabelConfig:
    """Next-``horizon``-day VIX change cut into 0 Down (< down), 1 Neutral, 2 Up (> up).

    In YAML either ``threshold: 0.01`` (symmetric, ±1%) or ``down: -0.005`` and ``up: 0.01``.
    """

    down: float = -0.01
    up: float = 0.01
    horizon: int = 1
    target: str = "^VIX"

    def __post_init__(self) -> None:
        for key, value in (("down", self.down), ("up", self.up)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                _fail(key, value, "must be a number (a fractional change, 0.01 = 1%)")
        if self.down > 0:
            _fail("down", self.down, "must be <= 0 (a fall); write a 1% fall as -0.01")
        if self.up < 0:
            _fail("up", self.up, "must be >= 0 (a rise); a negative threshold is not allowed")
        if self.down >= self.up:
            _fail("down", self.down, f"must be below labels.up = {self.up}; the thresholds are inverted")
        _positive_int("horizon", self.horizon)


@dataclass(frozen=True)
class ErasConfig:
    """The development era (what the search may see) and the holdout era (only the final evaluation sees it).

    The holdout is given by dates (``holdout: {start: 2020-01-01}``) or as the last part of the data
    (``holdout: last 20%`` -> ``holdout_fraction = 0.2``); :func:`vixray.dataset.resolve_eras` turns either into dates.
    """

    development_start: date | None = None
    development_end: date | None = None
    holdout_start: date | None = None
    holdout_end: date | None = None
    holdout_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.holdout_fraction is not None:
            _fraction("holdout", self.holdout_fraction, low=0.01, high=0.9, closed_high=True)
            if self.holdout_start is not None:
                _fail("holdout", self.holdout_start, "give the holdout as dates or as 'last N%', not both")
        elif self.holdout_start is None:
            _fail("holdout", None, "required: 'holdout: {start: YYYY-MM-DD}' or 'holdout: last 20%'")
        pairs = (
            ("development.start", self.development_start, "development.end", self.development_end),
            ("holdout.start", self.holdout_start, "holdout.end", self.holdout_end),
        )
        for k1, v1, k2, v2 in pairs:
            if v1 and v2 and v1 > v2:
                _fail(k1, v1.isoformat(), f"is after {k2} = {v2.isoformat()}; swap them")
        if self.development_end and self.holdout_start and self.development_end >= self.holdout_start:
            _fail(
                "development.end",
                self.development_end.isoformat(),
                f"must be before holdout.start = {self.holdout_start.isoformat()}: the eras may not overlap",
            )


@dataclass(frozen=True)
class SplitConfig:
    """Walk-forward folds inside an era (see :class:`vixray.split.WalkForwardSplit`)."""

    n_splits: int = 5
    train_size: int = 1000
    test_size: int = 250
    step: int | None = None
    gap: int = 1
    expanding: bool = False
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        _positive_int("n_splits", self.n_splits)
        _positive_int("train_size", self.train_size)
        _positive_int("test_size", self.test_size)
        _positive_int("gap", self.gap, minimum=0)
        if self.step is not None:
            _positive_int("step", self.step)
            if self.step < self.test_size:
                _fail(
                    "step",
                    self.step,
                    f"is below split.test_size = {self.test_size}: test blocks would overlap",
                )
        _fraction("val_fraction", self.val_fraction, high=0.9, closed_high=True)


@dataclass(frozen=True)
class ModelConfig:
    """The LSTM classifier (see :mod:`vixray.model`)."""

    seq_len: int = 5
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.2
    head: tuple[int, ...] = (32, 16)
    head_dropout: tuple[float, ...] = (0.3, 0.2)

    def __post_init__(self) -> None:
        _positive_int("seq_len", self.seq_len)
        _positive_int("hidden_size", self.hidden_size)
        _positive_int("num_layers", self.num_layers)
        _fraction("dropout", self.dropout)
        for size in self.head:
            _positive_int("head", size)
        if len(self.head_dropout) != len(self.head):
            _fail(
                "head_dropout",
                list(self.head_dropout),
                f"needs one rate per head layer (model.head = {list(self.head)})",
            )
        for rate in self.head_dropout:
            _fraction("head_dropout", rate)


@dataclass(frozen=True)
class TrainConfig:
    """How the fold-batched trainer fits each fold (see :mod:`vixray.train`)."""

    epochs: int = 50
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-5
    grad_clip: float | None = 1.0
    class_weighting: bool = True
    patience: int | None = 10
    seed: int = 0
    threads: int | None = None
    device: str = "auto"

    def __post_init__(self) -> None:
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        if not isinstance(self.lr, int | float) or not 0 < self.lr < 1:
            _fail("lr", self.lr, "must be a learning rate in (0, 1)")
        if not isinstance(self.weight_decay, int | float) or self.weight_decay < 0:
            _fail("weight_decay", self.weight_decay, "must be >= 0")
        if self.grad_clip is not None and (
            not isinstance(self.grad_clip, int | float) or self.grad_clip <= 0
        ):
            _fail("grad_clip", self.grad_clip, "must be > 0, or null to turn clipping off")
        if self.patience is not None:
            _positive_int("patience", self.patience)
        _positive_int("seed", self.seed, minimum=0)
        if self.threads is not None:
            _positive_int("threads", self.threads)
        if self.device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", self.device):
            _fail("device", self.device, "choose auto, cpu, cuda or cuda:N")


# ------------------------------------------------------------------------------------------------ experiment


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
    search: Any = None  # vixray.search_space.SearchConfig when the experiment is searchable

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name or ""):
            _fail("name", self.name, "use letters, digits, '_', '-' or '.' (it names the results folder)")
        if self.split.gap < self.labels.horizon:
            _fail(
                "split.gap",
                self.split.gap,
                f"must be >= labels.horizon = {self.labels.horizon} so no training label reaches into a test block",
            )
        if self.labels.target not in self.data.tickers:
            _fail(
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
        return {f.name: _to_plain(getattr(value, f.name)) for f in fields(value)}
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
            _fail(key, value, "is not a date; write YYYY-MM-DD")
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
            _fail(key, value, "must be a number")
    return value


def _build_section(cls: type, raw: Any, *, section: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        _fail(section, raw, "must be a mapping of key: value")
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
    if "threshold" in raw:
        t = raw.pop("threshold")
        if "up" in raw or "down" in raw:
            _fail("labels.threshold", t, "give either threshold or up/down, not both")
        if isinstance(t, bool) or not isinstance(t, int | float) or t <= 0:
            _fail(
                "labels.threshold",
                t,
                "must be a positive fraction (0.01 = ±1%); negative thresholds are not allowed",
            )
        raw["down"], raw["up"] = -float(t), float(t)
    return raw


def _eras_from_yaml(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {"holdout_fraction": 0.2}
    if not isinstance(raw, Mapping):
        _fail("eras", raw, "must be a mapping with 'development' and 'holdout'")
    unknown = sorted(set(raw) - {"development", "holdout"})
    if unknown:
        _fail(f"eras.{unknown[0]}", raw[unknown[0]], "unknown key; use 'development' and 'holdout'")
    out: dict[str, Any] = {}
    for era in ("development", "holdout"):
        spec = raw.get(era)
        if era == "holdout" and isinstance(spec, str):
            match = _HOLDOUT_LAST.fullmatch(spec.strip())
            if not match:
                _fail(
                    "eras.holdout", spec, "write 'last 20%' or a mapping {start: YYYY-MM-DD, end: YYYY-MM-DD}"
                )
            out["holdout_fraction"] = float(match.group(1)) / 100
            continue
        if spec is None:
            continue
        if not isinstance(spec, Mapping) or set(spec) - {"start", "end"}:
            _fail(f"eras.{era}", spec, "must be a mapping with 'start' and/or 'end' dates")
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
        elif name == "eras":
            eras_raw = _eras_from_yaml(section_raw)
            hints = typing.get_type_hints(ErasConfig)
            try:
                coerced = {k: _coerce(v, hints[k], f"eras.{k}") for k, v in eras_raw.items()}
                sections[name] = ErasConfig(**coerced)
            except ConfigError as err:
                raise ConfigError(
                    f"eras.{err}" if not str(err).startswith("eras") else str(err), key=err.key
                ) from None
            continue
        sections[name] = _build_section(cls, section_raw, section=name)
    search = None
    if raw.get("search") is not None:
        from vixray.search_space import search_from_dict  # optional section; keeps config importable alone

        search = search_from_dict(raw["search"])
    return ExperimentConfig(
        name=str(raw.get("name") or ""),
        description=str(raw.get("description") or ""),
        search=search,
        **sections,
    )


def load_experiment(path: str | Path, *, overrides: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """Read ``experiments/NAME.yaml`` (the one place YAML is parsed). ``name`` defaults to the file stem."""
    path = Path(path)
    if not path.is_file():
        siblings = sorted(p.stem for p in path.parent.glob("*.yaml")) if path.parent.is_dir() else []
        hint = f"; experiments there: {siblings}" if siblings else ""
        raise ConfigError(f"{path}: experiment file not found{hint}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except (yaml.YAMLError, ValueError) as err:  # ValueError: a date like 2020-13-01
        raise ConfigError(f"{path}: not valid YAML: {err}") from None
    if isinstance(raw, Mapping):
        raw = {"name": path.stem, **raw}
    config = experiment_from_dict(raw, origin=str(path))
    return config.with_overrides(overrides, origin=str(path)) if overrides else config


def dump_experiment(config: ExperimentConfig) -> str:
    """The resolved experiment as YAML text (what manifests and reports record)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
