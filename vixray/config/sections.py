"""The sections of an experiment: frozen dataclasses, each validated on construction.

Each error names the field within its section (``hidden_size = -1: ...``); :mod:`vixray.config.experiment` adds the
section and the file when it builds them from YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from vixray.config.errors import check_fraction, check_int, fail, is_number
from vixray.data.layout import DEFAULT_TICKERS
from vixray.data.validate import ON_OUTLIER
from vixray.features import spec_parts
from vixray.labels import DIRECTION, KINDS, THRESHOLD, class_names
from vixray.split import ALL as ALL_FOLDS


@dataclass(frozen=True)
class DataConfig:
    """Where prices come from: ``auto``, ``yahoo``, ``sample``, ``synthetic[:SEED]`` or ``csv:DIR``; ``on_outlier``
    says what a likely bad print does (:func:`vixray.data.validate.outliers`): ``warn`` (a note in the manifest and
    the log) or ``error`` (refuse the data)."""

    source: str = "auto"
    tickers: tuple[str, ...] = DEFAULT_TICKERS
    start: date | None = None
    end: date | None = None
    on_outlier: str = "warn"

    def __post_init__(self) -> None:
        if self.on_outlier not in ON_OUTLIER:
            fail("on_outlier", self.on_outlier, f"choose one of {list(ON_OUTLIER)}")
        if not self.tickers:
            fail("tickers", self.tickers, f"list at least {list(DEFAULT_TICKERS)}")
        missing = [t for t in DEFAULT_TICKERS if t not in self.tickers]
        if missing:
            fail("tickers", list(self.tickers), f"the features need {missing}; add them to the list")
        if self.start and self.end and self.start > self.end:
            fail("start", self.start.isoformat(), f"is after data.end = {self.end.isoformat()}; swap them")


@dataclass(frozen=True)
class FeatureConfig:
    """Which features (:mod:`vixray.features`) feed the model, the logistic and the boosting baselines: a set or
    block name, or several joined by ``+`` (``seed+calendar+term``). In YAML ``set: full`` or
    ``blocks: [seed, calendar, term]`` (stored as the joined spec)."""

    set: str = "seed"

    @property
    def blocks(self) -> tuple[str, ...]:
        return spec_parts(self.set)

    def __post_init__(self) -> None:
        try:
            spec_parts(self.set)
        except ValueError as err:
            fail("set", self.set, str(err).split(": ", 1)[1])


MAX_THRESHOLD = 0.5  # a label threshold beyond a 50% daily VIX move leaves Neutral almost every day


@dataclass(frozen=True)
class LabelConfig:
    """The next-``horizon``-day VIX change as classes (:mod:`vixray.labels`): ``kind: threshold`` cuts it into
    0 Down (< down), 1 Neutral, 2 Up (> up); ``kind: direction`` is 0 Down, 1 Up by its sign.

    In YAML either ``threshold: 0.01`` (symmetric, ±1%) or ``down: -0.005`` and ``up: 0.01``; a direction label has
    neither (both are stored as 0).
    """

    down: float = -0.01
    up: float = 0.01
    horizon: int = 1
    target: str = "^VIX"
    kind: str = THRESHOLD

    @property
    def classes(self) -> tuple[str, ...]:
        return class_names(self.kind)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            fail("kind", self.kind, f"choose one of {list(KINDS)} (three classes at ±threshold, or Up/Down)")
        for key, value in (("down", self.down), ("up", self.up)):
            if not is_number(value) or value != value:
                fail(key, value, "must be a number (a fractional change, 0.01 = 1%)")
        check_int("horizon", self.horizon)
        if self.kind == DIRECTION:
            if self.down != 0 or self.up != 0:
                fail(
                    "up" if self.up else "down",
                    self.up or self.down,
                    "a direction label has no threshold (Up if the next close is higher, else Down); remove it, "
                    "or use kind: threshold",
                )
            return
        if self.down > 0:
            fail("down", self.down, "must be <= 0 (a fall); write a 1% fall as -0.01")
        if self.up < 0:
            fail("up", self.up, "must be >= 0 (a rise); a negative threshold is not allowed")
        for key, value in (("down", self.down), ("up", self.up)):
            if abs(value) > MAX_THRESHOLD:
                fail(
                    key,
                    value,
                    f"is a {abs(value):.0%} daily move: thresholds are fractions up to {MAX_THRESHOLD} "
                    "(0.01 = 1%); did you mean a percentage?",
                )
        if self.down >= self.up:
            fail("down", self.down, f"must be below labels.up = {self.up}; the thresholds are inverted")


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
            check_fraction("holdout", self.holdout_fraction, low=0.01, high=0.9, closed_high=True)
            if self.holdout_start is not None:
                fail("holdout", self.holdout_start, "give the holdout as dates or as 'last N%', not both")
            if self.development_end is not None:
                fail(
                    "development.end",
                    self.development_end.isoformat(),
                    "cannot be combined with 'holdout: last N%' (the development era ends where the last N% "
                    "start); give the holdout as dates ({start: YYYY-MM-DD}) or drop development.end",
                )
        elif self.holdout_start is None:
            fail("holdout", None, "required: 'holdout: {start: YYYY-MM-DD}' or 'holdout: last 20%'")
        pairs = (
            ("development.start", self.development_start, "development.end", self.development_end),
            ("holdout.start", self.holdout_start, "holdout.end", self.holdout_end),
        )
        for k1, v1, k2, v2 in pairs:
            if v1 and v2 and v1 > v2:
                fail(k1, v1.isoformat(), f"is after {k2} = {v2.isoformat()}; swap them")
        if self.development_end and self.holdout_start and self.development_end >= self.holdout_start:
            fail(
                "development.end",
                self.development_end.isoformat(),
                f"must be before holdout.start = {self.holdout_start.isoformat()}: the eras may not overlap",
            )


@dataclass(frozen=True)
class SplitConfig:
    """Walk-forward folds inside an era (see :class:`vixray.split.WalkForwardSplit`); ``n_splits: all`` tiles the era
    with as many test blocks as fit."""

    n_splits: int | str = 5
    train_size: int = 1000
    test_size: int = 250
    step: int | None = None
    gap: int = 1
    expanding: bool = False
    val_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.n_splits != ALL_FOLDS:
            if isinstance(self.n_splits, str):
                fail(
                    "n_splits",
                    self.n_splits,
                    f"must be an integer >= 1, or {ALL_FOLDS!r} for every fold that fits",
                )
            check_int("n_splits", self.n_splits)
        check_int("train_size", self.train_size)
        check_int("test_size", self.test_size)
        check_int("gap", self.gap, minimum=0)
        if self.step is not None:
            check_int("step", self.step)
            if self.step < self.test_size:
                fail(
                    "step",
                    self.step,
                    f"is below split.test_size = {self.test_size}: test blocks would overlap",
                )
        check_fraction("val_fraction", self.val_fraction, high=0.9, closed_high=True)


# the network families (vixray.models holds one module per family, registered under these names)
MODEL_KINDS = ("lstm", "gru", "transformer")


@dataclass(frozen=True)
class ModelConfig:
    """The network (see :mod:`vixray.models`): ``kind`` picks the family; ``hidden_size`` is the recurrent width, or
    the Transformer's model width, ``num_layers`` its layers; ``heads`` and ``ff_size`` (default 4 x hidden_size)
    are the Transformer's attention heads and feed-forward width."""

    seq_len: int = 5
    hidden_size: int = 64
    num_layers: int = 2
    dropout: float = 0.2
    head: tuple[int, ...] = (32, 16)
    head_dropout: tuple[float, ...] = (0.3, 0.2)
    kind: str = "lstm"
    heads: int = 4
    ff_size: int | None = None

    @property
    def feed_forward(self) -> int:
        return self.ff_size if self.ff_size is not None else 4 * self.hidden_size

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            fail("kind", self.kind, f"choose one of {list(MODEL_KINDS)}")
        check_int("seq_len", self.seq_len)
        check_int("hidden_size", self.hidden_size)
        check_int("num_layers", self.num_layers)
        check_fraction("dropout", self.dropout)
        check_int("heads", self.heads)
        if self.ff_size is not None:
            check_int("ff_size", self.ff_size)
        if self.kind == "transformer" and self.hidden_size % self.heads:
            fail(
                "heads",
                self.heads,
                f"must divide model.hidden_size = {self.hidden_size} (each head reads hidden_size / heads "
                "dimensions); pick a divisor",
            )
        for size in self.head:
            check_int("head", size)
        if len(self.head_dropout) != len(self.head):
            fail(
                "head_dropout",
                list(self.head_dropout),
                f"needs one rate per head layer (model.head = {list(self.head)})",
            )
        for rate in self.head_dropout:
            check_fraction("head_dropout", rate)


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
    # refit each fold on its whole training block (validation tail included) for its early-stopped epochs, as every
    # baseline fits on the whole block; `vixray cv` honours it, a search trial never (ASHA ranks the first pass)
    refit: bool = False

    def __post_init__(self) -> None:
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        if not is_number(self.lr) or not 0 < self.lr < 1:
            fail("lr", self.lr, "must be a learning rate in (0, 1)")
        if not is_number(self.weight_decay) or self.weight_decay < 0:
            fail(
                "weight_decay", self.weight_decay, "must be a finite number >= 0 (1e-5 is a usual L2 penalty)"
            )
        if self.grad_clip is not None and (not is_number(self.grad_clip) or self.grad_clip <= 0):
            fail("grad_clip", self.grad_clip, "must be > 0, or null to turn clipping off")
        if self.patience is not None:
            check_int("patience", self.patience)
        check_int("seed", self.seed, minimum=0)
        if self.threads is not None:
            check_int("threads", self.threads)
        if self.device not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", self.device):
            fail("device", self.device, "choose auto, cpu, cuda or cuda:N")
        if not isinstance(self.refit, bool):
            fail("refit", self.refit, "must be true or false")


# the trading rules of a backtest (vixray.backtest): SPY timing on an Up call (step to cash, or go short), and the
# VIX-direction proxy, which trades the VIX index itself and is labelled as a proxy (the index is not tradable)
BACKTEST_RULES = ("cash", "short", "vix_proxy")


@dataclass(frozen=True)
class BacktestConfig:
    """How holdout forecasts become positions (see :mod:`vixray.backtest`): the ``rule``, the cost in basis points
    per unit of turnover (``cost_bps``) and the annual cash rate earned on the value not held long (``cash_rate``)."""

    rule: str = "cash"
    cost_bps: float = 1.0
    cash_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.rule not in BACKTEST_RULES:
            fail("rule", self.rule, f"choose one of {list(BACKTEST_RULES)}")
        if not is_number(self.cost_bps) or not 0 <= self.cost_bps < 10_000:
            fail(
                "cost_bps",
                self.cost_bps,
                "must be a cost in basis points per unit of turnover, >= 0 (1 = 0.01%)",
            )
        if not is_number(self.cash_rate) or not -0.1 < self.cash_rate < 1:
            fail("cash_rate", self.cash_rate, "must be an annual rate as a fraction (0.02 = 2% a year)")
