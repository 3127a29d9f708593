import json

import pytest

from genlearn import measured as measured_module
from genlearn.measured import measured


def test_reads_a_dotted_path(tmp_path, monkeypatch):
    (tmp_path / "demo.json").write_text(json.dumps({"a": {"b": 3.5}}))
    monkeypatch.setattr(measured_module, "RESULTS_DIR", tmp_path)
    assert measured("demo", "a.b") == 3.5
    assert measured("demo") == {"a": {"b": 3.5}}


def test_missing_file_and_key_say_which(tmp_path, monkeypatch):
    (tmp_path / "demo.json").write_text(json.dumps({"a": {}}))
    monkeypatch.setattr(measured_module, "RESULTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="nothing.json"):
        measured("nothing")
    with pytest.raises(KeyError, match="'b'"):
        measured("demo", "a.b")


def test_shipped_results_exist():
    for name in ("gan", "vae", "text"):
        assert isinstance(measured(name), dict)
