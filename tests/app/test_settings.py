"""app/settings.py: a hostile settings file never stops the application from starting."""

import json

import pytest

from cisr_zoom.app.settings import LIST_LIMITS, MAX_SETTINGS_BYTES, Settings


@pytest.mark.parametrize("content, reason", [
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    (json.dumps({"recent_files": [[[[["x"]]]]]}), "nested deeper"),
    ("{ not json", "Expecting property name"),
    ("[1, 2]", "not an object"),
    (" " * (MAX_SETTINGS_BYTES + 1), "more than a settings file can be"),
])
def test_unusable_files_are_moved_aside_and_reset(tmp_path, content, reason):
    path = tmp_path / "settings.json"
    path.write_text(content)
    s = Settings.load(path)
    assert reason in s.warning and "\n" not in s.warning
    assert not path.exists() and (tmp_path / "settings.json.corrupt").read_text() == content
    assert s["recent_files"] == []


def test_long_lists_are_cut_on_load(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"recent_files": [f"/img/{i}.png" for i in range(500_000)],
                                "user_models": ["/m.pth"] * 1000, "device": "cpu"}))
    s = Settings.load(path)
    assert len(s["recent_files"]) == LIST_LIMITS["recent_files"]
    assert len(s["user_models"]) == LIST_LIMITS["user_models"]
    assert s["device"] == "cpu" and s.warning is None


def test_overlong_strings_are_reset(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"window_state": "A" * 100_000, "export_dir": "/tmp"}))
    s = Settings.load(path)
    assert s["window_state"] is None and s["export_dir"] == "/tmp"
    assert "window_state" in s.warning
