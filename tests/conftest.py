"""Fixtures shared by the test modules."""
from __future__ import annotations

import pytest

from thesis_lib import sources


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """An empty ``$THESIS_DATA``: nothing a test writes or looks up touches the repository's ``data/``."""
    home = tmp_path / "thesis-data"
    home.mkdir()
    monkeypatch.setenv("THESIS_DATA", str(home))
    return home


@pytest.fixture
def small_source():
    """200 generated CIFAR-shaped images (32 px, 10 classes): a quick source for any test."""
    return sources.load("synthetic", n=200)


@pytest.fixture(scope="session", autouse=True)
def no_weed_outlives_the_session(tmp_path_factory):
    """Every S3 server a test starts keeps its data under the session's temporary folder; when the
    session ends, no ``weed`` process with that folder in its command line may still run."""
    from s3_tools import weed_processes

    base = tmp_path_factory.getbasetemp()
    yield
    left = weed_processes(base)
    assert not left, f"weed processes outlived the test session: {left}"
