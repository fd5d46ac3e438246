"""The search end to end on one local Ray instance (shared by the whole test run), on synthetic data."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import polars as pl
import pytest
import yaml
from specs import tiny_experiment

from vixray import store
from vixray.config import experiment_from_dict
from vixray.data import load_prices
from vixray.search.run import run_search, setup_search

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def prices():
    return load_prices("synthetic:3")


@pytest.fixture(scope="module")
def tiny_run(ray_session, tmp_path_factory, prices):
    # ASHA judges at epochs 1 and 4: epochs 2-3 and 5-6 reach the driver in the reports at 4 and 6
    experiment = experiment_from_dict(tiny_experiment(max_epochs=6, reduction_factor=4))
    summary = run_search(experiment, prices=prices, results_dir=tmp_path_factory.mktemp("results"))
    return summary


def test_search_writes_a_complete_run(tiny_run, prices):
    run = tiny_run.run
    manifest = run.manifest()
    assert manifest["status"] == "finished"
    assert manifest["data"]["fingerprint"] == prices.fingerprint
    assert manifest["search"]["metric"] == "val_loss" and manifest["search"]["mode"] == "min"
    assert manifest["versions"]["ray"].startswith("2.") and manifest["eras"]["holdout"]["start"]
    assert sum(manifest["counts"].values()) == 4
    trials = run.trials()
    assert trials.height == 4 and set(trials["status"]) <= {"finished", "pruned"}
    assert {"param.model.hidden_size", "param.train.lr", "param.features.set"} <= set(trials.columns)
    finished = trials.filter(pl.col("status") == "finished")
    assert finished.height >= 1 and finished["test_accuracy"].is_not_null().all()
    # every epoch of every trial is in the curves, per fold, also those reported together with a later one
    curves = run.curves()
    for row in trials.iter_rows(named=True):
        c = curves.filter(pl.col("trial_id") == row["trial_id"])
        assert c.height == row["epochs"] * 2 and sorted(set(c["fold"])) == [0, 1]
        assert sorted(set(c["epoch"])) == list(range(1, row["epochs"] + 1))
    assert set(trials["epochs"]) <= {1, 4, 6}  # ASHA stops trials at its rungs, others run to the end
    assert finished["epochs"].to_list() == [6] * finished.height
    folds = run.folds()
    assert folds.height == finished.height * 2
    for row in folds.iter_rows(named=True):  # each fold's confusion matrix counts exactly its test rows
        assert sum(map(sum, row["confusion"])) == row["n_test"]
    baselines = run.baselines()
    assert set(baselines["baseline"]) >= {"majority", "persistence", "random", "logistic", "har"}
    # baselines are scored on exactly the model's test rows
    n_test = folds.filter(pl.col("trial_id") == finished["trial_id"][0]).sort("fold")["n_test"].to_list()
    assert (
        baselines.filter((pl.col("baseline") == "majority") & (pl.col("fold") >= 0))
        .sort("fold")["n_test"]
        .to_list()
        == n_test
    )
    assert (run.ray_dir / "tuner.pkl").exists()


def test_the_search_keeps_every_finished_trial_s_days_and_tests_the_best_of_them(tiny_run):
    run = tiny_run.run
    trials, baselines = run.trials(), run.baselines()
    pooled = baselines.filter(pl.col("fold") == -1)
    learners = pooled.filter(~pl.col("baseline").is_in(["random", "stratified"]))
    strongest = learners.sort("accuracy", descending=True, maintain_order=True)["baseline"][0]
    assert run.manifest()["strongest_baseline"] == strongest  # chosen on the development folds
    finished = trials.filter(pl.col("status") == "finished")
    days = run.trial_predictions()
    assert sorted(days["trial_id"].unique()) == sorted(finished["trial_id"])  # pruned trials store none
    for row in finished.iter_rows(named=True):  # each file holds that trial's own test scores
        mine = days.filter(pl.col("trial_id") == row["trial_id"])
        assert mine["y_true"].eq(mine["pred"]).mean() == pytest.approx(row["test_accuracy"])
    calls = run.baseline_predictions()
    assert set(calls["baseline"]) == set(pooled["baseline"])
    spa = run.search_spa()
    assert spa == tiny_run.spa and spa["benchmark"] == strongest
    assert (
        spa["n_models"] == finished.height
        and spa["n_days"] == days.filter(pl.col("trial_id") == finished["trial_id"][0]).height
    )
    assert 0.0 <= spa["p_values"]["consistent"] <= 1.0


def test_the_best_trial_and_the_boosting_baseline_are_explained_block_by_block(tiny_run):
    run = tiny_run.run
    explained = run.block_importance()
    best = store.best_trials(run, k=1).row(0, named=True)
    model = explained["model"]
    assert model["trial_id"] == best["trial_id"] and model["feature_set"] == best["param.features.set"]
    # retrained on the development folds as the trial trained: the same test accuracy
    assert model["accuracy"] == pytest.approx(best["test_accuracy"], abs=1e-9)
    blocks = {"seed": {"seed"}, "extended": {"seed", "vix", "realised"}}[model["feature_set"]]
    assert set(model["blocks"]) == blocks
    boosting = explained["boosting"]
    assert set(boosting["blocks"]) == {"seed", "calendar"}  # the base set is seed; the trees add the calendar
    pooled = run.baselines().filter((pl.col("baseline") == "boosting") & (pl.col("fold") == -1))
    assert boosting["accuracy"] == pytest.approx(pooled["accuracy"][0])


def test_optuna_db_mirrors_the_trials_table(tiny_run):
    run = tiny_run.run
    (summary,) = optuna.get_all_study_summaries(run.optuna_url)
    assert summary.study_name == f"tiny-{run.run_id}"
    study = optuna.load_study(study_name=summary.study_name, storage=run.optuna_url)
    assert (
        study.direction == optuna.study.StudyDirection.MINIMIZE and study.user_attrs["metric"] == "val_loss"
    )
    states = {"finished": optuna.trial.TrialState.COMPLETE, "pruned": optuna.trial.TrialState.PRUNED}
    by_id = {t.user_attrs["ray_trial_id"]: t for t in study.trials}
    trials = run.trials()
    assert sorted(by_id) == sorted(trials["trial_id"])
    curves = run.curves()
    for row in trials.iter_rows(named=True):
        t = by_id[row["trial_id"]]
        assert t.state == states[row["status"]]
        assert t.value == pytest.approx(row["val_loss"])
        assert t.params == {k[len("param.") :]: v for k, v in row.items() if k.startswith("param.")}
        per_epoch = (
            curves.filter(pl.col("trial_id") == row["trial_id"]).group_by("epoch").agg(pl.mean("val_loss"))
        )
        assert t.intermediate_values == pytest.approx(dict(per_epoch.iter_rows()))
    finished = trials.filter(pl.col("status") == "finished").height
    assert finished >= 1  # the first trial at each rung always goes on, so one reaches the last epoch
    assert (run.importance() is None) == (finished < 2)  # fANOVA needs two finished trials


def test_importances_need_two_finished_trials_and_sum_to_one(tmp_path):
    from vixray.search.records import write_importance

    run = store.create_run(tmp_path, "tiny", manifest={})
    distributions = {
        "train.lr": optuna.distributions.FloatDistribution(1e-4, 1e-1, log=True),
        "model.hidden_size": optuna.distributions.CategoricalDistribution([4, 8]),
    }

    def study(n_complete: int) -> optuna.Study:
        made = optuna.create_study()
        for i in range(n_complete):
            params = {"train.lr": 10 ** (-1 - i / 2), "model.hidden_size": [4, 8][i % 2]}
            made.add_trial(
                optuna.trial.create_trial(params=params, distributions=distributions, value=1.0 - 0.1 * i)
            )
        made.add_trial(
            optuna.trial.create_trial(state=optuna.trial.TrialState.PRUNED, params={}, distributions={})
        )
        return made

    assert write_importance(run, study(1)) is None and run.importance() is None
    found = write_importance(run, study(5))
    assert found == run.importance()
    assert found.method == "Optuna fANOVA over 5 finished trials"
    assert set(found.values) == set(distributions) and sum(found.values.values()) == pytest.approx(1.0)


def test_the_stored_distributions_are_the_ones_the_searcher_samples():
    from vixray.config.search import search_from_dict
    from vixray.search.sampler import DefineByRun, distribution

    raw = tiny_experiment(
        space={
            "model.seq_len": {"type": "int", "low": 5, "high": 20, "step": 5},
            "model.num_layers": {"type": "int", "low": 1, "high": 2},
            "model.dropout": {"type": "uniform", "low": 0.0, "high": 0.4, "when": {"model.num_layers": [2]}},
            "train.lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2},
            "train.batch_size": {"type": "categorical", "choices": [16, 32]},
        }
    )
    space = search_from_dict(raw["search"]).space
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(8):
        trial = study.ask()
        DefineByRun(space)(trial)
        expected = {p.name: distribution(p) for p in space if p.name in trial.params}
        assert trial.distributions == expected
    assert {len(t.params) for t in study.trials} == {4, 5}  # dropout only with two layers


def test_trials_report_at_the_asha_rungs_and_their_end(tiny_run):
    # Ray's own result log has one row per report, not per epoch
    trials = tiny_run.run.trials()
    for row in trials.iter_rows(named=True):
        (result_json,) = tiny_run.run.ray_dir.glob(f"*{row['trial_id']}*/result.json")
        reported = [json.loads(line)["epoch"] for line in result_json.read_text().splitlines()]
        assert reported == [e for e in (1, 4, 6) if e <= row["epochs"]]


@pytest.mark.parametrize(
    ("grace", "factor", "max_epochs", "expected"),
    [(3, 3, 20, {3, 9}), (1, 2, 3, {1, 2}), (1, 4, 6, {1, 4}), (3, 2.5, 20, {3, 8, 19}), (5, 3, 5, {5})],
)
def test_asha_rungs_by_hand(grace, factor, max_epochs, expected):
    # Ray's own rungs are checked on a real search: its trials stop only at these epochs (see above)
    from vixray.search.sampler import asha_rungs

    assert asha_rungs(grace_period=grace, reduction_factor=factor, max_epochs=max_epochs) == expected


def test_best_trial_is_the_lowest_validation_loss(tiny_run):
    trials = tiny_run.run.trials()
    best = store.best_trials(tiny_run.run, k=1)
    candidates = trials.filter(pl.col("status").is_in(["finished", "pruned"]))
    assert best["val_loss"][0] == candidates["val_loss"].min()
    assert tiny_run.best["trial"]["trial_id"] == best["trial_id"][0]


def test_trials_only_ever_see_the_development_era(prices):
    experiment = experiment_from_dict(tiny_experiment())
    setup = setup_search(experiment, prices)
    dev_end = setup.eras.development[1]
    assert set(setup.payload.datasets) == {"seed", "extended"}
    for dataset in setup.payload.datasets.values():
        assert dataset.frame["date"].max() < setup.eras.holdout[0]
        assert dataset.frame["label_date"].max() <= dev_end


def test_errored_trials_do_not_stop_the_search(ray_session, tmp_path, prices):
    # seq_len 5000 is longer than the whole era: those trials fail in the windows, the others carry on
    space = {"model.seq_len": {"type": "categorical", "choices": [3, 5000]}}
    experiment = experiment_from_dict(tiny_experiment(num_samples=6, space=space, max_epochs=2))
    summary = run_search(experiment, prices=prices, results_dir=tmp_path)
    trials = summary.run.trials()
    errored = trials.filter(pl.col("status") == "errored")
    assert errored.height >= 1 and summary.counts["errored"] == errored.height
    assert (errored["param.model.seq_len"] == 5000).all()
    assert errored["error"].str.contains("seq_len").all()
    assert trials.filter(pl.col("status") != "errored").height >= 1
    assert summary.run.manifest()["status"] == "finished"


@pytest.mark.parametrize(("gpus", "device"), [(0, "cpu"), (0.5, "auto"), (1, "auto")])
def test_trials_use_a_gpu_only_when_they_reserve_one(prices, gpus, device):
    from vixray.search.trainable import trial_experiment

    raw = tiny_experiment()
    raw["search"]["resources"] = {"cpus": 1, "gpus": gpus}
    setup = setup_search(experiment_from_dict(raw), prices)
    trial = trial_experiment(setup.payload, {"train.lr": 0.01})
    assert (trial.train.device, trial.train.threads, trial.train.lr) == (device, 1, 0.01)


def test_experiment_without_search_is_an_error(prices):
    raw = tiny_experiment()
    raw.pop("search")
    with pytest.raises(ValueError, match=r"has no 'search' section"):
        setup_search(experiment_from_dict(raw), prices)


def test_too_little_data_names_era_and_folds(prices):
    raw = tiny_experiment()
    raw["split"]["train_size"] = 5000
    with pytest.raises(
        ValueError, match=r"the development era \(.*labelled rows\) is too short for the folds"
    ):
        setup_search(experiment_from_dict(raw), prices)


# ---------------------------------------------------------------------------------------------------- subprocesses


def _cli(args: list[str], tmp_path: Path) -> subprocess.Popen:
    # faulthandler: a SIGABRT from _finish prints every thread's stack into the log before the process dies
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1", "RAY_ADDRESS": ""}
    env.pop("RAY_ADDRESS")
    log = open(tmp_path / f"log-{time.time_ns()}.txt", "w")  # noqa: SIM115 - closed by the OS with the process
    return subprocess.Popen(
        [sys.executable, "-m", "vixray.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so the Ray processes it started can be cleaned up
    )


def _finish(proc: subprocess.Popen, tmp_path: Path, *, timeout: float) -> int:
    """The exit code of ``proc``; past ``timeout`` it fails with where each of its threads was and its logs."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        ray_logs = "\n----\n".join(p.read_text()[-4000:] for p in tmp_path.rglob("ray.log"))
        pytest.fail(f"still running after {timeout:g} s:\n{_logs(tmp_path, tail=6000)}\n----\n{ray_logs}")


