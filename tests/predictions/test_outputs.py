"""The output-location rules every command shares (taxovit._outputs)."""

from __future__ import annotations

import os
import stat

import pytest

from taxovit._outputs import OutputError, OutputPlan


def test_refuses_an_input_and_a_second_use(tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("x")
    plan = OutputPlan({"predictions file": src})
    with pytest.raises(OutputError, match="same file as predictions file"):
        plan.file("--output", src)
    with pytest.raises(OutputError, match="same file"):
        plan.file("--output", tmp_path / "sub" / ".." / "in.csv")
    link = tmp_path / "hard.csv"
    os.link(src, link)
    with pytest.raises(OutputError, match="same file"):
        plan.file("--output", link)
    plan.file("--output", tmp_path / "out.json")
    with pytest.raises(OutputError, match="same file as --output"):
        plan.file("--per-class", tmp_path / "out.json")
    assert src.read_text() == "x" and not (tmp_path / "out.json").exists()


def test_folder_and_directory_targets(tmp_path):
    plan = OutputPlan({})
    with pytest.raises(OutputError, match="is a folder"):
        plan.file("--output", tmp_path)
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        plan.file("--output", tmp_path / "f" / "report.json")
    with pytest.raises(OutputError, match="not a folder"):
        plan.folder("--plot", tmp_path / "f")


def test_all_or_nothing_with_missing_folders(tmp_path):
    plan = OutputPlan({})
    a = plan.file("-o", tmp_path / "new" / "deeper" / "a.txt")
    b = plan.file("--per-class", tmp_path / "b.txt")
    assert not (tmp_path / "new").exists()  # nothing before write()

    def boom(fh):
        raise OSError(28, "No space left on device", str(tmp_path / "b.txt"))

    with pytest.raises(OutputError, match="No space left"):
        plan.write({a: "A", b: boom})
    assert sorted(os.listdir(tmp_path)) == []  # created folders and temporaries removed
    plan.write({a: "A", b: b"B"})
    assert (tmp_path / "new" / "deeper" / "a.txt").read_text() == "A"
    assert (tmp_path / "b.txt").read_bytes() == b"B"


def test_mode_and_symlink_kept(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    plan = OutputPlan({})
    out = plan.file("-o", link)
    plan.write({out: "new"})
    assert link.is_symlink() and target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    old = os.umask(0o027)
    try:
        plan = OutputPlan({})
        fresh = plan.file("-o", tmp_path / "fresh.txt")
        plan.write({fresh: "x"})
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "fresh.txt").stat().st_mode) == 0o640


def test_devices_and_fifos_are_written_through(tmp_path, capfd):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    plan = OutputPlan({})
    null = plan.file("-o", "/dev/null")
    dash = plan.file("--per-class", "-")
    plan.write({null: "gone", dash: "to stdout\n"})
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert capfd.readouterr().out == "to stdout\n"
    with pytest.raises(OutputError, match="standard output is already used"):
        plan.file("--plot-data", "-")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
