"""The checks a cluster passes before any trial: shared storage across machines, resources some node has (against a real local Ray)."""

from __future__ import annotations

import pytest
from specs import tiny_experiment

from vixray.config.search import Resources, search_from_dict
from vixray.search import cluster


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
