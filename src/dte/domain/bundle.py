"""Application bundles: a canonical tar.gz of an application directory.

Canonical means the same files give the same bytes (sorted entries, fixed metadata), so the
sha256 of a bundle identifies its content and a published version can be checked for identity.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from dte.domain.cwl import check_tools, load_tool_text
from dte.domain.errors import InvalidInput, PayloadTooLarge
from dte.domain.manifest import MANIFEST_FILE, AppManifest, load_manifest_text
from dte.domain.validation import pydantic_errors
from dte.domain.workflows import ComponentIndex

EXCLUDED_DIRS = {".git", ".hg", ".svn", "__pycache__", ".venv", "venv", ".pytest_cache", ".mypy_cache", ".ruff_cache", "node_modules", ".dte"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
MAX_FILES = 10_000
COMPONENT_INDEX = "dte-components.json"


def pack(files: Iterable[tuple[str, bytes, bool]]) -> bytes:
    """Canonical tar.gz of ``(posix path, content, executable)`` entries."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content, executable in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mode = 0o755 if executable else 0o644
            info.mtime = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(content))
    return gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)


def pack_directory(directory: Path, generated: Mapping[str, bytes] | None = None) -> bytes:
    """Bundle an application directory (VCS folders, caches and virtualenvs are left out), plus
    ``generated`` files (build outputs such as the component index) that replace any on disk."""
    generated = generated or {}
    directory = directory.resolve()
    if not (directory / MANIFEST_FILE).is_file():
        raise InvalidInput(f"{directory} has no {MANIFEST_FILE}", code="invalid_bundle")
    files = []
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if any(part in EXCLUDED_DIRS for part in relative.parts) or path.suffix in EXCLUDED_SUFFIXES:
            continue
        if path.is_symlink():
            raise InvalidInput(f"{relative} is a symbolic link; bundles hold regular files only", code="invalid_bundle")
        if path.is_file() and relative.as_posix() not in generated:
            files.append((relative.as_posix(), path.read_bytes(), bool(path.stat().st_mode & 0o100)))
    files += [(name, content, False) for name, content in generated.items()]
    return pack(files)


def _safe_path(name: str) -> str:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts or "\\" in name:
        raise InvalidInput(f"bundle entry {name!r} has an unsafe path", code="invalid_bundle")
    return path.as_posix()


def unpack(data: bytes, max_bytes: int) -> dict[str, tuple[bytes, bool]]:
    """Read an uploaded tar.gz safely: regular files only, no path escapes, bounded size."""
    try:
        raw = gzip.GzipFile(fileobj=io.BytesIO(data)).read(max_bytes + 1)
    except (OSError, EOFError, zlib.error) as exc:  # zlib.error: a gzip header over corrupt data
        raise InvalidInput(f"the bundle is not a gzip file: {exc}", code="invalid_bundle") from None
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"the bundle unpacks to more than {max_bytes} bytes", code="bundle_too_large")
    files: dict[str, tuple[bytes, bool]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as tar:
            for member in tar:
                if member.isdir():
                    continue
                if not member.isfile():
                    raise InvalidInput(f"bundle entry {member.name!r} is not a regular file", code="invalid_bundle")
                path = _safe_path(member.name)
                if path in files:
                    raise InvalidInput(f"bundle entry {path!r} appears twice", code="invalid_bundle")
                if len(files) >= MAX_FILES:
                    raise InvalidInput(f"the bundle has more than {MAX_FILES} files", code="invalid_bundle")
                handle = tar.extractfile(member)
                files[path] = (handle.read() if handle else b"", bool(member.mode & 0o100))
    except tarfile.TarError as exc:
        raise InvalidInput(f"the bundle is not a valid tar archive: {exc}", code="invalid_bundle") from None
    if MANIFEST_FILE not in files:
        raise InvalidInput(f"the bundle has no {MANIFEST_FILE} at its top level", code="invalid_bundle")
    folders = {parent.as_posix() for path in files for parent in PurePosixPath(path).parents}
    clash = sorted(folders & files.keys())
    if clash:  # such a bundle could be published but never unpacked
        raise InvalidInput(f"bundle entry {clash[0]!r} is both a file and a folder", code="invalid_bundle")
    return files


def canonicalize(data: bytes, max_bytes: int) -> tuple[AppManifest, ComponentIndex, bytes]:
    """Validate an uploaded bundle; return its manifest, its component index and its canonical bytes."""
    files = unpack(data, max_bytes)
    manifest = load_manifest_text(files[MANIFEST_FILE][0])
    index = component_index(files.get(COMPONENT_INDEX, (None, False))[0], manifest)
    check_tools(manifest.tools, {p: load_tool_text(files[p][0], p) for p in manifest.tools if p in files},
                manifest.version, index.components)
    return manifest, index, pack((path, content, executable) for path, (content, executable) in files.items())


def component_index(data: bytes | None, manifest: AppManifest) -> ComponentIndex:
    """The bundle's ``dte-components.json`` (signatures of its own components), validated."""
    if data is None:
        if manifest.components or manifest.tools:
            raise InvalidInput(f"the manifest names component modules or tools but the bundle has no {COMPONENT_INDEX}; "
                               "publish with 'dte app publish', which builds it", code="invalid_bundle")
        return ComponentIndex()
    try:
        index = ComponentIndex.model_validate_json(data)
    except ValidationError as exc:
        raise InvalidInput(f"{COMPONENT_INDEX} is invalid", code="invalid_components",
                           errors=pydantic_errors(exc, f"/{COMPONENT_INDEX}")) from None
    return index


def extract(data: bytes, target: Path, max_bytes: int) -> list[Path]:
    """Write a bundle's files under ``target`` (which must be empty or absent)."""
    files = unpack(data, max_bytes)
    target.mkdir(parents=True, exist_ok=True)
    if any(target.iterdir()):
        raise InvalidInput(f"{target} is not empty", code="target_not_empty")
    written = []
    for path, (content, executable) in sorted(files.items()):
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(content)
        if executable:
            destination.chmod(0o755)
        written.append(destination)
    return written
