"""``@component``: a typed Python function becomes a workflow step.

The decorator only attaches metadata; the function stays a plain function that its own tests call.
:func:`describe` turns it into a :class:`~dte.domain.workflows.ComponentSpec` (JSON Schema per port,
from the type hints) - on the developer's machine when a bundle is built, on a worker for the
installed thematic modules, never inside the engine's API process.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any, TypeVar, get_args, get_origin, overload

from pydantic import BaseModel, TypeAdapter
from pydantic.errors import PydanticInvalidForJsonSchema, PydanticSchemaGenerationError

from dte.domain.workflows import DEFAULT_OUTPUT, ComponentSpec, Port, Resources

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__dte_component__"


@dataclass(frozen=True)
class ComponentMeta:
    name: str | None = None
    version: str | None = None
    description: str | None = None
    outputs: tuple[str, ...] = ()
    policy: dict[str, Any] = field(default_factory=dict)


@overload
def component(func: F) -> F: ...


@overload
def component(*, name: str | None = None, version: str | None = None, description: str | None = None,
              outputs: Iterable[str] = (), retries: int | None = None, backoff: float | None = None,
              timeout: float | None = None, cache: bool | None = None, cpu: float | None = None,
              memory: int | None = None, gpu: int | None = None) -> Callable[[F], F]: ...


def component(func: F | None = None, *, name: str | None = None, version: str | None = None,
              description: str | None = None, outputs: Iterable[str] = (), retries: int | None = None,
              backoff: float | None = None, timeout: float | None = None, cache: bool | None = None,
              cpu: float | None = None, memory: int | None = None, gpu: int | None = None) -> Any:
    """Mark a function as a component. Positional-or-keyword arguments are its inputs, keyword-only
    arguments its parameters; the return value is the output ``result``, or with
    ``outputs=("a", "b")`` a tuple (or dict) of named outputs. ``retries``, ``backoff`` (seconds),
    ``timeout`` (seconds), ``cache`` and the resource hints are defaults that a workflow step may
    override."""
    resources = {k: v for k, v in {"cpu": cpu, "memory": memory, "gpu": gpu}.items() if v is not None}
    policy = {k: v for k, v in {"retries": retries, "backoff": backoff, "timeout": timeout, "cache": cache}.items()
              if v is not None}
    if resources:
        policy["resources"] = resources
    meta = ComponentMeta(name=name, version=version, description=description, outputs=tuple(outputs), policy=policy)

    def mark(target: F) -> F:
        if not callable(target) or inspect.isclass(target):
            raise TypeError("@component decorates functions")
        setattr(target, ATTRIBUTE, meta)
        return target

    return mark(func) if func is not None else mark


def meta_of(func: Callable[..., Any]) -> ComponentMeta | None:
    return getattr(func, ATTRIBUTE, None)


def schema_of(hint: Any) -> dict[str, Any]:
    if hint is inspect.Parameter.empty or hint is Any:
        return {}
    try:
        schema = TypeAdapter(hint).json_schema()
    except (PydanticSchemaGenerationError, PydanticInvalidForJsonSchema, TypeError):
        # e.g. numpy arrays, data frames: passed as they are (as artifacts when large), not checked
        return {"x-python-type": getattr(hint, "__qualname__", str(hint))}
    schema.pop("title", None)
    return schema


@cache
def _hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception as exc:  # a hint that does not resolve is the developer's to fix, with its name
        raise TypeError(f"cannot read the type hints of {func.__module__}.{func.__qualname__}: {exc}") from None


def describe(func: Callable[..., Any], ref: str, entry: str, default_version: str, source: str) -> ComponentSpec:
    """The :class:`ComponentSpec` of a decorated function."""
    meta = meta_of(func) or ComponentMeta()
    hints = _hints(func)
    inputs: dict[str, Port] = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise TypeError(f"{entry}: component arguments must be named (no *args, **kwargs or positional-only)")
        has_default = param.default is not inspect.Parameter.empty
        inputs[param.name] = Port(schema=schema_of(hints.get(param.name, inspect.Parameter.empty)),
                                  required=not has_default, default=_plain(param.default) if has_default else None,
                                  kind="parameter" if param.kind == param.KEYWORD_ONLY else "input")
    returned = hints.get("return", inspect.Parameter.empty)
    if meta.outputs:
        parts = get_args(returned) if get_origin(returned) is tuple else ()
        if parts and len(parts) != len(meta.outputs):
            raise TypeError(f"{entry}: outputs={meta.outputs} but the return type has {len(parts)} parts")
        outputs = {n: Port(schema=schema_of(parts[i]) if parts else {}) for i, n in enumerate(meta.outputs)}
    else:
        outputs = {DEFAULT_OUTPUT: Port(schema=schema_of(returned) if returned is not type(None) else {"type": "null"})}
    doc = inspect.getdoc(func) or ""
    return ComponentSpec(ref=ref, version=meta.version or default_version, entry=entry,
                         description=meta.description or doc.split("\n\n")[0].strip(), inputs=inputs, outputs=outputs,
                         source=source, **meta.policy)


def _plain(value: Any) -> Any:
    """Defaults go into JSON documents: keep the JSON ones, describe the others."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return repr(value)


def components_of(module: ModuleType, namespace: str | None, default_version: str, source: str,
                  entry_module: str | None = None) -> list[ComponentSpec]:
    """Every ``@component`` function of a module, as specs named ``namespace.name`` (or ``name``)."""
    found: dict[str, ComponentSpec] = {}
    for attribute, value in sorted(vars(module).items()):
        meta = meta_of(value) if callable(value) else None
        if meta is None:
            continue
        name = meta.name or value.__name__
        ref = f"{namespace}.{name}" if namespace else name
        entry = f"{entry_module or module.__name__}:{attribute}"
        if ref in found:
            raise TypeError(f"two components are named {ref!r} in {module.__name__}")
        found[ref] = describe(value, ref, entry, default_version, source)
    return list(found.values())


@cache
def input_adapter(hint: Any) -> TypeAdapter[Any] | None:
    """Validator that turns JSON inputs into the declared Python types (dicts into models...)."""
    if hint is inspect.Parameter.empty or hint is Any:
        return None
    try:
        return TypeAdapter(hint)
    except (PydanticSchemaGenerationError, TypeError):
        return None


def call(func: Callable[..., Any], inputs: dict[str, Any], outputs: tuple[str, ...]) -> dict[str, Any]:
    """Call a component with JSON-ish inputs; return its outputs by name."""
    hints = _hints(func)
    arguments = {}
    for name, value in inputs.items():
        adapter = input_adapter(hints.get(name, inspect.Parameter.empty))
        arguments[name] = adapter.validate_python(value) if adapter is not None else value
    result = func(**arguments)
    if not outputs:
        return {DEFAULT_OUTPUT: _dump(result)}
    if isinstance(result, dict):
        missing = [o for o in outputs if o not in result]
        if missing:
            raise ValueError(f"the component returned no {', '.join(missing)}")
        return {o: _dump(result[o]) for o in outputs}
    if not isinstance(result, tuple) or len(result) != len(outputs):
        raise ValueError(f"the component must return a tuple or dict of {len(outputs)} outputs {outputs}")
    return {o: _dump(v) for o, v in zip(outputs, result, strict=True)}


def _dump(value: Any) -> Any:
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


__all__ = ["Resources", "component", "components_of", "describe"]
