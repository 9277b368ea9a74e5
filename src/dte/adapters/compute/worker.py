"""What runs on a Dask worker: load a component, call it, hand its outputs on.

This is the only place where application and module code is imported: from an installed module
(entry point group ``dte.components``) or from the immutable bundle an application version was
published as, fetched from the object store by its sha256 and never from a mutable path.
Everything that crosses to or from the engine is plain data (:class:`StepTask`, envelopes).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.machinery
import io
import json
import logging
import os
import pickle
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
import types
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from dte.adapters.objects import FsspecObjectStore
from dte.domain.bundle import extract
from dte.domain.workflows import ComponentSpec, canonical_json

ENTRY_POINT_GROUP = "dte.components"
JSON_MEDIA = "application/json"
PICKLE_MEDIA = "application/x-python-pickle"
MAX_LOG_CHARS = 256 * 1024
MAX_BUNDLE_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class StepTask:
    """Everything a worker needs for one step; pickled to the worker, so plain data only."""

    run_id: str
    step: str
    component: dict[str, Any]  # ComponentSpec as JSON
    bundle_sha256: str | None  # set for the application's own components
    objects_url: str
    literals: dict[str, Any]  # inputs already known when the run starts (values)
    wiring: dict[str, tuple[str, str]]  # input -> (upstream step, its output port)
    retries: int = 0
    backoff: float = 1.0
    timeout: float | None = None
    cache: bool = False
    inline_limit: int = 64 * 1024


class StepFailed(Exception):
    """A step failed after its attempts; carries what the run record needs."""

    def __init__(self, step: str, error: str, logs: str = "", attempts: int = 0, started: str | None = None,
                 finished: str | None = None, worker: str = "") -> None:
        super().__init__(step, error, logs, attempts, started, finished, worker)
        self.step, self.error, self.logs, self.attempts = step, error, logs, attempts
        self.started, self.finished, self.worker = started, finished, worker

    def __str__(self) -> str:
        return f"step {self.step!r} failed: {self.error}"


# --- per-thread capture of print() and logging ------------------------------------------------------

_capture = threading.local()


class _Router(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: writes of a thread that captures go to its buffer."""

    def __init__(self, original: Any) -> None:
        self.original = original

    def write(self, text: str) -> int:
        buffer = getattr(_capture, "buffer", None)
        if buffer is None:
            return self.original.write(text)
        if buffer.tell() < MAX_LOG_CHARS:
            buffer.write(text)
        return len(text)

    def flush(self) -> None:
        self.original.flush()


class _Handler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        buffer = getattr(_capture, "buffer", None)
        if buffer is not None and buffer.tell() < MAX_LOG_CHARS:
            buffer.write(f"{record.levelname} {record.name}: {record.getMessage()}\n")


_installed = threading.Lock()


def _install_capture() -> None:
    with _installed:
        if not isinstance(sys.stdout, _Router):
            sys.stdout = _Router(sys.stdout)
            sys.stderr = _Router(sys.stderr)
            root = logging.getLogger()
            root.addHandler(_Handler())
            if root.level > logging.INFO:
                root.setLevel(logging.INFO)


@contextlib.contextmanager
def _captured() -> Any:
    _install_capture()
    _capture.buffer = buffer = io.StringIO()
    try:
        yield buffer
    finally:
        _capture.buffer = None


# --- loading components -------------------------------------------------------------------------------

_functions: dict[tuple[str, str, str | None], Any] = {}
_load_lock = threading.Lock()
_stores: dict[str, FsspecObjectStore] = {}


def _store(url: str) -> FsspecObjectStore:
    store = _stores.get(url)
    if store is None:
        store = _stores[url] = FsspecObjectStore(url)
    return store


