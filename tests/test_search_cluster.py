"""A search on a cluster: the checks it passes before any trial (shared storage across machines, resources some
node has), trials spread over a local two-node cluster, a lost node survived on a three-node one, and a search
submitted as a Ray Job."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from specs import tiny_experiment

from vixray import store
from vixray.config.search import Resources, search_from_dict
from vixray.search import cluster

REPO = Path(__file__).resolve().parents[1]


def _nodes(*addresses, alive=True):
    return [{"NodeManagerAddress": a, "Alive": alive, "Resources": {"CPU": 2.0}} for a in addresses]


def test_several_machines_without_storage_are_refused_before_any_trial(monkeypatch):
    monkeypatch.setattr(cluster.ray, "nodes", lambda: _nodes("10.0.0.1", "10.0.0.2", "10.0.0.2"))
    with pytest.raises(ValueError, match=r"spans 2 machines \(10.0.0.1, 10.0.0.2\).*pass --storage s3://"):
        cluster.check_shared_storage(None)
    cluster.check_shared_storage("s3://bucket/prefix")  # with storage: accepted


def test_one_machine_needs_no_shared_storage(monkeypatch):
    # a cluster made on one machine (ray.cluster_utils.Cluster), and a dead node elsewhere
    nodes = _nodes("10.0.0.1", "10.0.0.1", "10.0.0.1") + _nodes("10.0.0.9", alive=False)
    monkeypatch.setattr(cluster.ray, "nodes", lambda: nodes)
    cluster.check_shared_storage(None)


def test_gpu_request_the_cluster_lacks_is_an_error(ray_session):
    search = search_from_dict(tiny_experiment()["search"])
    with pytest.raises(
        ValueError, match=r"search.resources.gpus = 1, but no node of the Ray cluster has that many GPUs"
    ):
        cluster.check_resources(type(search)(**{**search.__dict__, "resources": Resources(cpus=1, gpus=1)}))
    with pytest.raises(ValueError, match=r"search.resources.cpus = 64, but the largest node"):
        cluster.check_resources(type(search)(**{**search.__dict__, "resources": Resources(cpus=64)}))


def _run_cluster_script(script: str, raw: dict, tmp_path: Path, *, timeout: int) -> dict:
    """Run ``script`` (which makes its own local cluster) on the experiment ``raw``; its last line of JSON."""
    spec = tmp_path / "tiny.json"
    spec.write_text(json.dumps(raw))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    out = subprocess.run(
        [sys.executable, "-c", script, str(spec), str(tmp_path / "results")],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


CLUSTER_SCRIPT = """
import json, sys
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from vixray.config import experiment_from_dict
from vixray.data import load_prices
from vixray.search import run_search

cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
ray.init(address=cluster.address)
experiment = experiment_from_dict(json.loads(Path(sys.argv[1]).read_text()))
summary = run_search(experiment, prices=load_prices("synthetic:3"), results_dir=Path(sys.argv[2]),
                     address=cluster.address)
nodes = {n["NodeID"] for n in ray.nodes() if n["Alive"]}
print(json.dumps({"nodes": sorted(nodes), "trial_nodes": summary.run.trials()["node_id"].to_list(),
                  "counts": summary.counts}))
ray.shutdown()
cluster.shutdown()
"""


@pytest.mark.slow
def test_search_spreads_over_two_nodes(tmp_path):
    raw = tiny_experiment(num_samples=4, max_epochs=3)
    result = _run_cluster_script(CLUSTER_SCRIPT, raw, tmp_path, timeout=300)
    assert len(result["nodes"]) == 2
    assert set(result["trial_nodes"]) == set(result["nodes"]), "every node ran at least one trial"
    assert result["counts"]["errored"] == 0


LOST_NODE_SCRIPT = """
import json, sys, threading, time
from pathlib import Path
import polars as pl
import ray
from ray.cluster_utils import Cluster
from vixray import store
from vixray.config import experiment_from_dict
from vixray.data import load_prices
from vixray.search import run_search

# the head runs the driver only (no CPU for trials); each worker one trial at a time
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
cluster.add_node(num_cpus=1)
doomed = cluster.add_node(num_cpus=1)
cluster.wait_for_nodes()
ray.init(address=cluster.address)
results = Path(sys.argv[2])
removed = {}

def remove_the_node_once_a_trial_runs_there():
    deadline = time.time() + 240
    while time.time() < deadline:
        runs = store.list_runs(results)
        trials = store.Run(runs[-1].path).trials() if runs else None
        if trials is not None and "node_id" in trials.columns:
            there = trials.filter((pl.col("node_id") == doomed.node_id) & (pl.col("status") == "running"))
            if there.height:
                removed["trials"] = there["trial_id"].to_list()
                cluster.remove_node(doomed)
                return
        time.sleep(0.2)

