"""Ranks share a bucket: ``torchrun`` with 2 ranks (gloo) over ``storage: s3``. Rank 0 starts one
private server and the link proxy, uploads once and shares the endpoint; both ranks read their
shard from it; one record is written; nothing outlives the run, also when a rank fails."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from s3_tools import weed_processes
from test_bench import run_env

# Under torchrun each rank runs this: it notes the url and endpoint every S3 reader is opened on,
# makes training fail on rank $FAIL_RANK (when set), then runs the command line as `python -m thesis_lib`.
RANK_SCRIPT = textwrap.dedent("""
    import json, os, sys
    from thesis_lib import training
    from thesis_lib.__main__ import main
    from thesis_lib.formats import s3_readers

    rank, notes = os.environ["RANK"], os.environ["OPENED_NOTES"]
    real_open = s3_readers.open_s3

    def noting_open(url, endpoint, **kwargs):
        with open(f"{notes}/rank{rank}.json", "w") as out:
            json.dump({"url": url, "endpoint": endpoint}, out)
        return real_open(url, endpoint, **kwargs)

    def broken_fit(*args, **kwargs):
        raise RuntimeError(f"training broke on rank {rank}")

    s3_readers.open_s3 = noting_open
    if os.environ.get("FAIL_RANK") == rank:
        training.fit = broken_fit
    main(sys.argv[1:])
""")


def torchrun(tmp_path, port: int, fail_rank: str = "") -> subprocess.CompletedProcess:
    script = tmp_path / "rank.py"
    script.write_text(RANK_SCRIPT)
    (tmp_path / "notes").mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={port}",
               str(script), "bench", "--distributed", "--storage", "s3", "--storage-option", "latency_ms=1",
               "--dataset", "synthetic", "--limit", "256", "--fmt", "zarr", "--write-option", "chunk_images=32",
               "--model", "emulate", "--emulate-rate", "0", "--epochs", "2", "--batch-size", "32",
               "--out", str(tmp_path / "record.json")]
    env = run_env(THESIS_DATA=str(tmp_path / "data"), OMP_NUM_THREADS="1", OPENED_NOTES=str(tmp_path / "notes"),
                  FAIL_RANK=fail_rank)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=150)


def opened(tmp_path) -> list[dict]:
    return [json.loads((tmp_path / "notes" / f"rank{r}.json").read_text())
            for r in range(2) if (tmp_path / "notes" / f"rank{r}.json").exists()]


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_two_ranks_read_their_shards_from_one_endpoint_and_write_one_record(tmp_path):
    result = torchrun(tmp_path, 29541)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "record.json").read_text())
    assert record["world_size"] == 2 and record["distributed"] and record["storage"] == "s3"
    assert record["storage_options"]["latency_ms"] == 1.0
    assert [e["samples"] for e in record["epochs"]] == [128, 128]  # rank 0's shard of 256
    assert all(e["samples_per_s_total"] > e["samples_per_s"] for e in record["epochs"])  # both ranks summed
    rank0, rank1 = opened(tmp_path)
    assert rank0 == rank1 and rank0["url"] == f"s3://thesis/{record['run']}"  # one copy, one endpoint
    assert not weed_processes(tmp_path) and not list((tmp_path / "data" / "s3").iterdir())


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_rank_that_fails_ends_the_run_and_rank_0_stops_the_server(tmp_path):
    result = torchrun(tmp_path, 29542, fail_rank="1")
    assert result.returncode != 0 and "training broke on rank 1" in result.stderr
    assert len(opened(tmp_path)) == 2  # both ranks had opened the shared copy before rank 1 failed
    assert not (tmp_path / "record.json").exists()
    assert not weed_processes(tmp_path)  # even if torchrun SIGKILLs rank 0: the server dies with it
    if "SIGKILL" not in result.stderr:  # rank 0 ended on torchrun's SIGTERM: it also removed the server's folder
        assert not list((tmp_path / "data" / "s3").iterdir())
