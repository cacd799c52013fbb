import pytest

from skfactor.datasets import fetch_file, get_data_home


def test_get_data_home_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("SKFACTOR_DATA", raising=False)
    assert get_data_home().name == "skfactor_data"
    monkeypatch.setenv("SKFACTOR_DATA", str(tmp_path / "env"))
    assert get_data_home() == tmp_path / "env"
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"


def test_fetch_file_existing_is_not_downloaded(tmp_path):
    target = tmp_path / "data.txt"
    target.write_text("x")
    assert fetch_file("http://invalid.invalid/data.txt", target) == target


def test_fetch_file_offline_error_says_where_to_put_files(tmp_path):
    target = tmp_path / "sub" / "data.txt"
    with pytest.raises(OSError, match="place it at .*data.txt"):
        fetch_file("http://invalid.invalid/data.txt", target, timeout=2)
    assert not target.exists()
    assert list((tmp_path / "sub").iterdir()) == []
