from __future__ import annotations

import codecs
import zipfile
from pathlib import Path

import pytest

from corporate import files
from corporate.files import _line, detect_encoding, members, read_lines

LINE = ('1,1000012160145,01,0,2015-10-26,2015-10-05,"弘前検察審査会",,101,"青森県","弘前市","大字下白銀町７",,02,202,'
        '0368356,,,,,,,2015-10-05')


def test_shift_jis_is_detected_and_decoded_as_cp932(tmp_path: Path) -> None:
    path = tmp_path / "sjis.csv"
    path.write_bytes((LINE.replace("７", "－") + "\r\n").encode("cp932"))
    assert detect_encoding(path.read_bytes()) == "cp932"
    [line] = list(read_lines(path))
    assert line.fields is not None and line.fields[11] == "大字下白銀町－"
    assert "\uff0d" in line.fields[11]  # cp932's full-width hyphen-minus, as in the NTA's Unicode files


def test_zip_members_are_read_and_signatures_skipped(tmp_path: Path) -> None:
    path = tmp_path / "02_aomori_all_20160229.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("02_aomori_all_20160229.csv", (LINE + "\n") * 2)
        archive.writestr("02_aomori_all_20160229.csv.asc", "-----BEGIN PGP SIGNATURE-----")
    assert [member.source for member in members(path)] == ["02_aomori_all_20160229.zip:02_aomori_all_20160229.csv"]
    lines = list(read_lines(path))
    assert [(line.number, line.fields is not None) for line in lines] == [(1, True), (2, True)]


def test_broken_bytes_and_open_quotes_spoil_only_their_own_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.csv"
    good = (LINE + "\n").encode()
    path.write_bytes(good + b'1,"\xff\xfe broken\n' + b'2,1000012160145,"truncated\n' + good)
    lines = list(read_lines(path))
    assert [(line.number, line.problem) for line in lines] == [
        (1, None), (2, "not valid UTF-8"), (3, "malformed CSV (unbalanced quotes or a truncated line)"), (4, None)]


def test_blocks_read_as_lines_would(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A block is parsed in one go only when that gives what line by line gives; else line by line."""
    good = (LINE + "\n").encode()
    odd = [b'1,"\xff\xfe broken\n', b'2,1000012160145,"truncated\n', b"\n", b"   \n", b"a,b\r\n", b"x,\"y\r\n",
           b"\x00abc\n", "1,\"壊れた\n".encode("cp932")]
    path = tmp_path / "mixed.csv"
    path.write_bytes(codecs.BOM_UTF8 + good * 3 + b"".join(odd) + good * 3 + b"q,\"w\n" + good + b"last,line")
    expected = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        fields, problem = _line(raw[3:] if number == 1 else raw, "utf-8")
        expected.append((number, fields, problem))
    for block_bytes in (1, 100, 1 << 18):
        monkeypatch.setattr(files, "BLOCK_BYTES", block_bytes)
        assert [(line.number, line.fields, line.problem) for line in read_lines(path)] == expected
