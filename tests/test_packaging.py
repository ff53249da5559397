"""The distribution installs one import namespace, ``spoofbench``, whatever folders the repository keeps."""
import os
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str, cwd) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, env=env)


def test_every_package_folder_is_declared():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    on_disk = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            on_disk.add(".".join([package, *rel.parts]))
    assert on_disk == set(config["packages"])


def test_public_api_from_outside_the_repository(tmp_path):
    done = _run("import spoofbench, sys; names = spoofbench.list_detectors(); "
                "assert {'rawnet2', 'lfcc-gmm', 'cqcc-gmm'} <= set(names), names; "
                "assert spoofbench.Detector is spoofbench.detectors.Detector; "
                "print(sorted(m for m in sys.modules if m.split('.')[0] in ('detectors', 'protocols', 'benchmark')))",
                tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"   # nothing was imported under the old top-level names


def test_generic_top_level_names_are_not_claimed(tmp_path):
    for name in ("benchmark", "detectors", "protocols"):
        done = _run(f"import {name}", tmp_path)
        assert done.returncode != 0 and "No module named" in done.stderr, (name, done.stdout, done.stderr)


def test_no_source_file_imports_the_old_names():
    pattern = re.compile(r"^\s*(from|import)\s+(detectors|protocols|benchmark)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for folder in ("detectors", "protocols", "benchmark", "tests", "spoofbench")
                 for p in (ROOT / folder).rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []
