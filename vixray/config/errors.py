"""The configuration error and the checks every config section shares.

:class:`ConfigError` carries the dotted YAML key it is about, so the loader can prefix the file name and the section
(``experiments/x.yaml: model.hidden_size = -1: must be an integer >= 1``).
"""

from __future__ import annotations

import math
from typing import Any, NoReturn


class ConfigError(ValueError):
    """A bad configuration value; ``key`` is the dotted YAML key when known."""

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


def fail(key: str, value: Any, why: str) -> NoReturn:
    """Raise the error for ``key = value``, saying why it is wrong and how to fix it."""
    raise ConfigError(f"{key} = {value!r}: {why}", key=key)


def is_int(value: Any) -> bool:
    """An integer that is not a bool (``True`` as a count is always a mistake)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool (YAML's ``.inf`` and ``.nan`` are never a setting)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_int(key: str, value: Any, *, minimum: int = 1) -> None:
    if not is_int(value) or value < minimum:
        fail(key, value, f"must be an integer >= {minimum}")


def check_fraction(
    key: str, value: Any, *, low: float = 0.0, high: float = 1.0, closed_high: bool = False
) -> None:
    ok = is_number(value) and low <= value and (value <= high if closed_high else value < high)
    if not ok:
        fail(key, value, f"must be a number in [{low}, {high}{']' if closed_high else ')'}")
