"""Observations: payload parsing (SenML RFC 8428 and the simple ``{"t", "v"}`` form) and checks
against the application's channel definitions.

Parsing is per record: a bad record becomes a :class:`FieldError` with its JSON pointer and the
good records of the same message are still accepted, as the ingest contract asks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from dte.domain.errors import FieldError
from dte.domain.manifest import Channel

# RFC 8428 section 4.5.3: times below 2**28 are relative to "now", larger ones are absolute.
SENML_RELATIVE_LIMIT = 2**28
MAX_TEXT = 1000
MAX_SOURCE = 120
_VALUE_KEYS = ("v", "vs", "vb", "vd")
_KNOWN = {"bn", "bt", "bu", "bv", "bver", "n", "u", "v", "vs", "vb", "vd", "s", "t", "ut",
          "channel", "unit", "seq", "device"}


class Reading(BaseModel):
    """One parsed observation, not yet checked against a twin's channels."""

    model_config = ConfigDict(frozen=True)

    channel: str
    time_us: int = Field(description="microseconds since the epoch, UTC")
    value: float | bool | str
    unit: str | None = None
    seq: int | None = None


class Observation(BaseModel):
    """A stored observation as the API returns it."""

    id: int
    channel: str
    time: datetime
    value: float | bool | str | None
    source: str
    seq: int | None = None