def _logs(tmp_path: Path, *, tail: int = 3000) -> str:
    """The end of each log the test's processes wrote (the CLI's, the S3 server's), oldest first."""
    return "\n----\n".join(p.read_text()[-tail:] for p in sorted(tmp_path.glob("log-*.txt")))


def _start_search(tmp_path: Path, *, num_samples: int) -> tuple[Path, subprocess.Popen]:
    """`vixray tune` in its own process on a tiny search long enough to be stopped halfway."""
    raw = tiny_experiment(num_samples=num_samples, max_epochs=12, reduction_factor=4)
    raw["search"]["max_concurrent"] = 1
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(raw))
    results = tmp_path / "results"
    return results, _cli(["tune", "--experiment", "tiny.yaml", "--results", str(results)], tmp_path)


@pytest.mark.slow
def test_resume_after_the_driver_is_killed(tmp_path):
    results, proc = _start_search(tmp_path, num_samples=8)
    deadline = time.time() + 180
    done_before: set[str] = set()
    while time.time() < deadline and proc.poll() is None:
        runs = store.list_runs(results)
        if runs:
            trials = store.Run(runs[-1].path).trials()
            if trials is not None:
                done_before = set(trials.filter(pl.col("status").is_in(["finished", "pruned"]))["trial_id"])
                if len(done_before) >= 2:
                    break
        time.sleep(0.5)
    assert len(done_before) >= 2
    # no wait for Ray's next snapshot: a trial the store records as ended keeps its result even if Ray's state
    # predates it (the resumed trial replays its record instead of training again)
    assert proc.poll() is None, "the search ended before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)  # the driver dies without any chance to clean up
    proc.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(
            proc.pid, signal.SIGKILL
        )  # then the local Ray it had started, as after a crash of the machine
    run = store.Run(store.list_runs(results)[-1].path)
    before = run.trials().filter(pl.col("trial_id").is_in(list(done_before)))
    resumed = _cli(["tune", "--resume", "latest", "--results", str(results)], tmp_path)
    assert _finish(resumed, tmp_path, timeout=300) == 0, _logs(tmp_path)
    after = run.trials()
    manifest = run.manifest()
    assert manifest["status"] == "finished" and len(manifest["resumed"]) == 1, manifest["status"]
    # a trial the driver started within Ray's last snapshot interval is unknown to the restored search, which then
    # runs one in its place: none is lost, none runs twice, and the budget may be passed by that many
    assert after.height >= 8 and set(after["status"]) <= {"finished", "pruned", "errored"}
    lost = after.filter(pl.col("status") == "errored")
    assert lost.is_empty() or lost["error"].cast(pl.String).str.starts_with("lost when the driver died").all()
    kept = after.filter(pl.col("trial_id").is_in(list(done_before))).sort("trial_id")
    # ended trials are neither lost nor rerun: same ids, same epochs, same metric, same time spent training
    assert kept.select("trial_id", "epochs", "val_loss", "seconds").equals(
        before.sort("trial_id").select("trial_id", "epochs", "val_loss", "seconds")
    )
    assert len(json.loads((run.path / store.MANIFEST).read_text())["resumed"]) == 1
    # a quiet console: the resumed search's own output is a few lines, Ray's tables are in the run's ray.log
    resumed_log = max(tmp_path.glob("log-*.txt"), key=lambda p: p.stat().st_mtime).read_text()
    assert len(resumed_log.splitlines()) < 40 and "Trial status" not in resumed_log
    assert f"Ray's output:  {run.path / store.RAY_LOG}" in resumed_log
    assert (run.path / store.RAY_LOG).stat().st_size > 0
    # optuna.db is written when the resumed search ends, with the trials from before the kill as well
    study = optuna.load_study(study_name=f"tiny-{run.run_id}", storage=run.optuna_url)
    assert len(study.trials) == after.height


