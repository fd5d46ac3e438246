"""Time to build each feature set (and the `full` modelling table with labels) on the full history; prints measured
figures. The calendar block joins the NYSE calendar, built once per process (the first call pays for it)."""

from __future__ import annotations

import argparse
import sys

from _common import best_of, default_source

from vixray.config import LabelConfig
from vixray.data import load_prices
from vixray.dataset import build_dataset
from vixray.features import build_features


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=default_source())
    args = parser.parse_args(argv)
    tickers = ("SPY", "QQQ", "^VIX")
    prices = load_prices(args.data, tickers=tickers)
    frame = prices.frame
    print(
        f"data: {prices.source}: {frame['date'][0]} .. {frame['date'][-1]}, {frame.height} common rows of {tickers}"
    )
    for set_name in ("seed", "extended", "calendar", "full"):
        best, median = best_of(lambda s=set_name: build_features(frame, s, tickers=tickers))
        print(f"features only, {set_name:<8}: best {best * 1e3:7.2f} ms, median {median * 1e3:7.2f} ms")
    best, median = best_of(
        lambda: build_dataset(frame, tickers=tickers, feature_set="full", labels=LabelConfig())
    )
    print(
        f"full set (no term block without the optional indexes) + labels + HAR terms (modelling table): best {best * 1e3:.2f} ms, median {median * 1e3:.2f} ms"
        f" (goal < 200 ms)"
    )
    spy_vix = load_prices(args.data, tickers=("SPY", "^VIX"))
    print(
        f"for scale: SPY+VIX alone span {spy_vix.frame['date'][0]} .. {spy_vix.frame['date'][-1]} "
        f"({spy_vix.frame.height} rows); QQQ starts 1999-03-10, so the three-ticker table starts there"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