class IngestResult(BaseModel):
    """What happened to a submitted message: how many records were stored, were duplicates
    (already stored earlier, by ``(source, seq)``), or were rejected, and why."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: list[dict[str, str]] = Field(default_factory=list, description="pointer and detail per rejected record")
    revision: int | None = Field(default=None, description="the twin revision carrying the new reported state")


class Bucket(BaseModel):
    """Aggregates of one channel over ``[start, start + bucket)``; numeric and boolean channels only."""

    channel: str
    start: datetime
    count: int
    min: float | None
    max: float | None
    mean: float | None


def to_us(moment: datetime) -> int:
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)


def _time_us(value: Any, base: float, now_us: int) -> int:
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return to_us(parsed) + int(base * 1_000_000)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("t must be a number of seconds or an ISO 8601 time")
    seconds = base + value
    if abs(seconds) > 1e11:
        raise ValueError("t is out of range")
    if seconds < SENML_RELATIVE_LIMIT:
        return now_us + int(round(seconds * 1_000_000))
    return int(round(seconds * 1_000_000))


def _records(document: Any) -> tuple[list[Any], str]:
    """The list of records of a message and the pointer prefix of its records."""
    if isinstance(document, list):
        return document, ""
    if isinstance(document, dict) and isinstance(document.get("observations"), list):
        return document["observations"], "/observations"
    if isinstance(document, dict):
        return [document], ""
    raise ValueError("a message is a SenML array, one {\"t\", \"v\"} record, or {\"observations\": [...]}")


def parse(document: Any, now: datetime, default_channel: str | None = None) -> tuple[list[Reading], list[FieldError]]:
    """Every record of a message as a :class:`Reading`, and an error for each one that is malformed.

    SenML base fields (``bn``, ``bt``, ``bu``) carry over to the records that follow, as RFC 8428
    says; the channel is ``bn + n``, else ``channel``, else ``default_channel`` (e.g. the MQTT topic).
    """
    try:
        records, prefix = _records(document)
    except ValueError as exc:
        return [], [FieldError("", str(exc))]
    now_us = to_us(now)
    readings: list[Reading] = []
    errors: list[FieldError] = []
    base_name, base_time, base_unit = "", 0.0, None
    for index, record in enumerate(records):
        pointer = f"{prefix}/{index}"
        if not isinstance(record, dict):
            errors.append(FieldError(pointer, "a record must be an object"))
            continue
        try:
            if "bn" in record:
                base_name = _text(record["bn"], "bn")
            if "bt" in record:
                base_time = _number(record["bt"], "bt")
            if "bu" in record:
                base_unit = _text(record["bu"], "bu")
            readings.append(_reading(record, base_name, base_time, base_unit, now_us, default_channel))
        except ValueError as exc:
            errors.append(FieldError(pointer + _field_of(exc), str(exc)))
    return readings, errors


def _reading(record: Mapping[str, Any], base_name: str, base_time: float, base_unit: str | None, now_us: int,
             default_channel: str | None) -> Reading:
    unknown = sorted(k for k in record if k not in _KNOWN)
    mandatory = [k for k in unknown if k.endswith("_")]  # RFC 8428: must-understand extensions
    if mandatory:
        raise ValueError(f"unsupported mandatory field {mandatory[0]!r}")
    name = base_name + _text(record["n"], "n") if "n" in record else (
        _text(record["channel"], "channel") if "channel" in record else base_name or (default_channel or ""))
    if not name:
        raise ValueError("no channel: give 'n' (SenML), 'channel', or publish on the channel's topic")
    present = [k for k in _VALUE_KEYS if k in record]
    if len(present) != 1:
        raise ValueError("give exactly one value: v, vs or vb")
    value = record[present[0]]
    if present[0] == "vd":
        raise ValueError("vd: data values are not supported")
    if present[0] == "vs" and not isinstance(value, str):
        raise ValueError("vs: must be a string")
    if present[0] == "vb" and not isinstance(value, bool):
        raise ValueError("vb: must be true or false")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise ValueError(f"v: longer than {MAX_TEXT} characters")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("v: must be a finite number")
    if not isinstance(value, bool | int | float | str):
        raise ValueError("v: must be a number, string or boolean")
    unit = record.get("u", record.get("unit", base_unit))
    seq = record.get("seq")
    if seq is not None and (isinstance(seq, bool) or not isinstance(seq, int) or not 0 <= seq < 2**63):
        raise ValueError("seq: must be a non-negative integer")
    try:
        time_us = _time_us(record.get("t", 0), base_time, now_us)
    except (ValueError, OverflowError) as exc:
        raise ValueError(f"t: {exc}") from None
    return Reading(channel=name, time_us=time_us, value=value, unit=None if unit is None else _text(unit, "u"),
                   seq=seq)


def _field_of(exc: ValueError) -> str:
    head = str(exc).split(":", 1)[0]
    return f"/{head}" if head in _KNOWN else ""


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_TEXT or "\x00" in value:
        raise ValueError(f"{name}: must be a string without NUL characters")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: must be a finite number")
    return float(value)


def check(reading: Reading, channels: Mapping[str, Channel], allowed: Iterable[str] | None,
          now_us: int, max_future_us: int) -> str | None:
    """Why the reading does not fit the twin (unknown channel, wrong unit or kind, future time), or None."""
    channel = channels.get(reading.channel)
    if channel is None:
        return f"unknown channel {reading.channel!r}; the application declares: {', '.join(sorted(channels)) or 'none'}"
    if allowed is not None and reading.channel not in allowed:
        return f"this device may not publish to channel {reading.channel!r}"
    if reading.unit is not None and reading.unit != channel.unit:
        return f"wrong unit {reading.unit!r} for {channel.name}: the application declares {channel.unit!r}"
    if reading.time_us > now_us + max_future_us:
        return f"time {from_us(reading.time_us).isoformat()} is too far in the future"
    if reading.time_us < 0:
        return "time is before 1970"
    kind_ok = {"number": isinstance(reading.value, int | float) and not isinstance(reading.value, bool),
               "boolean": isinstance(reading.value, bool),
               "string": isinstance(reading.value, str)}[channel.kind]
    if not kind_ok:
        return f"{channel.name} takes {channel.kind} values"
    return None


def stored_value(value: float | bool | str) -> tuple[float | None, str | None]:
    """Numbers and booleans go to the numeric column (so they aggregate), strings to the text one."""
    if isinstance(value, str):
        return None, value
    return float(value), None


def loaded_value(kind: str, value: float | None, text: str | None) -> float | bool | str | None:
    if kind == "boolean" and value is not None:
        return bool(value)
    return text if text is not None else value
