"""Ray for a search: connecting (a cluster at an address, or a local Ray sized to this machine, shut down again on
every exit this process controls), and the checks a cluster must pass before any trial: resources some node has,
and shared storage when the nodes are on several machines."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import ray

from vixray.config import SearchConfig


def connect(address: str | None = None) -> str:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), else start a local Ray sized to this machine."""
    if ray.is_initialized():
        return "existing"
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, log_to_driver=True)
        return address
    # no dashboard: one listener less. Ray 2.60 turns a loopback node address into the machine's own, so the
    # rest of its servers cannot be confined to 127.0.0.1 from here (the README lists them)
    ray.init(address="local", num_cpus=os.cpu_count(), include_dashboard=False)
    return "local"


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[str]:
    """:func:`connect`, and shut down a Ray this process started on every way out of the block."""
    where = connect(address)
    try:
        yield where
    finally:
        if where == "local":
            ray.shutdown()


def check_shared_storage(storage: str | None) -> None:
    """A cluster of several machines moves checkpoints between nodes through storage they all reach: without it,
    refuse now, before any trial, rather than let trials fail where the checkpoints cannot be found."""
    if storage is not None:
        return
    machines = sorted({str(n.get("NodeManagerAddress")) for n in ray.nodes() if n.get("Alive")})
    if len(machines) > 1:
        raise ValueError(
            f"the Ray cluster spans {len(machines)} machines ({', '.join(machines)}), and a search there needs shared "
            "storage for its checkpoints: pass --storage s3://bucket/prefix (or a folder every node mounts, or "
            "search.storage in the experiment)"
        )


def check_resources(search: SearchConfig) -> None:
    """A trial the cluster can never place waits forever; fail now with the numbers instead."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    max_cpus = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
    max_gpus = max((n.get("GPU", 0.0) for n in nodes), default=0.0)
    if search.resources.gpus > max_gpus:
        raise ValueError(
            f"search.resources.gpus = {search.resources.gpus}, but no node of the Ray cluster has that many GPUs "
            f"(largest: {max_gpus:g}); set gpus: 0 to train on CPU, or connect to a cluster with GPUs (--address)"
        )
    if search.resources.cpus > max_cpus:
        raise ValueError(
            f"search.resources.cpus = {search.resources.cpus}, but the largest node of the Ray cluster has "
            f"{max_cpus:g} CPUs; lower cpus or add bigger nodes"
        )
