"""Where the SDK finds its token: a stored token is only ever sent to the engine it belongs to."""

from __future__ import annotations

from pathlib import Path

import pytest

from dte.client.config import resolve_token, store_credentials


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DTE_DATA_DIR", str(tmp_path / "data"))
    for name in ("DTE_TOKEN", "DTE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_stored_token_only_for_its_engine() -> None:
    path = store_credentials("https://dte.example.org", "dte_pat_stored")
    assert path.stat().st_mode & 0o777 == 0o600
    assert resolve_token(None, "https://dte.example.org/") == "dte_pat_stored"
    assert resolve_token(None, "https://elsewhere.example.org") is None


def test_local_admin_token_only_for_local_engines(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "admin.token").write_text("dte_pat_local\n")
    assert resolve_token(None, "http://127.0.0.1:8000") == "dte_pat_local"
    assert resolve_token(None, "https://dte.example.org") is None


def test_explicit_and_environment_win(monkeypatch: pytest.MonkeyPatch) -> None:
    store_credentials("http://127.0.0.1:8000", "dte_pat_stored")
    monkeypatch.setenv("DTE_TOKEN", "dte_pat_env")
    assert resolve_token(None, "http://127.0.0.1:8000") == "dte_pat_env"
    assert resolve_token("dte_pat_arg", "http://127.0.0.1:8000") == "dte_pat_arg"
