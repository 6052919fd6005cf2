"""The run field ``storage``: ``storage_options`` checked and typed once, the same config id from
Python, YAML and the command line, a format S3 cannot read refused before any work, a local run's
id untouched; and a run over S3 end to end, on a private server behind the link proxy, that leaves
its storage in the record and nothing running."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from thesis_lib.__main__ import build_parser
from thesis_lib.run import bench
from thesis_lib.run.config import BenchConfig, config_from_args
from thesis_lib.run.grid import load_grid, resolve_point

from s3_tools import weed_processes

EMULATED = {"model": "emulate", "emulate_rate": 0}


def my_link_proxies() -> list[int]:
    """Live link-proxy processes this test process started."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            args = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if parent == os.getpid() and b"thesis_lib.core.link_proxy" in args:
            found.append(int(proc.name))
    return found


@pytest.mark.timeout(30)
def test_storage_options_are_typed_once_and_spelt_any_way_give_one_id():
    args = build_parser().parse_args(["bench", "--storage", "s3", "--storage-option", "latency_ms=2",
                                      "--storage-option", "concurrency=8"])
    from_cli = config_from_args(args).resolve()
    from_python = BenchConfig(storage="s3", storage_options={"latency_ms": 2.0, "concurrency": 8}).resolve()
    from_yaml = BenchConfig(storage="s3", storage_options="{latency_ms: 2, concurrency: 8, bandwidth_mbps: 0}").resolve()
    assert from_cli.config_id == from_python.config_id == from_yaml.config_id
    assert from_cli.s3.latency_ms == 2.0 and from_cli.s3.concurrency == 8
    assert from_cli.identity["storage_options"] == {"latency_ms": 2.0, "bandwidth_mbps": 0.0, "concurrency": 8}
    assert "-npy-s3-" in from_cli.run_name


@pytest.mark.timeout(30)
def test_storage_is_in_the_id_only_when_not_local_and_the_endpoint_is_a_place():
    local = BenchConfig().resolve()
    assert BenchConfig(storage="local").resolve().config_id == local.config_id
    assert "storage" not in local.identity and "storage_options" not in local.identity and local.s3 is None
    private = BenchConfig(storage="s3").resolve()
    given = BenchConfig(storage="s3", storage_options={"endpoint": "http://10.0.0.9:8333/"}).resolve()
    slower = BenchConfig(storage="s3", storage_options={"latency_ms": 20}).resolve()
    assert private.config_id != local.config_id and private.identity["storage"] == "s3"
    assert given.config_id == private.config_id and given.s3.endpoint == "http://10.0.0.9:8333"
    assert slower.config_id != private.config_id


@pytest.mark.timeout(30)
@pytest.mark.parametrize("change, message", [
    ({"storage_options": {"latncy_ms": 2}}, "unknown option 'latncy_ms'; valid: endpoint, latency_ms, bandwidth_mbps, "
                                            "concurrency"),
    ({"storage_options": {"latency_ms": -1}}, r"storage_options latency_ms=-1: expected a finite number >= 0$"),
    ({"storage_options": {"latency_ms": "fast"}}, "storage_options latency_ms='fast': expected a finite number >= 0"),
    ({"storage_options": {"concurrency": 0}}, "storage_options concurrency=0: expected an integer >= 1"),
    ({"storage_options": {"concurrency": 2.5}}, "storage_options concurrency=2.5: expected an integer >= 1"),
    ({"storage_options": {"bandwidth_mbps": True}}, "storage_options bandwidth_mbps=True: expected a finite number"),
    ({"storage_options": {"concurrency": "4x"}}, "storage_options concurrency='4x': expected an integer >= 1"),
    ({"storage_options": {"endpoint": "localhost:8333"}}, r"storage_options endpoint='localhost:8333': expected a URL http://HOST:PORT \(or https://\), or none"),
    ({"storage": "local", "storage_options": {"latency_ms": 2}}, r"apply only with storage='s3'"),
    ({"storage": "nfs"}, "storage='nfs' is not valid; choose one of: local, s3"),
    ({"fmt": "webdataset"}, "format 'webdataset' has no S3 reader; formats read over S3: npy, files, zarr, hdf5"),
    ({"fmt": "hdf5", "open_options": {"read_path": "direct"}}, "hdf5 read_path 'direct' memory-maps the local file"),
    ({"fmt": "litdata"}, "format 'litdata' has no S3 reader"),
    ({"fmt": "cupy", "device": "cuda"}, "format 'cupy' is not read over S3"),
    ({"fmt": "zarr", "open_options": {"read_path": "direct"}}, "read_path 'direct' reads local chunk files"),
    ({"cache": "cold"}, "with storage='s3' the reads go to the server"),
])
def test_a_bad_storage_setting_is_refused_at_resolve_time_naming_it(change, message):
    with pytest.raises(ValueError, match=message):
        BenchConfig(**{"storage": "s3", **change}).resolve()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["process", "ring", "thread"])
def test_every_worker_kind_reads_over_s3(kind):
    """Process and ring workers start from the forkserver over S3 (tests/test_s3_workers.py)."""
    assert BenchConfig(storage="s3", workers=2, worker_kind=kind).resolve().config.worker_kind == kind


@pytest.mark.timeout(30)
def test_storage_is_a_grid_key(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("grids: [{model: emulate, storage: s3, storage_options: [{latency_ms: 0}, {latency_ms: 2}]}]\n")
    specs = [resolve_point(point) for point in load_grid(grid)]
    assert [spec.s3.latency_ms for spec in specs] == [0.0, 2.0]
    assert len({spec.config_id for spec in specs}) == 2


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_run_over_s3_reads_its_copy_from_a_private_server_and_stops_it(data_home, tmp_path, monkeypatch):
    from thesis_lib.formats import s3_readers

    opened = []
    monkeypatch.setattr(s3_readers, "open_s3", lambda url, endpoint, _real=s3_readers.open_s3, **kw:
                        opened.append((url, endpoint, my_link_proxies())) or _real(url, endpoint, **kw))
    config = BenchConfig(storage="s3", storage_options={"latency_ms": 2, "concurrency": 4}, fmt="zarr",
                         write_options={"chunk_images": 64}, limit=256, epochs=2, batch_size=64, workers=2,
                         worker_kind="thread", **EMULATED)
    record = bench.run(config, out=tmp_path / "record.json", progress=False)
    assert record["storage"] == "s3" and record["storage_endpoint"] is None
    assert record["storage_options"] == {"latency_ms": 2.0, "bandwidth_mbps": 0.0, "concurrency": 4}
    assert record["config"]["storage_options"] == record["storage_options"]
    assert record["n_train"] == 256 and all(e["samples_per_s"] > 0 for e in record["epochs"])
    [(url, endpoint, proxies)] = opened
    assert url == f"s3://thesis/{record['run']}" and len(proxies) == 1  # read through the link proxy
    assert not weed_processes(data_home) and not my_link_proxies() and not list((data_home / "s3").iterdir())


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_run_over_s3_that_fails_stops_its_server_and_proxy(data_home, tmp_path, monkeypatch):
    from thesis_lib import training

    def broken_fit(*args, **kwargs):
        raise RuntimeError("the training broke")

    monkeypatch.setattr(training, "fit", broken_fit)
    config = BenchConfig(storage="s3", storage_options={"latency_ms": 1}, limit=64, epochs=2, batch_size=32,
                         **EMULATED)
    with pytest.raises(RuntimeError, match="the training broke"):
        bench.run(config, out=tmp_path / "record.json", progress=False)
    assert not weed_processes(data_home) and not my_link_proxies() and not list((data_home / "s3").iterdir())