def _descendants(pid: int) -> set[int]:
    import psutil

    with contextlib.suppress(psutil.NoSuchProcess):
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    return set()


@pytest.mark.slow
def test_ctrl_c_marks_the_run_interrupted_keeps_its_trials_and_shuts_ray_down(tmp_path):
    import psutil

    results, proc = _start_search(tmp_path, num_samples=12)
    ray_pids: set[int] = set()
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        ray_pids |= _descendants(proc.pid)
        runs = store.list_runs(results)
        trials = store.Run(runs[-1].path).trials() if runs else None
        if trials is not None and trials.filter(pl.col("status").is_in(["finished", "pruned"])).height >= 1:
            break
        time.sleep(0.3)
    assert proc.poll() is None, "the search ended before Ctrl-C; make it longer"
    os.kill(proc.pid, signal.SIGINT)  # Ctrl-C: Ray Tune catches it and returns from fit()
    assert _finish(proc, tmp_path, timeout=120) == 130
    out = "\n".join(p.read_text() for p in tmp_path.glob("log-*.txt"))
    run = store.Run(store.list_runs(results)[-1].path)
    manifest = run.manifest()
    assert manifest["status"] == "interrupted"
    ended = run.trials().filter(pl.col("status").is_in(["finished", "pruned"])).height
    assert 1 <= ended < 12 and f"interrupted: {ended} of 12 trials ended" in out
    assert f"vixray tune --resume {run.run_id}" in out and "next: python -m vixray.evaluate" not in out
    time.sleep(2)
    alive = [
        p for p in ray_pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
    ]
    assert ray_pids and not alive, "the Ray this search started is still running"


