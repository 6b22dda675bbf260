"""The command line on files from elsewhere: one escaped line, status 2, no traceback."""

import os

import numpy as np
import pytest

import _hostile as H

import rankcore.cli as cli
from rankcore.cli import main


def _call(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("hostile"))
    return {name: p for _, name, p, _ in H.hostile_cases(d)}, d


def test_control_characters_are_escaped(hostile, capsys):
    files, _ = hostile
    code, out, err = _call(capsys, "info", files["in metadata"])
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\x9b" not in out
    assert "model: MLP\\x1b[31m red \\x1b]0;title\\x07\\x0d\\x9b2J" in out
    code, out, err = _call(capsys, "info", files["in a metadata key"])
    assert code == 0 and "evil\\x1b[2Jkey: x" in out and "\x1b" not in out


@pytest.mark.parametrize("case", ["external link", "external storage", "virtual dataset",
                                  "in a layer name", "True", "count 2**26, unallocated chunks",
                                  "unsorted spectra"])
@pytest.mark.parametrize("command", ["info", "rank", "plot", "watch"])
def test_every_subcommand_one_line_status_2(hostile, capsys, tmp_path, case, command):
    files, _ = hostile
    extra = {"plot": ["-o", tmp_path / "x.png"], "watch": ["--max-updates", "1"]}
    code, out, err = _call(capsys, command, files[case], *extra.get(command, []))
    if command == "info" and case == "unsorted spectra":  # info reads no spectra rows
        assert code in (0, 2)
        return
    assert code == 2, (out, err)
    assert err.count("\n") == 1 and err.startswith(f"rankcore {command}: error: ")
    assert "Traceback" not in err and "\x1b" not in err
    assert "root:x:0:0" not in out + err  # nothing from the file the links point at


def test_path_with_control_characters(tmp_path, capsys):
    bad = tmp_path / "run\x1b[2J\nx.h5"
    code, out, err = _call(capsys, "info", bad)
    assert code == 2 and err.count("\n") == 1 and "\x1b" not in err
    assert "no such snapshot file" in err and "\\x1b[2J" in err


def test_unexpected_errors_and_ctrl_c(monkeypatch, capsys, tmp_path):
    def boom(path):
        raise RuntimeError("deep\nfailure")

    monkeypatch.setattr(cli, "_open", boom)
    code, out, err = _call(capsys, "info", tmp_path / "x.h5")
    assert code == 2 and err == "rankcore info: error: internal error (RuntimeError): " \
                                "deep\\x0afailure\n"

    def interrupt(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_open", interrupt)
    code, out, err = _call(capsys, "rank", tmp_path / "x.h5")
    assert code == 130 and err == "rankcore rank: interrupted\n"


def test_truncated_and_random_files(hostile, capsys):
    _, d = hostile
    p = H.write_run(os.path.join(d, "ok.h5"))
    data = open(p, "rb").read()
    for k in (16, 40, len(data) // 2):
        q = os.path.join(d, f"cut{k}.h5")
        with open(q, "wb") as fh:
            fh.write(data[:k])
        code, out, err = _call(capsys, "rank", q)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    q = os.path.join(d, "noise.h5")
    with open(q, "wb") as fh:
        fh.write(np.random.default_rng(0).bytes(3000))
    code, out, err = _call(capsys, "info", q)
    assert code == 2 and "not an HDF5 file" in err
