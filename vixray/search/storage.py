"""Where a run's Ray experiment state lives: in the run folder on one machine, or on shared storage for a cluster.

The store's tables and manifest always stay in ``--results`` on the driver; what moves is Ray's own experiment
folder (trial checkpoints, the searcher's and the experiment's state), which every node must reach on a cluster whose
nodes share no disk. A storage location is an absolute path (a shared filesystem) or a URI pyarrow opens
(``s3://bucket/prefix``, ``gs://...``, ``file:///mnt/nfs/...``; query options such as
``?endpoint_override=127.0.0.1:9000&scheme=http`` pass through to pyarrow for an S3-compatible server). A run's
state goes under ``<storage>/<experiment>/<run-id>/ray``. Credentials come from the environment (``AWS_*``, ...);
the URI the manifest records and the logs print is :func:`redact`-ed, so a key written into a URI is never kept.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pyarrow.fs as pafs

from vixray import store

_SECRET_WORDS = ("key", "secret", "token", "password", "credential", "session")


def redact(uri: str) -> str:
    """``uri`` without credentials: no user or password before the host, no query option that names a secret."""
    if "://" not in uri:
        return uri
    parts = urlsplit(uri)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    query = [(k, v) for k, v in parse_qsl(parts.query) if not any(w in k.lower() for w in _SECRET_WORDS)]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=":"), ""))


@dataclass(frozen=True)
class Storage:
    """A run's Ray experiment folder: the pyarrow filesystem and the path in it."""

    filesystem: pafs.FileSystem
    path: str  # the run's experiment root: Ray's folder is path/ray
    uri: str | None  # the redacted storage URI, None for the run folder itself

    @property
    def ray_path(self) -> str:
        return f"{self.path}/{store.RAY_DIR}"

    def describe(self) -> str:
        """Where Ray's folder is, for messages: the redacted URI and the run's place under it."""
        if self.uri is None:
            return self.ray_path
        run_part = "/".join(self.path.split("/")[-2:])
        return f"{self.uri} ({run_part}/{store.RAY_DIR})"

    def exists(self, name: str) -> bool:
        info = self.filesystem.get_file_info(f"{self.ray_path}/{name}")
        return info.type == pafs.FileType.File

    def experiment_states(self) -> list[str]:
        """The names of Ray's experiment-state snapshots, oldest first."""
        infos = self.filesystem.get_file_info(pafs.FileSelector(self.ray_path, allow_not_found=True))
        names = [i.base_name for i in infos if i.base_name.startswith("experiment_state-")]
        return sorted(n for n in names if n.endswith(".json"))

    def read_json(self, name: str) -> Any:
        with self.filesystem.open_input_stream(f"{self.ray_path}/{name}") as f:
            return json.loads(f.read().decode("utf-8"))


def run_storage(run: store.Run, uri: str | None) -> Storage:
    """Where ``run``'s Ray state goes (or went): under ``uri`` when given, else in the run folder."""
    if uri is None:
        return Storage(pafs.LocalFileSystem(), str(run.path), None)
    if "://" not in uri:
        filesystem, root = pafs.LocalFileSystem(), uri.rstrip("/")
    else:
        filesystem, root = pafs.FileSystem.from_uri(uri)
        root = root.rstrip("/")
    return Storage(filesystem, f"{root}/{run.experiment}/{run.run_id}", redact(uri))
