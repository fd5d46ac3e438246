"""The explorer in real headless Chromium: each page of a run made by a real tiny search shows what it should.

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser`` installs them); skipped when they are absent.
The driver path is given explicitly, so Selenium never looks for (or downloads) a browser or driver itself. On a
failure the page's screenshot and HTML are saved under the test's tmp folder (the path is printed).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest
from runs import make_real_run, make_run

from dashboards import create_app
from vixray import store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings(r"ignore:(?s).*dash_table.DataTable will be removed:DeprecationWarning"),
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WAIT_S = 20
_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-unsafe-swiftshader",  # parallel coordinates draw with WebGL: software rendering, local content only
    "--window-size=1400,2400",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, ray_session: object) -> Iterator[SimpleNamespace]:
    from werkzeug.serving import make_server

    root = tmp_path_factory.mktemp("results")
    tiny = make_real_run(root)  # Ray Tune + Optuna + ASHA, then the holdout evaluation
    other = make_run(root, experiment="other", n_trials=4, with_evaluation=False, seed=1)
    server = make_server("127.0.0.1", 0, create_app(root).server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    run = store.Run(tiny)
    yield SimpleNamespace(
        root=root,
        base=f"http://127.0.0.1:{server.server_port}",
        run=run,
        other=store.Run(other),
        trials=run.trials(),
        baselines=run.baselines(),
        evaluation=run.evaluations()[0],
    )
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium and chromium-driver (make browser)")
    if not CHROMEDRIVER.is_file():
        pytest.skip(f"{CHROMEDRIVER} is missing: install Debian's chromium-driver (make browser)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in _ARGS:
        options.add_argument(arg)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.binary_location = str(CHROMIUM)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    yield browser
    browser.quit()


class Browser:
    """Load pages of the site and wait for what they should show."""

    def __init__(self, driver: object, base: str) -> None:
        self.driver = driver
        self.base = base

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def wait_for(self, css: str, *, count: int = 1) -> list:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        def enough(d: object) -> list | bool:
            found = d.find_elements(By.CSS_SELECTOR, css)
            return found if len(found) >= count else False

        return WebDriverWait(self.driver, WAIT_S, poll_frequency=0.1).until(
            enough, f"fewer than {count} element(s) match {css!r} after {WAIT_S} s"
        )

    def texts(self, css: str, *, count: int = 1) -> list[str]:
        return [e.text for e in self.wait_for(css, count=count)]

    def wait_for_text(self, css: str, text: str) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, WAIT_S, poll_frequency=0.1).until(
            lambda _: any(text in t for t in self.texts(css)), f"no {css!r} shows {text!r} after {WAIT_S} s"
        )


@pytest.fixture
def browser(
    driver: object, site: SimpleNamespace, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Browser]:
    failed_before = request.session.testsfailed
    yield Browser(driver, site.base)
    if request.session.testsfailed > failed_before:  # the call phase has been reported by now
        folder = tmp_path / "artifacts"
        folder.mkdir(exist_ok=True)
        driver.save_screenshot(str(folder / "page.png"))
        (folder / "page.html").write_text(driver.page_source)
        print(f"screenshot and page source of the failure: {folder}", file=sys.stderr)


def _pooled(site: SimpleNamespace, name: str) -> float:
    return site.baselines.filter((pl.col("baseline") == name) & (pl.col("fold") == -1))["accuracy"][0]


def test_overview_shows_runs_the_chance_line_and_the_baseline_bars(browser, site):
    browser.open("/")
    links = browser.texts("#runs-table td[data-dash-column='run'] a", count=2)
    assert sorted(links) == sorted([site.run.run_id, site.other.run_id])
    assert "random 33.3%" in browser.texts("#overview-accuracy .annotation-text")
    legend = browser.texts("#overview-accuracy .legendtext", count=3)
    assert legend == ["best trial", "majority", "strongest baseline (each run's own)"]
    bars = browser.texts("#overview-accuracy .bartext", count=6)
    for name in ("majority", site.run.manifest()["strongest_baseline"]):
        assert f"{_pooled(site, name):.1%}" in bars


def test_search_page_shows_the_trial_table_and_parallel_coordinates(browser, site):
    from selenium.webdriver.common.keys import Keys

    browser.open(f"/run/tiny/{site.run.run_id}")
    cells = browser.texts("#trials-table td[data-dash-column='trial_id']", count=site.trials.height)
    assert cells == site.trials["trial_id"].to_list()
    browser.wait_for("#parallel .parcoords")
    axes = browser.texts("#parallel .axis-title", count=4)
    assert {"model.hidden_size", "train.lr", "features.set", "val_loss"} <= set(axes)
    browser.wait_for("#history .scatterlayer .trace")
    # the native filter works in the page: keep the least common status of the run
    status = site.trials["status"].value_counts().sort(["count", "status"])["status"][0]
    box = browser.wait_for("#trials-table th.dash-filter[data-dash-column='status'] input")[0]
    box.send_keys(status, Keys.ENTER)
    pruned = site.trials.filter(pl.col("status") == status)["trial_id"].to_list()
    browser.wait_for_text("#trials-table td[data-dash-column='status']", status)
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser.driver, WAIT_S).until(
        lambda _: browser.texts("#trials-table td[data-dash-column='trial_id']") == pruned
    )


def test_trial_page_shows_fold_bars_beside_the_baselines(browser, site):
    trial = site.trials.filter(pl.col("status") == "finished").sort("val_loss")["trial_id"][0]
    browser.open(f"/trial/tiny/{site.run.run_id}/{trial}")
    assert "random 33.3%" in browser.texts("#fold-accuracy .annotation-text")
    strongest = site.run.manifest()["strongest_baseline"]
    assert browser.texts("#fold-accuracy .legendtext", count=3) == ["trial", "majority", strongest]
    majority = site.baselines.filter((pl.col("baseline") == "majority") & (pl.col("fold") == 0))["accuracy"][
        0
    ]
    n_folds = len(site.run.manifest()["folds"])
    assert f"{majority:.1%}" in browser.texts("#fold-accuracy .bartext", count=3 * n_folds)
    assert browser.texts("#trial-confusion .gtitle") == ["Confusion matrix, summed over the folds"]


def test_evaluation_page_shows_the_verdict_and_links_the_report(browser, site):
    import json

    report = json.loads((site.evaluation / "report.json").read_text())
    browser.open(f"/evaluation/tiny/{site.run.run_id}/{site.evaluation.name}")
    from dashboards.pages.evaluation import spa_text

    assert browser.texts("#verdict") == [report["verdict"]]
    assert browser.texts("#spa-verdict") == [spa_text(report["spa"])]
    assert "random 33.3%" in browser.texts("#block-accuracy .annotation-text")
    browser.wait_for("#timeline .scatterlayer .trace", count=3)
    href = browser.wait_for("#report-link")[0].get_attribute("href")
    browser.driver.get(href)
    assert browser.texts("h1")[0].startswith(f"Holdout evaluation: tiny / {site.run.run_id}")


def test_unknown_run_gives_the_not_found_page(browser, site):
    browser.open("/run/tiny/20990101-000000-0000")
    assert "not found" in browser.texts("#not-found-message")[0]


def test_a_new_run_appears_without_reloading(browser, site):
    browser.open("/")
    browser.wait_for("#runs-table td[data-dash-column='run'] a", count=2)
    live = make_run(site.root, experiment="live", n_trials=2, with_evaluation=False, seed=2)
    links = browser.texts("#runs-table td[data-dash-column='run'] a", count=3)  # the 5 s refresh picks it up
    assert live.name in links