def _s3_server(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    """moto's S3-compatible server in a process of its own, as a real one would be (its log beside the CLI's, for
    _finish), and its address once it answers."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = open(tmp_path / "log-s3-server.txt", "w")  # noqa: SIM115 - closed by the OS with the process
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and server.poll() is None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return server, f"127.0.0.1:{port}"
        time.sleep(0.2)
    server.kill()
    pytest.fail("the S3 server did not start:\n" + (tmp_path / "log-s3-server.txt").read_text()[-3000:])


@pytest.mark.slow
def test_ray_state_on_s3_compatible_storage_survives_a_killed_driver(tmp_path, monkeypatch):
    import boto3

    secret = "vixray-test-secret-never-written"
    env = {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",  # no cloud here: the SDK must not look for a machine's metadata
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    server, where = _s3_server(tmp_path)
    try:
        s3 = boto3.client("s3", endpoint_url=f"http://{where}")
        s3.create_bucket(Bucket="vixray")
        uri = f"s3://vixray/searches?endpoint_override={where}&scheme=http"
        raw = tiny_experiment(num_samples=8, max_epochs=12, reduction_factor=4)
        raw["search"]["max_concurrent"] = 1
        (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(raw))
        results = tmp_path / "results"
        proc = _cli(
            ["tune", "--experiment", "tiny.yaml", "--results", str(results), "--storage", uri], tmp_path
        )
        deadline = time.time() + 180
        done_before: set[str] = set()
        while time.time() < deadline and proc.poll() is None and len(done_before) < 2:
            runs = store.list_runs(results)
            trials = store.Run(runs[-1].path).trials() if runs else None
            if trials is not None:
                done_before = set(trials.filter(pl.col("status").is_in(["finished", "pruned"]))["trial_id"])
            time.sleep(0.3)
        assert proc.poll() is None and len(done_before) >= 2, "the search ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        run = store.Run(store.list_runs(results)[-1].path)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="vixray").get("Contents", [])]
        prefix = f"searches/tiny/{run.run_id}/ray/"
        assert f"{prefix}tuner.pkl" in keys and any(k.startswith(f"{prefix}experiment_state-") for k in keys)
        assert not (
            run.path / store.RAY_DIR
        ).exists()  # Ray's state went to the bucket, the tables stayed here
        assert run.manifest()["storage"] == uri
        before = run.trials().filter(pl.col("trial_id").is_in(list(done_before)))
        resumed = _cli(
            ["tune", "--resume", run.run_id, "--results", str(results)], tmp_path
        )  # storage: manifest's
        assert _finish(resumed, tmp_path, timeout=300) == 0, _logs(tmp_path)
        after = run.trials()
        assert run.manifest()["status"] == "finished" and after.height >= 8
        kept = after.filter(pl.col("trial_id").is_in(list(done_before))).sort("trial_id")
        assert kept.select("trial_id", "epochs", "val_loss").equals(
            before.sort("trial_id").select("trial_id", "epochs", "val_loss")
        )
        written = [p for p in run.path.rglob("*") if p.is_file()] + list(tmp_path.glob("log-*.txt"))
        assert not [p for p in written if secret.encode() in p.read_bytes()]  # no credential written anywhere
    finally:
        server.kill()
        server.wait()
