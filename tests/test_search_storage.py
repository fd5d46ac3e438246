"""Where a run's Ray state goes: the run folder, a shared path, or an object store URI; never a credential kept."""

from __future__ import annotations

import pyarrow.fs as pafs
import pytest

from vixray import store
from vixray.search.storage import redact, run_storage


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("/mnt/nfs/searches", "/mnt/nfs/searches"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
        (
            "s3://bucket/p?endpoint_override=127.0.0.1:9000&scheme=http",
            "s3://bucket/p?endpoint_override=127.0.0.1:9000&scheme=http",
        ),
        ("s3://AKIA123:hunter2@bucket/p", "s3://bucket/p"),
        (
            "s3://bucket/p?access_key=AKIA123&secret_key=hunter2&region=eu-west-1",
            "s3://bucket/p?region=eu-west-1",
        ),
        ("gs://bucket/p?session_token=abc", "gs://bucket/p"),
        ("hdfs://user:pw@namenode:8020/p", "hdfs://namenode:8020/p"),
    ],
)
def test_redact_drops_every_credential_and_keeps_the_rest(uri, expected):
    assert redact(uri) == expected


@pytest.fixture
def run(tmp_path):
    return store.create_run(tmp_path / "results", "tiny", manifest={"status": "running"})


def test_without_a_uri_the_state_stays_in_the_run_folder(run):
    storage = run_storage(run, None)
    assert isinstance(storage.filesystem, pafs.LocalFileSystem)
    assert storage.ray_path == str(run.path / store.RAY_DIR) and storage.uri is None
    assert storage.describe() == str(run.path / store.RAY_DIR)


def test_a_shared_path_keeps_experiment_and_run_apart(run, tmp_path):
    storage = run_storage(run, f"{tmp_path}/shared/")
    assert storage.ray_path == f"{tmp_path}/shared/tiny/{run.run_id}/{store.RAY_DIR}"
    assert storage.describe().endswith(f"(tiny/{run.run_id}/{store.RAY_DIR})")


def test_a_file_uri_reads_ray_state_through_pyarrow(run, tmp_path):
    storage = run_storage(run, f"file://{tmp_path}/shared")
    ray_dir = tmp_path / "shared" / "tiny" / run.run_id / store.RAY_DIR
    ray_dir.mkdir(parents=True)
    (ray_dir / "experiment_state-2026-12-01_10-00-00.json").write_text('{"a": 1}')
    (ray_dir / "experiment_state-2026-12-01_09-00-00.json").write_text('{"a": 0}')
    (ray_dir / "tuner.pkl").write_bytes(b"x")
    assert storage.ray_path == str(ray_dir)
    assert storage.exists("tuner.pkl") and not storage.exists("missing.pkl")
    assert storage.experiment_states() == [
        "experiment_state-2026-12-01_09-00-00.json",
        "experiment_state-2026-12-01_10-00-00.json",
    ]
    assert storage.read_json("experiment_state-2026-12-01_10-00-00.json") == {"a": 1}


def test_an_absent_state_lists_no_snapshots(run):
    assert run_storage(run, None).experiment_states() == []
