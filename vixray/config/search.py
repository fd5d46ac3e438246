"""The ``search`` section of an experiment: the space, the metric, the budget, the scheduler and the resources.

Plain frozen dataclasses with no Ray or Optuna import, so an experiment file is validated (and wrong keys are named)
before any cluster starts. :mod:`vixray.search` turns them into Optuna's define-by-run space, ASHA and Ray resources.

A space entry is ``SECTION.FIELD: {type: ..., ...}`` with type ``loguniform`` / ``uniform`` (low, high), ``int``
(low, high, optional step, optional log) or ``categorical`` (choices), and an optional condition ``when: {OTHER: [values]}``
that samples the parameter only when an earlier parameter took one of those values (Optuna's conditional spaces).
Two derived keys shape the MLP head: ``model.head_layers`` (0 = the LSTM feeds the classifier directly) and
``model.head_width`` (the first head layer; each further layer halves it), sampled only when a head is used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, NoReturn

from vixray.config.errors import fail, is_int, is_number

METRICS = {
    "val_loss": "min",  # mean validation log loss over folds (default: smooth, uses the probabilities)
    "val_accuracy": "max",  # mean validation accuracy over folds
}
DERIVED = ("model.head_layers", "model.head_width")
_TYPES = ("loguniform", "uniform", "int", "categorical")
_DEFAULT_HEAD_DROPOUT = (0.3, 0.2)


def _fail(key: str, value: Any, why: str) -> NoReturn:
    fail(f"search.{key}", value, why)


@dataclass(frozen=True)
class Param:
    """One searchable parameter."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()

    def __post_init__(self) -> None:
        key = f"space.{self.name}"
        if self.type not in _TYPES:
            _fail(f"{key}.type", self.type, f"choose one of {list(_TYPES)}")
        if self.type == "categorical":
            if not self.choices:
                _fail(f"{key}.choices", list(self.choices), "list at least one choice")
            for choice in self.choices:
                if not isinstance(choice, str | int | float | bool) and choice is not None:
                    _fail(f"{key}.choices", choice, "choices must be numbers, strings, booleans or null")
            return
        if self.low is None or self.high is None:
            _fail(key, {"low": self.low, "high": self.high}, f"a {self.type} parameter needs low and high")
        if not self.low < self.high:
            _fail(f"{key}.low", self.low, f"must be below high = {self.high}")
        if (self.type == "loguniform" or self.log) and self.low <= 0:
            _fail(f"{key}.low", self.low, "a log-scale range must be > 0")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            _fail(key, (self.low, self.high), "an int parameter needs integer low and high")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.type == "categorical":
            out["choices"] = list(self.choices)
        else:
            out.update(low=self.low, high=self.high)
            if self.step is not None:
                out["step"] = self.step
            if self.log:
                out["log"] = True
        if self.when:
            out["when"] = {k: list(v) for k, v in self.when}
        return out


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0

    def __post_init__(self) -> None:
        if not is_number(self.cpus) or self.cpus <= 0:
            _fail("resources.cpus", self.cpus, "must be > 0 (fractions allowed)")
        if not is_number(self.gpus) or self.gpus < 0:
            _fail("resources.gpus", self.gpus, "must be >= 0 (fractions such as 0.25 share a GPU)")


@dataclass(frozen=True)
class Scheduler:
    """ASHA: epochs are Ray's ``training_iteration``; trials below the rung's quantile stop early."""

    max_epochs: int = 20
    grace_period: int = 3
    reduction_factor: float = 3.0

    def __post_init__(self) -> None:
        if not is_int(self.max_epochs) or self.max_epochs < 1:
            _fail("scheduler.max_epochs", self.max_epochs, "must be an integer >= 1")
        if not is_int(self.grace_period) or not 1 <= self.grace_period <= self.max_epochs:
            _fail(
                "scheduler.grace_period",
                self.grace_period,
                f"must be an integer in [1, max_epochs={self.max_epochs}]",
            )
        if not is_number(self.reduction_factor) or self.reduction_factor <= 1:
            _fail("scheduler.reduction_factor", self.reduction_factor, "must be > 1 (3 keeps the best third)")


