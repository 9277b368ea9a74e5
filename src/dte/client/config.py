"""Where clients find the engine and their token: arguments, then DTE_URL / DTE_TOKEN, then files."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from dte.fileutil import write_private

DEFAULT_URL = "http://127.0.0.1:8000"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def credentials_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dte" / "credentials.json"


def _stored() -> dict[str, str]:
    path = credentials_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def resolve_url(url: str | None = None) -> str:
    return (url or os.environ.get("DTE_URL") or _stored().get("url") or DEFAULT_URL).rstrip("/")


def resolve_token(token: str | None = None, url: str | None = None) -> str | None:
    """Token from the argument, ``DTE_TOKEN``, ``dte login``'s file (for the URL it was stored with),
    or - only for an engine on this machine - the admin token the embedded engine wrote."""
    if token:
        return token
    if os.environ.get("DTE_TOKEN"):
        return os.environ["DTE_TOKEN"]
    target = resolve_url(url)
    stored = _stored()
    if stored.get("token") and stored.get("url", "").rstrip("/") == target:
        return stored["token"]  # only to the engine it was stored for
    if urlsplit(target).hostname not in LOCAL_HOSTS:
        return None
    data_dir = Path(os.environ.get("DTE_DATA_DIR", ".dte"))
    admin = data_dir / "admin.token"
    if admin.is_file():
        return admin.read_text().strip() or None
    return None


def store_credentials(url: str, token: str) -> Path:
    path = credentials_file()
    write_private(path, json.dumps({"url": url, "token": token}))
    return path
