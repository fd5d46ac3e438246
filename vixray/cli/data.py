"""``vixray data`` and ``vixray features``: what the data holds, and the feature table exported."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from vixray.cli.common import EXIT_OK, add_data_args, log, parse_date


def cmd_data(args: argparse.Namespace) -> int:
    from vixray.config import LabelConfig
    from vixray.data import OPTIONAL_TICKERS, load_prices
    from vixray.dataset import build_dataset, usable_range
    from vixray.features import FEATURE_SETS
    from vixray.labels import DIRECTION

    prices = load_prices(args.data, tickers=args.tickers, start=args.start, end=args.end)
    desc = prices.describe()
    print(f"source: {desc['source']}")
    for note in desc.get("notes", []):
        print(f"note:   {note}")
    print(f"\n{'ticker':<8} {'first':<11} {'last':<11} {'rows':>6}")
    for ticker, cov in desc["coverage"].items():
        print(f"{ticker:<8} {cov['first']:<11} {cov['last']:<11} {cov['rows']:>6}")
    print(f"\ncommon range: {desc['start']} to {desc['end']} ({desc['rows']} rows)")
    print(f"fingerprint:  {desc['fingerprint'][:16]}")

    framings = {
        f"threshold ±{args.threshold:.2%}": LabelConfig(down=-args.threshold, up=args.threshold),
        "direction (Up if higher)": LabelConfig(kind=DIRECTION, down=0.0, up=0.0),
    }
    print("\nnext-day VIX labels (seed set rows):")
    for title, labels in framings.items():
        dataset = build_dataset(prices.frame, tickers=prices.tickers, feature_set="seed", labels=labels)
        counts = dict(dataset.frame["label"].value_counts().iter_rows())
        total = dataset.frame.height
        mix = ", ".join(f"{name} {counts.get(k, 0) / total:.1%}" for k, name in enumerate(dataset.classes))
        print(f"  {title:<26} {total} labelled rows: {mix}")

    print(f"\n{'feature set':<12} {'features':>8}  {'first':<11} {'last':<11} {'rows':>6}")
    for name in FEATURE_SETS:
        r = usable_range(
            prices.frame,
            tickers=prices.tickers,
            feature_set=name,
            labels=framings["direction (Up if higher)"],
        )
        print(f"{name:<12} {r['features']:>8}  {str(r['first']):<11} {str(r['last']):<11} {r['rows']:>6}")
    absent = [t for t in OPTIONAL_TICKERS if t not in prices.tickers]
    if absent:
        print(f"(the term block reads {absent}: add them to --tickers where the source has them)")
    return EXIT_OK


def cmd_features(args: argparse.Namespace) -> int:
    import polars as pl

    from vixray.config import LabelConfig
    from vixray.data import DEFAULT_TICKERS, load_prices
    from vixray.dataset import build_dataset
    from vixray.features import optional_tickers, spec_parts
    from vixray.store import write_atomic

    out = Path(args.out)
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise ValueError(f"--out {args.out}: the file must end in .parquet or .csv")
    spec_parts(args.set)  # an unknown set is an error before any data is read
    labels = LabelConfig(down=-args.threshold, up=args.threshold, target=args.target)
    wanted = [*DEFAULT_TICKERS, *optional_tickers(args.set), args.target]
    tickers = args.tickers or list(dict.fromkeys(wanted))
    prices = load_prices(args.data, tickers=tickers)
    dataset = build_dataset(prices.frame, tickers=prices.tickers, feature_set=args.set, labels=labels)
    frame = dataset.frame.select("date", *dataset.feature_names, "label")
    if args.start:
        frame = frame.filter(pl.col("date") >= args.start)
    if args.end:
        frame = frame.filter(pl.col("date") <= args.end)
    if frame.is_empty():
        raise ValueError(
            f"no labelled rows between --start {args.start} and --end {args.end}; widen the range"
        )
    write_atomic(out, frame.write_csv if out.suffix.lower() == ".csv" else frame.write_parquet)
    log.info(
        "wrote %d rows x %d features (%s set, tickers %s, %s..%s) to %s",
        frame.height,
        len(dataset.feature_names),
        args.set,
        " ".join(prices.tickers),
        frame["date"][0],
        frame["date"][-1],
        out,
    )
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "data", help="show per-ticker coverage, each feature set's usable range and the label class mixes"
    )
    add_data_args(p)
    p.add_argument(
        "--tickers",
        nargs="+",
        default=["SPY", "QQQ", "^VIX"],
        help="tickers to load (add ^VIX3M ^VIX9D ^VXN for the term block)",
    )
    p.add_argument("--start", type=parse_date)
    p.add_argument("--end", type=parse_date)
    p.add_argument("--threshold", type=float, default=0.01, help="label threshold (default 0.01 = ±1%%)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("features", help="export the feature matrix with labels to Parquet or CSV")
    add_data_args(p)
    p.add_argument(
        "--set",
        default="seed",
        help="feature set or blocks joined by +: seed | extended | calendar | full | seed+calendar+term ... "
        "(default seed)",
    )
    p.add_argument(
        "--tickers",
        nargs="+",
        default=None,
        help="tickers to load (default SPY QQQ ^VIX and the optional indexes the set reads)",
    )
    p.add_argument("--start", type=parse_date)
    p.add_argument("--end", type=parse_date)
    p.add_argument("--threshold", type=float, default=0.01)
    p.add_argument("--target", default="^VIX", help="the index the label (and the target block) follows")
    p.add_argument("--out", required=True, help="output file, .parquet or .csv")
    p.set_defaults(func=cmd_features)