def _bundle_dir(sha256: str, objects_url: str) -> Path:
    """The bundle unpacked once per worker machine, under its hash (verified when fetched)."""
    root = Path(tempfile.gettempdir()) / "dte-bundles"
    target = root / sha256
    if target.is_dir():
        return target
    data = _store(objects_url).get_sync(sha256)
    staging = root / f".{sha256}.{os.getpid()}.{threading.get_ident()}"
    shutil.rmtree(staging, ignore_errors=True)
    extract(data, staging, MAX_BUNDLE_BYTES)
    try:
        staging.rename(target)
    except OSError:  # another worker process won the race: same content
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _bundle_package(sha256: str, objects_url: str) -> str:
    """A package named after the bundle's hash whose path is the unpacked bundle, so two versions
    of one application never share ``sys.modules`` entries."""
    alias = f"_dte_bundle_{sha256[:20]}"
    if alias not in sys.modules:
        directory = str(_bundle_dir(sha256, objects_url))
        package = types.ModuleType(alias)
        package.__path__ = [directory]
        package.__spec__ = importlib.machinery.ModuleSpec(alias, None, is_package=True)
        package.__spec__.submodule_search_locations = [directory]
        sys.modules[alias] = package
    return alias


def load(spec: ComponentSpec, bundle_sha256: str | None, objects_url: str) -> Any:
    key = (spec.ref, spec.entry, bundle_sha256)
    func = _functions.get(key)
    if func is None:
        with _load_lock:
            if spec.tool is not None and bundle_sha256 is not None:  # an imported CWL tool: run from its document
                from dte.adapters.compute.cwl import tool_function

                return tool_function(spec, _bundle_dir(bundle_sha256, objects_url))  # per step: its own timeout
            module_name, _, attribute = spec.entry.partition(":")
            if bundle_sha256 is not None:
                module_name = f"{_bundle_package(bundle_sha256, objects_url)}.{module_name}"
            func = getattr(importlib.import_module(module_name), attribute)
            _functions[key] = func
    return func


# --- values ---------------------------------------------------------------------------------------------

def encode(value: Any) -> tuple[bytes, str]:
    """JSON when the value is JSON (hashable the same way everywhere), else pickle."""
    try:
        return canonical_json(value), JSON_MEDIA
    except (TypeError, ValueError):
        return pickle.dumps(value, protocol=5), PICKLE_MEDIA


def decode(data: bytes, media_type: str) -> Any:
    return json.loads(data) if media_type == JSON_MEDIA else pickle.loads(data)  # noqa: S301 - our own outputs


def pack_value(value: Any, store: FsspecObjectStore, inline_limit: int) -> dict[str, Any]:
    """A step output as the engine records it: inline when small and JSON, else an artifact."""
    data, media_type = encode(value)
    sha = hashlib.sha256(data).hexdigest()
    if media_type == JSON_MEDIA and len(data) <= inline_limit:
        return {"sha256": sha, "size": len(data), "media_type": media_type, "value": value}
    store.put_sync(data, sha)
    return {"sha256": sha, "size": len(data), "media_type": media_type, "artifact": True}


def unpack_value(packed: dict[str, Any], store: FsspecObjectStore) -> Any:
    if "value" in packed:
        return packed["value"]
    return decode(store.get_sync(packed["sha256"]), packed["media_type"])


def value_hash(value: Any) -> str:
    return hashlib.sha256(encode(value)[0]).hexdigest()


# --- running a step -------------------------------------------------------------------------------------

def _now() -> str:
    return datetime.now(UTC).isoformat()


def _cache_key(task: StepTask, spec: ComponentSpec, input_hashes: dict[str, str]) -> str:
    basis = {"component": spec.ref, "version": spec.version, "entry": spec.entry, "bundle": task.bundle_sha256,
             "inputs": input_hashes}
    return hashlib.sha256(canonical_json(basis)).hexdigest()


def _attempt(func: Any, arguments: dict[str, Any], spec: ComponentSpec, timeout: float | None) -> dict[str, Any]:
    from dte.sdk.component import call

    outputs = tuple(spec.outputs) if list(spec.outputs) != ["result"] else ()
    if timeout is None:
        return call(func, arguments, outputs)
    # The call runs in a thread of its own so the step can give up waiting; Python cannot stop the
    # thread, so it finishes in the background and its result is dropped.
    parent = getattr(_capture, "buffer", None)

    def in_thread() -> dict[str, Any]:
        _capture.buffer = parent
        try:
            return call(func, arguments, outputs)
        finally:
            _capture.buffer = None

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"dte-step-{spec.ref}")
    try:
        return pool.submit(in_thread).result(timeout=timeout)
    except FutureTimeout:
        raise TimeoutError(f"timed out after {timeout:g} s") from None
    finally:
        pool.shutdown(wait=False)


