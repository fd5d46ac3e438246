"""``report.html``: the holdout report as one self-contained page (plotly.js inline, so it opens offline).

Its figures are :mod:`vixray.figures`' own, the ones the results explorer's evaluation page draws.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from vixray import figures
from vixray.backtest import BUY_AND_HOLD, describe, summary_rows, sweep_rows
from vixray.crossval import METRIC_KEYS
from vixray.labels import stored_classes
from vixray.prose import comparison_text, coverage_text, interval_text


def report_figures(
    report: Mapping[str, Any], predictions: pl.DataFrame, curves: pl.DataFrame | None = None
) -> list[tuple[str, Any]]:
    """The page's figures, by id: accuracy by block, the pooled confusion matrices of the model and the strongest
    baseline, the predictions over the VIX, the rolling accuracy and, with a backtest, the equity and drawdown curves
    of the model, the strongest baseline and buy-and-hold (the explorer's evaluation page draws these)."""
    strongest = report["strongest_baseline"]
    pooled = report["pooled"]
    classes = stored_classes(report)
    baseline = strongest if f"pred_{strongest}" in predictions.columns else None
    return [
        ("by-block", figures.block_accuracy(report["blocks"], classes=classes)),
        (
            "confusion",
            figures.confusion_heatmap(
                pooled["model"]["confusion"], classes=classes, title="Model (best config), pooled"
            ),
        ),
        (
            "confusion-baseline",
            figures.confusion_heatmap(
                pooled["baselines"][strongest]["confusion"],
                classes=classes,
                title=f"Strongest baseline ({strongest}), pooled",
            ),
        ),
        ("timeline", figures.prediction_timeline(predictions, classes=classes)),
        (
            "rolling",
            figures.rolling_accuracy(
                predictions, window=figures.ROLLING_DAYS, baseline=baseline, classes=classes
            ),
        ),
        *(
            [
                ("equity", figures.equity_curve(curves, names=backtest_names(strongest))),
                ("drawdown", figures.drawdown_curve(curves, names=backtest_names(strongest))),
            ]
            if curves is not None
            else []
        ),
    ]


def backtest_names(strongest: str) -> tuple[str, ...]:
    """The forecasters the backtest figures draw."""
    return ("model", strongest, BUY_AND_HOLD)


def _backtest_section(report: Mapping[str, Any]) -> str:
    block = report.get("backtest")
    if not block:
        return ""
    strongest = report["strongest_baseline"]
    rows = summary_rows(block, strongest=strongest)
    sweep = sweep_rows(block, strongest=strongest)
    return (
        f"<h2>Backtest</h2><p>{html.escape(describe(block))}</p>"
        + _table(list(rows[0]), [list(r.values()) for r in rows])
        + "<h3>Cost sweep</h3>"
        + _table(list(sweep[0]), [list(r.values()) for r in sweep])
    )


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return html.escape("-" if value is None else str(value))

    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    report: Mapping[str, Any], predictions: pl.DataFrame, curves: pl.DataFrame | None = None
) -> str:
    """A self-contained page (plotly.js inline, so it opens offline): verdict, tables and the figures."""
    pooled = report["pooled"]
    strongest = report["strongest_baseline"]
    metric_rows = [["model (best config)", *(pooled["model"][k] for k in METRIC_KEYS)]]
    metric_rows += [
        [name + (" (strongest)" if name == strongest else ""), *(m[k] for k in METRIC_KEYS)]
        for name, m in pooled["baselines"].items()
    ]
    sig = report["significance"]
    spa = report["spa"]
    headline = comparison_text(
        sig["vs_strongest"], a="best config", b=f"the strongest baseline ({strongest})"
    )
    versus_majority = [
        [name, c["accuracy_a"], interval_text(c["accuracy_difference"]), c["mcnemar"]["p_value"]]
        for name, c in (sig.get("baselines_vs_majority") or {}).items()
    ]
    tests = [
        [f"binomial vs chance ({sig['binomial_vs_chance']['p0']:.1%})", sig["binomial_vs_chance"]["p_value"]],
        ["binomial vs majority rate", (sig.get("binomial_vs_majority") or {}).get("p_value")],
        *[
            [f"McNemar vs {name}" + (" (strongest)" if v.get("strongest") else ""), v["p_value"]]
            for name, v in sig["mcnemar"].items()
        ],
        ["Pesaran-Timmermann Up", sig["pesaran_timmermann"]["up"]["p_value"]],
        ["Pesaran-Timmermann Down", sig["pesaran_timmermann"]["down"]["p_value"]],
        [
            f"studentized SPA (0/1 loss, {spa['n_models']} configs vs {spa['benchmark']}), consistent",
            spa["p_values"]["consistent"],
        ],
    ]
    ci = sig["bootstrap_ci"]
    config_rows = [
        [
            c["rank"],
            c["trial_id"],
            c["ensemble"]["accuracy"],
            c["mean"]["accuracy"],
            c["sd"]["accuracy"],
            c["ensemble"]["log_loss"],
            ", ".join(f"{k}={v}" for k, v in c["params"].items()),
        ]
        for c in report["configs"]
    ]
    drawn = [
        fig.to_html(full_html=False, include_plotlyjs=(i == 0), div_id=f"fig-{name}", default_width="100%")
        for i, (name, fig) in enumerate(report_figures(report, predictions, curves))
    ]
    h = report["holdout"]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>vixray holdout evaluation {html.escape(str(report["experiment"]))}/{html.escape(str(report["run_id"]))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; }}
th, td {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }}
th {{ background: #f3f3f3; }}
.verdict {{ font-size: 1.2em; padding: 0.8em; background: #f6f8fa; border-left: 4px solid #555; }}
</style></head><body>
<h1>Holdout evaluation: {html.escape(str(report["experiment"]))} / {html.escape(str(report["run_id"]))}</h1>
<p class="verdict">{html.escape(report["verdict"])}</p>
<p class="headline">{html.escape(headline)}. The strongest baseline was chosen on
{html.escape(str(report.get("strongest_baseline_chosen_on", "the development era")))}, never by its holdout score.</p>
<p>Holdout era {h["start"]}..{h["end"]} ({h["n_rows"]} labelled days); {html.escape(coverage_text(h))}. Data: {html.escape(str(report["data"]["source"]))},
fingerprint {html.escape(str(report["data"]["fingerprint"])[:16])}{" (differs from the searched data)" if report["data"]["changed"] else ""}.
Evaluation {html.escape(str(report["eval_id"]))}, created {html.escape(str(report["created"]))}.</p>
<h2>Pooled over the holdout blocks</h2>
{_table(["forecaster", *METRIC_KEYS], metric_rows)}
<h2>Each baseline against the majority class</h2>
{_table(["baseline", "accuracy", "difference [95% interval]", "McNemar p"], versus_majority)}
<h2>Significance</h2>
{_table(["test", "p-value"], tests)}
<p>Accuracy {ci["mean"]:.3f}, stationary block-bootstrap {ci["level"]:.0%} interval [{ci["low"]:.3f}, {ci["high"]:.3f}].</p>
<h2>Configurations (seed ensembles; mean and sd over seeds)</h2>
{_table(["rank", "trial", "ensemble accuracy", "mean accuracy", "sd accuracy", "ensemble log loss", "params"], config_rows)}
{_backtest_section(report)}
{"".join(drawn)}
</body></html>
"""
