"""The `kubetfx` command's surface: every --help, --version, and one message (exit 2) for
each mistake a user makes with their data, before any pipeline step runs."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from kubetfx import cli


def _subcommands() -> list[str]:
    parser = cli.build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sorted(actions[0].choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_help_works(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: kubetfx {command}" in capsys.readouterr().out


def test_top_level_help_and_version_from_the_installed_command():
    for flag, expected in (("--help", "usage: kubetfx"), ("--version", "kubetfx 0.1.0")):
        done = subprocess.run(
            [sys.executable, "-m", "kubetfx.cli", flag], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert expected in done.stdout
    # every subcommand is listed in the top-level help
    listed = subprocess.run(
        [sys.executable, "-m", "kubetfx.cli", "--help"], capture_output=True, text=True
    ).stdout
    assert all(command in listed for command in _subcommands())


def _run(capsys, *argv: str) -> tuple[int, str]:
    code = cli.main(["run", *argv])
    return code, capsys.readouterr().err


def _csv(tmp_path, name: str, body: bytes | str) -> str:
    path = tmp_path / name
    path.write_bytes(body if isinstance(body, bytes) else body.encode())
    return str(path)


ROWS = "".join(f"{i % 7},{i * 0.5},{'ab'[i % 2]}\n" for i in range(60))


@pytest.mark.parametrize(
    ("name", "body", "label", "expected"),
    [
        ("empty.csv", "", "y", r"empty\.csv: the file is empty; give a CSV file with a header"),
        ("header.csv", "a,b,y\n", "y", r"has a header \(3 columns\) but no rows"),
        (
            "latin1.csv",
            b"a,town,y\n" + ROWS.encode() + b"1,M\xfcnchen,a\n",
            "y",
            r"column 'town', row 61: b'M\\xfcnchen' is not UTF-8 text; save the file as UTF-8",
        ),
        ("nolabel.csv", "a,b,y\n" + ROWS, "churn", r"data.label: 'churn' is not a column"),
        (
            "oneclass.csv",
            "a,b,y\n" + "".join(f"{i},{i},yes\n" for i in range(50)),
            "y",
            r"data.label: column 'y' .* has one value \('yes'\) in all 50 rows",
        ),
        (
            "constant.csv",
            "a,y\n" + "".join(f"{i},2.5\n" for i in range(50)),
            "y",
            r"has one value \(2.5\).*varying target",
        ),
        (
            "mixed.csv",
            "age,b,y\n" + ROWS + "unknown,1.0,a\n",
            "y",
            r"column 'age' holds numbers in 60 of 61 rows but row 61 has 'unknown'; .*"
            r"data.column_types: \{age: string\}",
        ),
        ("garbage.parquet", b"\x00\x01 not parquet", "y", r"not a readable Parquet file"),
        (
            "ragged.csv",
            "a,b,y\n1,2,x\n3,4\n5,6,x\n",
            "y",
            r"ragged\.csv: row 2 has 2 fields where the header has 3; .*must be quoted",
        ),
        (
            "semicolons.csv",
            "a;b;y\n1;2;x\n3;4;y\n",
            "y",
            r"columns are \['a;b;y'\]\. The header looks separated by ';'",
        ),
    ],
)
def test_bad_input_is_one_message_and_exit_2(tmp_path, capsys, name, body, label, expected):
    path = _csv(tmp_path, name, body)
    code, err = _run(capsys, "--data", path, "--label", label, "--pipeline-root", str(tmp_path))
    assert code == 2
    assert "Traceback" not in err
    assert err.count("\n") == 1, err  # one line
    assert name in err or "data.label" in err
    import re

    assert re.search(expected, err), err
    assert not list(tmp_path.glob("kubetfx-training-*")), "no step may have started"


def test_a_glob_matching_nothing_and_an_unreadable_path(tmp_path, capsys):
    code, err = _run(capsys, "--data", str(tmp_path / "nothing-*.csv"), "--label", "y")
    assert code == 2 and "no file matches" in err
    (tmp_path / "dir.csv").mkdir()
    code, err = _run(capsys, "--data", str(tmp_path / "dir.csv"), "--label", "y")
    assert code == 2 and "dir.csv: cannot be read (Is a directory)" in err, err


def test_verbose_adds_the_traceback(tmp_path, capsys):
    path = _csv(tmp_path, "empty.csv", "")
    code, err = _run(capsys, "--data", path, "--label", "y", "--verbose")
    assert code == 2
    assert "Traceback" in err and "ArrowInvalid" in err  # the cause, kept with raise ... from
    assert err.rstrip().endswith("give a CSV file with a header row and rows of data")


def test_a_value_past_the_first_block_names_its_row(tmp_path):
    from kubetfx.components.ingest.inputs import read_batches
    from kubetfx.errors import DataError

    path = _csv(tmp_path, "late.csv", "a,y\n" + "1,x\n" * 2_000 + "oops,y\n")
    with pytest.raises(DataError, match=r"column 'a', row 2001: 'oops' is not a int64"):
        list(read_batches([path], "csv", {}, block_bytes=1024))
