"""Settings: environment over dte.toml over defaults; secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from dte.settings import Settings, mask_url


def test_toml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "dte.toml").write_text('port = 9000\nhost = "0.0.0.0"\nobjects_url = "memory://x"\n')
    monkeypatch.setenv("DTE_PORT", "9100")
    settings = Settings()
    assert settings.port == 9100  # the environment wins
    assert settings.host == "0.0.0.0" and settings.effective_objects_url == "memory://x"


def test_embedded_defaults_live_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path}/dte.sqlite3"
    assert settings.effective_objects_url == str(tmp_path / "objects")


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://dte:pw@db:5432/dte", "postgresql://dte:***@db:5432/dte"),
    ("postgresql://dte@db/dte", "postgresql://dte@db/dte"),
    ("s3://bucket/prefix", "s3://bucket/prefix"),
    ("sqlite:////tmp/x.sqlite3", "sqlite:////tmp/x.sqlite3"),
])
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_admin_token_must_look_like_a_token() -> None:
    with pytest.raises(ValidationError, match="dte_pat_"):
        Settings(admin_token="password")
