"""The console tables of ``vixray cv``, ``vixray tune`` and the holdout evaluation: plain text from their reports.

Kept apart from the commands so the library's reports stay data (JSON-able dicts) and every table reads the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vixray import store
from vixray.backtest import describe, summary_rows, sweep_rows
from vixray.labels import stored_classes
from vixray.prose import comparison_text, coverage_text, interval_text, pvalue_text, search_spa_sentence

if TYPE_CHECKING:  # the search summary's type; importing it for real would import Ray
    from vixray.search import SearchSummary


def _fmt(value: object, width: int = 7) -> str:
    if value is None:
        return f"{'-':>{width}}"
    if isinstance(value, float):
        return f"{value:>{width}.3f}"
    return f"{value!s:>{width}}"


def _test_lines(tests: dict[str, Any], *, model: str) -> list[str]:
    """The pooled tests of :func:`vixray.crossval.significance`, headline first, as cv and the holdout print them."""
    lines = [
        comparison_text(tests["vs_strongest"], a=model, b=f"the strongest baseline ({tests['strongest']})")
    ]
    against = tests.get("baselines_vs_majority") or {}
    if against:
        lines.append("each baseline vs majority (accuracy difference [95% interval], McNemar p):")
        for name, c in against.items():
            lines.append(
                f"  {name:<12}{c['accuracy_a']:>7.3f}  {interval_text(c['accuracy_difference'])}  "
                f"p = {pvalue_text(c['mcnemar']['p_value'])}"
            )
    pt, ci = tests["pesaran_timmermann"], tests["bootstrap_ci"]
    lines += [
        "McNemar vs "
        + ", ".join(f"{n}: p = {pvalue_text(v['p_value'])}" for n, v in tests["mcnemar"].items()),
        f"Pesaran-Timmermann: Up vs not Up p = {pvalue_text(pt['up']['p_value'])}, "
        f"Down vs not Down p = {pvalue_text(pt['down']['p_value'])}",
        f"{model} accuracy {ci['mean']:.3f}, stationary block-bootstrap {ci['level']:.0%} interval "
        f"[{ci['low']:.3f}, {ci['high']:.3f}]",
    ]
    return lines


def format_cv(report: dict[str, Any]) -> str:
    """The console table of ``vixray cv``: the model against the strongest baseline first, then accuracy per fold
    and pooled beside every baseline, and the tests."""
    names = list(report["pooled"]["baselines"])
    pooled = report["pooled"]
    folds = report["folds"]
    lines = [
        f"development-era test blocks of experiment {report['experiment']} (the strongest baseline is chosen on "
        "these folds)",
        comparison_text(
            pooled["tests"]["vs_strongest"], a="model", b=f"strongest ({pooled['tests']['strongest']})"
        ),
        f"{len(folds)} fold(s) test {pooled['n_test']} days, {folds[0]['test_start']}..{folds[-1]['test_end']}",
        "",
        f"{'fold':<6}{'test period':<25}{'n':>6}{'model':>8}" + "".join(f"{n[:11]:>12}" for n in names),
    ]
    for fold in report["folds"]:
        period = f"{fold['test_start']}..{fold['test_end']}"
        cells = "".join(f"{_fmt(fold['baselines'][n]['accuracy'], 12)}" for n in names)
        lines.append(
            f"{fold['fold']:<6}{period:<25}{fold['n_test']:>6}{_fmt(fold['model']['accuracy'], 8)}{cells}"
        )
    cells = "".join(f"{_fmt(pooled['baselines'][n]['accuracy'], 12)}" for n in names)
    lines.append(f"{'pooled':<31}{pooled['n_test']:>6}{_fmt(pooled['model']['accuracy'], 8)}{cells}")
    m = pooled["model"]
    lines.append(
        f"model: balanced accuracy {m['balanced_accuracy']:.3f}, macro-F1 {m['macro_f1']:.3f}, "
        f"log loss {_fmt(m.get('log_loss'), 0).strip()}"
    )
    lines += _test_lines(pooled["tests"], model="model")[1:]
    lines.append(
        f"trained {report['timing']['epochs_run']} epochs in {report['timing']['train_seconds']:.1f} s on {report['timing']['device']}"
    )
    return "\n".join(lines)


def next_step(summary: SearchSummary) -> str:
    """What to do after a search, by how it ended."""
    run = summary.run
    resume = f"vixray tune --resume {run.run_id} --experiment {run.experiment}"
    if summary.status == store.INTERRUPTED:
        done = sum(summary.counts[s] for s in store.ENDED_STATUSES)
        budget = (run.manifest().get("search") or {}).get("num_samples", "?")
        return (
            f"interrupted: {done} of {budget} trials ended, the run is marked interrupted; resume it with "
            f"`{resume}` (or make tune EXP={run.experiment} RESUME=1)"
        )
    if summary.status == store.FAILED:
        why = summary.first_error
        return f"failed: every trial errored{f' (first error: {why})' if why else ''}; nothing to evaluate"
    return "next: python -m vixray.evaluate --best"


def format_search(summary: SearchSummary) -> str:
    c = summary.counts
    lines = [
        f"trials: {c.get('finished', 0)} finished, {c.get('pruned', 0)} pruned by ASHA, "
        f"{c.get('errored', 0)} errored ({summary.seconds:.0f} s)"
    ]
    manifest = summary.run.manifest()
    strongest = str(manifest.get("strongest_baseline") or "persistence")
    chance = 1.0 / len(stored_classes(manifest.get("experiment_config")))
    if summary.best is None:
        lines.append("no trial finished; nothing to report")
    else:
        row = summary.best["trial"]
        params = store.trial_params(row)
        lines.append(
            f"best trial {row['trial_id']}: val_loss {row['val_loss']:.4f}, val_accuracy {row['val_accuracy']:.3f}"
        )
        lines.append(
            "  "
            + ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
        )
        majority = {r["fold"]: r for r in summary.baselines.get("majority", [])}
        best_base = {r["fold"]: r for r in summary.baselines.get(strongest, [])}
        lines.append(
            f"  {'fold':<8}{'n':>6}{'best':>8}{'majority':>10}{strongest[:12]:>13}   (test accuracy, same rows)"
        )
        for f in summary.best["folds"]:
            k = f["fold"]
            lines.append(
                f"  {k:<8}{f['n_test']:>6}{_fmt(f['accuracy'], 8)}{_fmt(majority.get(k, {}).get('accuracy'), 10)}"
                f"{_fmt(best_base.get(k, {}).get('accuracy'), 13)}"
            )
        lines.append(
            f"  {'pooled':<14}{_fmt(row['test_accuracy'], 8)}{_fmt(majority.get(-1, {}).get('accuracy'), 10)}"
            f"{_fmt(best_base.get(-1, {}).get('accuracy'), 13)}   (random: {chance:.3f})"
        )
    if summary.spa is not None:
        lines.append(search_spa_sentence(summary.spa))
    lines.append(f"run directory: {summary.run.path}")
    lines.append(f"Ray's output:  {summary.run.path / store.RAY_LOG}")
    lines.append(f"optuna study:  optuna-dashboard {summary.run.optuna_url}")
    lines.append(next_step(summary))
    return "\n".join(lines)


def format_holdout(report: dict[str, Any]) -> str:
    """The console summary: accuracy per block beside the strongest baseline, configs, tests, the verdict."""
    strongest = report["strongest_baseline"]
    tests = _test_lines(report["significance"], model="best config")
    lines = [
        f"holdout evaluation of {report['experiment']}/{report['run_id']} "
        f"({report['holdout']['n_test']} days, {report['holdout']['n_blocks']} blocks); the strongest baseline, "
        f"{strongest}, was chosen on {report.get('strongest_baseline_chosen_on', 'the development era')}",
        coverage_text(report["holdout"]),
        tests[0],
        "",
        f"{'block':<7}{'test period':<25}{'n':>6}{'model':>9}{strongest[:12]:>13}",
    ]
    for b in report["blocks"]:
        lines.append(
            f"{b['block']:<7}{b['test_start'] + '..' + b['test_end']:<25}{b['n_test']:>6}"
            f"{b['model']['accuracy']:>9.3f}{b['baselines'][strongest]['accuracy']:>13.3f}"
        )
    pooled = report["pooled"]
    lines.append(
        f"{'pooled':<32}{pooled['model']['n']:>6}{pooled['model']['accuracy']:>9.3f}"
        f"{pooled['baselines'][strongest]['accuracy']:>13.3f}"
    )
    lines.append(
        "baselines (pooled accuracy): "
        + ", ".join(f"{n} {m['accuracy']:.3f}" for n, m in pooled["baselines"].items())
    )
    for c in report["configs"]:
        sd = c["sd"]["accuracy"]
        spread = f" ± {sd:.3f}" if sd is not None else ""
        lines.append(
            f"config {c['rank']} ({c['trial_id']}): ensemble {c['ensemble']['accuracy']:.3f}, "
            f"seeds {c['mean']['accuracy']:.3f}{spread}"
        )
    lines += tests[1:]
    spa = report["spa"]
    lines.append(
        f"studentized SPA of the {spa['n_models']} re-trained configs vs {spa['benchmark']}: consistent p = "
        f"{pvalue_text(spa['p_values']['consistent'])} (corrects for reporting the best of them)"
    )
    if report.get("backtest"):
        lines += ["", format_backtest(report["backtest"], strongest=strongest)]
    lines.append(report["verdict"])
    return "\n".join(lines)


def _pct(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.1%}"


def format_backtest(block: dict[str, Any], *, strongest: str | None) -> str:
    """The backtest table: each forecaster's return, risk and trading figures, then the cost sweep's Sharpe."""
    lines = [
        describe(block),
        f"{'forecaster':<30}{'total':>8}{'annual':>8}{'vol':>7}{'Sharpe':>8}{'Sortino':>8}{'max DD':>8}"
        f"{'turn/d':>8}{'expos':>7}{'hit':>7}",
    ]
    for row in summary_rows(block, strongest=strongest):
        lines.append(
            f"{row['forecaster'][:29]:<30}{_pct(row['total return'], 8)}{_pct(row['annual return'], 8)}"
            f"{_pct(row['volatility'], 7)}{_fmt(row['Sharpe'], 8)}{_fmt(row['Sortino'], 8)}"
            f"{_pct(row['max drawdown'], 8)}{_fmt(row['turnover/day'], 8)}{_pct(row['exposure'], 7)}"
            f"{_pct(row['hit rate'], 7)}"
        )
    sweep = sweep_rows(block, strongest=strongest)
    if sweep and len(sweep[0]) > 1:
        costs = [k for k in sweep[0] if k != "forecaster"]
        lines.append(f"{'cost sweep':<30}" + "".join(f"{k.replace('Sharpe at ', ''):>12}" for k in costs))
        for row in sweep[:3]:
            lines.append(f"{row['forecaster'][:29]:<30}" + "".join(_fmt(row[k], 12) for k in costs))
    return "\n".join(lines)