@dataclass(frozen=True)
class SearchConfig:
    metric: str = "val_loss"
    num_samples: int = 8
    max_concurrent: int = 2
    seed: int = 0
    resources: Resources = field(default_factory=Resources)
    scheduler: Scheduler = field(default_factory=Scheduler)
    space: tuple[Param, ...] = ()
    # where Ray's experiment state goes (trial checkpoints, searcher state): a shared path or an object-store URI
    # for a cluster whose nodes share no disk; None keeps it in the run folder (one machine)
    storage: str | None = None
    # restarts of a trial whose node died, from its last checkpoint (Ray's FailureConfig)
    max_failures: int = 2

    def __post_init__(self) -> None:
        if self.storage is not None:
            check_storage(self.storage, key="search.storage")
        if not is_int(self.max_failures) or self.max_failures < 0:
            _fail(
                "max_failures",
                self.max_failures,
                "must be an integer >= 0 (0: a trial on a lost node errors)",
            )
        if self.metric not in METRICS:
            _fail("metric", self.metric, f"choose one of {sorted(METRICS)}")
        for key in ("num_samples", "max_concurrent"):
            value = getattr(self, key)
            if not is_int(value) or value < 1:
                _fail(key, value, "must be an integer >= 1")
        if not is_int(self.seed) or self.seed < 0:
            _fail("seed", self.seed, "must be an integer >= 0")
        if not self.space:
            _fail("space", {}, "list at least one parameter to search")
        seen: list[str] = []
        for param in self.space:
            if "." not in param.name:
                _fail(f"space.{param.name}", None, "name parameters SECTION.FIELD, e.g. model.hidden_size")
            if param.name.startswith("labels."):
                _fail(
                    f"space.{param.name}",
                    None,
                    "the label threshold is fixed per experiment; set it in 'labels'",
                )
            for other, _ in param.when:
                if other not in seen:
                    _fail(f"space.{param.name}.when", other, "must name a parameter listed before this one")
            seen.append(param.name)
        if "model.head_width" in seen and "model.head_layers" not in seen:
            _fail("space.model.head_width", None, "needs model.head_layers in the space as well")

    @property
    def mode(self) -> str:
        return METRICS[self.metric]

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "mode": self.mode,
            "num_samples": self.num_samples,
            "max_concurrent": self.max_concurrent,
            "seed": self.seed,
            "resources": {"cpus": self.resources.cpus, "gpus": self.resources.gpus},
            "scheduler": {f.name: getattr(self.scheduler, f.name) for f in fields(self.scheduler)},
            "space": {p.name: p.to_dict() for p in self.space},
            "storage": self.storage,
            "max_failures": self.max_failures,
        }


