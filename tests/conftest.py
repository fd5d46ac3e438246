"""Shared fixtures: the real daily data in ../shared/data (see its README) when it is present, one local Ray, and
results folders of fake runs (tests/runs.py) for the explorer's tests."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from runs import make_run

from vixray import store

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real Yahoo-layout CSVs (SPY, QQQ, VIX, ...); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole test run (a bare ray.init() would join any running cluster)."""
    ray = pytest.importorskip("ray")
    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Two fake runs: ``tiny`` (4 finished, 1 pruned, 1 errored trials, one evaluation) and ``other``."""
    root = tmp_path_factory.mktemp("results")
    tiny = make_run(root)
    other = make_run(root, experiment="other", n_trials=4, with_evaluation=False, seed=1)
    run = store.Run(tiny)
    return SimpleNamespace(
        root=root,
        tiny=tiny,
        other=other,
        run=run,
        eval_id=run.evaluations()[0].name,
        trials=run.trials(),
    )


@pytest.fixture
def scratch(tmp_path: Path) -> SimpleNamespace:
    """A results folder of its own, for tests that damage or change a run."""
    root = tmp_path / "results"
    path = make_run(root)
    return SimpleNamespace(root=root, path=path, run=store.Run(path))
