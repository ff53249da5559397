"""Fixtures shared by the harness tests: the tiny demo corpus and a private cache folder."""
import pytest
from _tiny_corpus import tiny_corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Root of the tiny demo corpus (read-only: copy it with ``copy_corpus`` before changing anything)."""
    return tiny_corpus(tmp_path_factory)


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """``$SPOOFBENCH_CACHE`` in this test's own folder: no test sees another's demo corpus or features."""
    monkeypatch.setenv("SPOOFBENCH_CACHE", str(tmp_path / "cache"))