def _param_from_dict(name: str, raw: Any) -> Param:
    if not isinstance(raw, Mapping):
        _fail(f"space.{name}", raw, "must be a mapping such as {type: loguniform, low: 1e-4, high: 1e-2}")
    allowed = {"type", "low", "high", "step", "log", "choices", "when"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        _fail(f"space.{name}.{unknown[0]}", raw[unknown[0]], f"unknown key; use {sorted(allowed)}")
    when = raw.get("when") or {}
    if not isinstance(when, Mapping):
        _fail(
            f"space.{name}.when",
            when,
            "must map an earlier parameter to the list of values that enable this one",
        )
    numbers = {}
    for key in ("low", "high", "step"):
        value = raw.get(key)
        if isinstance(value, str):
            try:
                value = float(value)  # YAML 1.1 reads 1e-4 as a string
            except ValueError:
                _fail(f"space.{name}.{key}", value, "must be a number")
        numbers[key] = value
    return Param(
        name=name,
        type=str(raw.get("type", "")),
        low=numbers["low"],
        high=numbers["high"],
        step=numbers["step"],
        log=bool(raw.get("log", False)),
        choices=tuple(raw.get("choices") or ()),
        when=tuple((k, tuple(v if isinstance(v, list | tuple) else [v])) for k, v in when.items()),
    )


def search_from_dict(raw: Any) -> SearchConfig:
    """Validate the YAML ``search`` section."""
    if not isinstance(raw, Mapping):
        _fail("", raw, "the search section must be a mapping")
    allowed = {f.name for f in fields(SearchConfig)} | {"mode"}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        _fail(unknown[0], raw[unknown[0]], f"unknown key; valid keys are {sorted(allowed)}")
    metric = raw.get("metric", "val_loss")
    if "mode" in raw and raw["mode"] != METRICS.get(metric, raw["mode"]):
        _fail("mode", raw["mode"], f"{metric} is optimised with mode {METRICS[metric]!r}")
    space_raw = raw.get("space") or {}
    if not isinstance(space_raw, Mapping):
        _fail("space", space_raw, "must map SECTION.FIELD to a parameter spec")

    def section(cls: type, key: str) -> Any:
        value = raw.get(key) or {}
        if not isinstance(value, Mapping):
            _fail(key, value, "must be a mapping")
        names = {f.name for f in fields(cls)}
        bad = sorted(set(value) - names)
        if bad:
            _fail(f"{key}.{bad[0]}", value[bad[0]], f"unknown key; valid keys are {sorted(names)}")
        return cls(**value)

    return SearchConfig(
        metric=metric,
        num_samples=raw.get("num_samples", 8),
        max_concurrent=raw.get("max_concurrent", 2),
        seed=raw.get("seed", 0),
        resources=section(Resources, "resources"),
        scheduler=section(Scheduler, "scheduler"),
        space=tuple(_param_from_dict(str(k), v) for k, v in space_raw.items()),
        storage=raw.get("storage"),
        max_failures=raw.get("max_failures", 2),
    )


STORAGE_SCHEMES = ("file", "s3", "gs", "gcs", "hdfs", "abfs", "abfss")


def check_storage(uri: Any, *, key: str) -> str:
    """A storage location: an absolute path or a URI of a scheme pyarrow's filesystems read (``s3://bucket/prefix``,
    ``gs://...``, ``file:///mnt/nfs/...``, with query options such as ``?endpoint_override=host:port&scheme=http``)."""
    text = str(uri) if isinstance(uri, str) else None
    if text is None or not text.strip():
        fail(key, uri, "give a shared folder's absolute path or a URI such as s3://bucket/prefix")
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        if scheme not in STORAGE_SCHEMES:
            fail(
                key, uri, f"unknown scheme {scheme!r}; use one of {list(STORAGE_SCHEMES)} or an absolute path"
            )
        return text
    if not text.startswith("/"):
        fail(key, uri, "a storage path must be absolute (every node must find the same place)")
    return text


def is_active(param: Param, values: Mapping[str, Any]) -> bool:
    """Whether a conditional parameter is sampled, given the values sampled before it."""
    return all(name in values and values[name] in allowed for name, allowed in param.when)


def trial_overrides(params: Mapping[str, Any], *, epochs: int | None = None) -> dict[str, Any]:
    """Sampled parameters -> flat overrides for :meth:`ExperimentConfig.with_overrides` (derived keys expanded)."""
    out = {k: v for k, v in params.items() if k not in DERIVED}
    if "model.head_layers" in params:
        layers = int(params["model.head_layers"])
        width = int(params.get("model.head_width", 32))
        out["model.head"] = [max(1, width // 2**i) for i in range(layers)]
        out["model.head_dropout"] = [
            _DEFAULT_HEAD_DROPOUT[i] if i < len(_DEFAULT_HEAD_DROPOUT) else 0.2 for i in range(layers)
        ]
    if epochs is not None:
        out["train.epochs"] = epochs
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in out.items()}