threading.Thread(target=remove_the_node_once_a_trial_runs_there, daemon=True).start()
experiment = experiment_from_dict(json.loads(Path(sys.argv[1]).read_text()))
summary = run_search(experiment, prices=load_prices("synthetic:3"), results_dir=results, address=cluster.address)
trials = summary.run.trials()
print(json.dumps({"removed": removed.get("trials", []), "doomed": doomed.node_id, "counts": summary.counts,
                  "status": summary.run.manifest()["status"], "trial_ids": trials["trial_id"].to_list(),
                  "statuses": trials["status"].to_list(), "failures": trials["failures"].to_list(),
                  "epochs": trials["epochs"].to_list(), "seconds": trials["seconds"].to_list(), "nodes": trials["node_id"].to_list()}))
ray.shutdown()
cluster.shutdown()
"""


@pytest.mark.slow
def test_a_search_survives_a_lost_node(tmp_path):
    """A worker node is removed while it trains a trial: the trial restarts on the other worker (search.max_failures)
    and the search ends with every trial finished or pruned, none errored, duplicated or lost."""
    # long enough trials (a few seconds each) to catch one on the doomed node; no pruning before the last epoch
    raw = tiny_experiment(num_samples=3, max_epochs=3000, reduction_factor=2, max_failures=2)
    raw["search"]["scheduler"]["grace_period"] = 3000
    result = _run_cluster_script(LOST_NODE_SCRIPT, raw, tmp_path, timeout=420)
    assert result["removed"], "no trial ran on the node to remove; make the trials longer"
    assert result["status"] == "finished"
    assert sorted(result["trial_ids"]) == sorted(set(result["trial_ids"])) and len(result["trial_ids"]) == 3
    assert set(result["statuses"]) <= {"finished", "pruned"} and result["counts"]["errored"] == 0
    rows = zip(result["failures"], result["nodes"], result["epochs"], strict=True)
    by_id = dict(zip(result["trial_ids"], rows, strict=True))
    for trial_id in result["removed"]:
        failures, node, epochs = by_id[trial_id]
        assert failures >= 1, "the store records the restart"
        assert node != result["doomed"] and epochs == 3000, "restarted and ended on the node that stayed"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(url: str, *, seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2):
            return
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds:g} s")


@pytest.mark.slow
def test_a_search_submitted_as_a_ray_job(tmp_path):
    """The README's cluster recipe on one machine: `ray start --head`, then `ray job submit --working-dir . --
    vixray tune ... --storage DIR`; the job's driver joins the cluster (RAY_ADDRESS, set by Ray Jobs)."""
    bin_dir = Path(sys.executable).parent  # ray and vixray of this environment, as on a cluster's nodes
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", RAY_AUTH_MODE="disabled")
    port = _free_port()
    head = subprocess.Popen(
        [str(bin_dir / "ray"), "start", "--head", "--block", "--port=0", "--num-cpus=2", "--disable-usage-stats",
         "--include-dashboard=true", "--dashboard-host=127.0.0.1", f"--dashboard-port={port}",
         # the job agent's own port: the default (52365) is taken by any other Ray on this machine (the tests' own)
         f"--dashboard-agent-listen-port={_free_port()}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for(f"http://127.0.0.1:{port}/api/version", seconds=90)
        (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(tiny_experiment(num_samples=3, max_epochs=2)))
        results, shared = tmp_path / "results", tmp_path / "shared"
        submit = [str(bin_dir / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{port}",
                  "--working-dir", str(REPO), "--", "vixray", "tune", "--experiment", str(tmp_path / "tiny.yaml"),
                  "--results", str(results), "--storage", str(shared)]  # fmt: skip
        deadline = time.time() + 90
        while True:  # the dashboard may answer before the head's job agent is up: Ray asks to try again later
            job = subprocess.run(submit, env=env, capture_output=True, text=True, timeout=300)
            if "No available agent" not in job.stdout + job.stderr or time.time() > deadline:
                break
            time.sleep(2)
        printed = job.stdout + job.stderr
        assert job.returncode == 0 and "succeeded" in printed, printed[-3000:]
        run = store.Run(store.list_runs(results)[-1].path)
        manifest = run.manifest()
        assert manifest["status"] == "finished" and manifest["storage"] == str(shared)
        assert manifest["ray_address"] not in ("local", "existing")  # the job's driver joined the cluster
        assert run.trials().height == 3
        assert (shared / "tiny" / run.run_id / store.RAY_DIR / "tuner.pkl").is_file()
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
