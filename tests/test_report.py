"""The run report on disk errors: one line naming the file, a non-zero exit, no flood of plot warnings."""
import errno
import os
import subprocess

import pytest
from click.testing import CliRunner

from spoofbench.benchmark.cli import cli
from spoofbench.protocols.files import write_text_atomic

pytestmark = pytest.mark.usefixtures("private_cache")


def _run(corpus, out):
    return CliRunner().invoke(cli, ["run", "--detectors", "spectral-lr", "--data", str(corpus), "--out", str(out),
                                    "--fusion", "none", "--n-bootstrap", "0"], catch_exceptions=False)


def _errors_and_warnings(result):
    return [line for line in result.stderr.splitlines() if line.startswith(("error", "warning"))]


def test_full_disk_while_drawing_plots_stops_the_report_with_one_line(corpus, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    def full_disk(self, fname, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", fname)

    monkeypatch.setattr(Figure, "savefig", full_disk)
    out = tmp_path / "out"
    result = _run(corpus, out)
    assert result.exit_code == 2
    assert _errors_and_warnings(result) == [f"error: {out / 'plots' / 'det.png'}: No space left on device"]
    assert not [p for p in os.listdir(out / "plots") if p.startswith(".")]  # no temporary file left


def test_read_only_plots_folder_stops_the_report_with_one_line(corpus, tmp_path):
    out = tmp_path / "out"
    (out / "plots").mkdir(parents=True)
    undo = _make_read_only(out / "plots")
    try:
        result = _run(corpus, out)
    finally:
        undo()
    assert result.exit_code == 2
    lines = _errors_and_warnings(result)
    assert len(lines) == 1  # EACCES under chmod, EPERM under chattr +i (root)
    assert lines[0] in (f"error: {out / 'plots' / 'det.png'}: {reason}" for reason in
                        ("Permission denied", "Operation not permitted"))


def test_a_plot_that_fails_to_draw_costs_a_warning_only(corpus, tmp_path, monkeypatch):
    from spoofbench.benchmark import plots

    def broken(*args, **kwargs):
        raise ValueError("cannot draw this")

    monkeypatch.setattr(plots, "plot_det_grid", broken)
    result = _run(corpus, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert _errors_and_warnings(result) == ["warning: plot det_per_attack failed: ValueError: cannot draw this"]
    assert (tmp_path / "out" / "plots" / "det.png").is_file()


def test_a_failed_atomic_write_names_the_file_not_its_temporary_name(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    undo = _make_read_only(folder)
    try:
        with pytest.raises(PermissionError) as caught:
            write_text_atomic(folder / "table.md", "text")
    finally:
        undo()
    assert caught.value.filename == str(folder / "table.md")


def _make_read_only(folder):
    """chmod for normal users; root ignores modes, so use the immutable attribute there."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return lambda: folder.chmod(0o755)
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    return lambda: subprocess.run(["chattr", "-i", str(folder)], check=True)