_specs: dict[str, ComponentSpec] = {}


def _spec(document: dict[str, Any]) -> ComponentSpec:
    """Specs repeat across steps and runs: validate each distinct one once per worker."""
    key = canonical_json(document).decode()
    spec = _specs.get(key)
    if spec is None:
        spec = _specs[key] = ComponentSpec.model_validate(document)
    return spec


def run_step(task: StepTask, *upstream: dict[str, Any]) -> dict[str, Any]:
    """Dask task of one step. ``upstream`` are the envelopes of the steps it reads from."""
    started = _now()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    spec = _spec(task.component)
    if spec.tool is not None:  # an imported CWL tool's program is stopped at the step's timeout
        spec = spec.model_copy(update={"timeout": task.timeout})
    store = _store(task.objects_url)
    by_step = {env["step"]: env for env in upstream}
    attempts = 0
    with _captured() as logs:
        try:
            arguments = dict(task.literals)
            for port, (step, out) in task.wiring.items():
                arguments[port] = unpack_value(by_step[step]["outputs"][out], store)
            input_hashes = {name: value_hash(value) for name, value in sorted(arguments.items())}
            key = _cache_key(task, spec, input_hashes) if task.cache else None
            if key is not None:
                hit = store.get_named_sync("cache", key)
                if hit is not None:
                    return {"step": task.step, "outputs": json.loads(hit), "inputs": input_hashes, "attempts": 0,
                            "cached": True, "started": started, "finished": _now(), "logs": "", "worker": worker}
            func = load(spec, task.bundle_sha256, task.objects_url)
            while True:
                attempts += 1
                try:
                    produced = _attempt(func, arguments, spec, task.timeout)
                    break
                except Exception as exc:
                    logs.write(f"attempt {attempts} failed: {type(exc).__name__}: {exc}\n")
                    if attempts > task.retries:
                        raise
                    time.sleep(task.backoff * 2 ** (attempts - 1))
            outputs = {name: pack_value(value, store, task.inline_limit) for name, value in produced.items()}
            if key is not None:
                store.put_named_sync("cache", key, canonical_json(outputs))
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(exc)).strip()
            trace = "".join(traceback.format_exception(exc))
            raise StepFailed(task.step, detail, logs.getvalue() + trace, attempts, started, _now(), worker) from None
        return {"step": task.step, "outputs": outputs, "inputs": input_hashes, "attempts": attempts, "cached": False,
                "started": started, "finished": _now(), "logs": logs.getvalue(), "worker": worker}


# --- what is installed on this worker ---------------------------------------------------------------------

def describe_installed() -> list[dict[str, Any]]:
    """Specs of every component of the thematic modules installed here (entry point group
    ``dte.components``: ``namespace = "package.module"``)."""
    from dte.sdk.component import components_of

    specs: list[dict[str, Any]] = []
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        module = importlib.import_module(point.value)
        distribution = point.dist.name if point.dist else "unknown"
        version = point.dist.version if point.dist else "0"
        for spec in components_of(module, point.name, version, f"module:{distribution}"):
            specs.append(spec.model_dump(mode="json", by_alias=True, exclude_none=True))
    return specs


def installed_fingerprint() -> str:
    """Changes when a module providing components is installed, removed or upgraded (read from
    package metadata, without importing anything)."""
    points = sorted((p.name, p.value, p.dist.name if p.dist else "", p.dist.version if p.dist else "")
                    for p in entry_points(group=ENTRY_POINT_GROUP))
    return hashlib.sha256(canonical_json(points)).hexdigest()


if __name__ == "__main__":  # ``python -m dte.adapters.compute.worker``: describe this host's modules
    print(json.dumps(describe_installed()))
