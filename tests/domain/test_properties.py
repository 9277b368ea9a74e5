"""Property tests of the domain's pure parts: semantic versions, JSON merge patch, bundles, manifests."""

from __future__ import annotations

import functools
import gzip
import io
import json
import math
import re
import tarfile
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import THERMO_MANIFEST
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from dte.domain.bundle import canonicalize, extract, pack, pack_directory, unpack
from dte.domain.errors import InvalidInput, PayloadTooLarge
from dte.domain.manifest import AppManifest, load_manifest_text, parse_manifest
from dte.domain.merge_patch import merge_patch
from dte.domain.semver import Version

# Deterministic: the same examples on every run and machine, nothing read from or saved to a database.
PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=200,
                    suppress_health_check=[HealthCheck.too_slow])

# --- semantic versions -----------------------------------------------------------------------------

# The reference regular expression from https://semver.org (ASCII digits only, whole string).
SEMVER_ORG = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-((?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)
ALNUM = "0123456789abcxyzABZ-"
numbers = st.integers(min_value=0, max_value=10**12).map(str)
alphanumeric_ids = st.text(alphabet=ALNUM, min_size=1, max_size=6).filter(lambda s: not s.isdigit())
pre_ids = st.one_of(numbers, alphanumeric_ids)
build_ids = st.text(alphabet=ALNUM, min_size=1, max_size=6)


@st.composite
def semvers(draw: st.DrawFn) -> str:
    text = ".".join(draw(numbers) for _ in range(3))
    pre = draw(st.lists(pre_ids, max_size=3))
    build = draw(st.lists(build_ids, max_size=2))
    return text + ("-" + ".".join(pre) if pre else "") + ("+" + ".".join(build) if build else "")


def reference_compare(a: str, b: str) -> int:
    """semver.org section 11, written out: -1, 0 or 1."""
    def parts(text: str) -> tuple[list[int], list[str]]:
        core, _, pre = text.split("+")[0].partition("-")
        return [int(n) for n in core.split(".")], pre.split(".") if pre else []

    def cmp(x: Any, y: Any) -> int:
        return (x > y) - (x < y)

    (core_a, pre_a), (core_b, pre_b) = parts(a), parts(b)
    if core_a != core_b:
        return cmp(core_a, core_b)
    if not pre_a or not pre_b:
        return cmp(not pre_a, not pre_b)  # a release is above its pre-releases
    for x, y in zip(pre_a, pre_b):
        if x == y:
            continue
        if x.isdigit() and y.isdigit():
            return cmp(int(x), int(y))
        if x.isdigit() or y.isdigit():
            return -1 if x.isdigit() else 1  # numeric identifiers are lower than alphanumeric ones
        return cmp(x, y)
    return cmp(len(pre_a), len(pre_b))


@PROPERTY
@given(semvers())
def test_semver_round_trips(text: str) -> None:
    version = Version.parse(text)
    assert str(version) == text
    assert Version.parse(str(version)) == version


@PROPERTY
@given(st.text(alphabet=st.sampled_from([*"0123456789.-+aZ", "١", "٣", "²", "𝟘", "\n", " ", "\x00"]), max_size=14))
@example("1.0.0\n")
@example("١.٠.٠")
@example("1.0.0-01")
def test_semver_accepts_exactly_what_semver_org_accepts(text: str) -> None:
    """Nothing more: not other scripts' digits, not a trailing newline, not leading zeros."""
    try:
        version = Version.parse(text)
    except ValueError:
        assert SEMVER_ORG.match(text) is None
    else:
        assert SEMVER_ORG.match(text) is not None
        assert str(version) == text


@PROPERTY
@given(semvers(), semvers())
def test_semver_precedence_matches_the_reference(a: str, b: str) -> None:
    key_a, key_b = Version.parse(a).precedence(), Version.parse(b).precedence()
    assert ((key_a > key_b) - (key_a < key_b)) == reference_compare(a, b)


def test_semver_precedence_examples_from_the_spec() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
               "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"]
    shuffled = ordered[::-1][1::2] + ordered[::-1][::2]
    assert sorted(shuffled, key=lambda v: Version.parse(v).precedence()) == ordered
    assert Version.parse("1.0.0+build.1").precedence() == Version.parse("1.0.0+other").precedence()


# --- JSON merge patch (RFC 7396) -----------------------------------------------------------------

RFC7396_APPENDIX_A = [  # (original, patch, result), verbatim from the RFC
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize("original, patch, result", RFC7396_APPENDIX_A)
def test_merge_patch_rfc_examples(original: Any, patch: Any, result: Any) -> None:
    assert merge_patch(original, patch) == result


keys = st.sampled_from(["a", "b", "c", "d"])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.text(alphabet="xyz", max_size=2),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
documents = st.dictionaries(keys, json_values, max_size=4)


def without_null_members(value: Any) -> bool:
    if isinstance(value, dict):
        return all(v is not None and without_null_members(v) for v in value.values())
    return True


@PROPERTY
@given(documents, json_values)
def test_merge_patch_is_idempotent_and_leaves_the_target_alone(target: dict[str, Any], patch: Any) -> None:
    snapshot = json.dumps(target, sort_keys=True)
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
    assert json.dumps(target, sort_keys=True) == snapshot


@PROPERTY
@given(documents, documents)
def test_merge_patch_of_objects(target: dict[str, Any], patch: dict[str, Any]) -> None:
    result = merge_patch(target, patch)
    for key, value in patch.items():
        if value is None:
            assert key not in result  # null removes
        elif not isinstance(value, dict):
            assert result[key] == value  # anything but an object replaces
    for key, value in target.items():
        if key not in patch:
            assert result[key] == value  # untouched members stay
    if without_null_members(patch):
        assert merge_patch({}, patch) == patch  # a null-free document patches {} into itself


# --- bundles -------------------------------------------------------------------------------------

segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=6)
paths = st.lists(segment, min_size=1, max_size=3).map("/".join)
MANIFEST = ("dte-app.yaml", THERMO_MANIFEST.encode(), False)


@st.composite
def file_sets(draw: st.DrawFn) -> list[tuple[str, bytes, bool]]:
    """Files of an application: dte-app.yaml plus others, no file also used as a folder."""
    names = draw(st.lists(paths, max_size=6, unique=True))
    names = [n for n in names if n != MANIFEST[0]]
    folders = {"/".join(n.split("/")[:i]) for n in names for i in range(1, n.count("/") + 1)}
    assume(not folders & set(names))
    files = [(n, draw(st.binary(max_size=64)), draw(st.booleans())) for n in names]
    return [MANIFEST, *files]


@PROPERTY
@given(file_sets(), st.randoms(use_true_random=False))
def test_bundle_round_trip_and_canonical_bytes(files: list[tuple[str, bytes, bool]], rng: Any) -> None:
    bundle = pack(files)
    shuffled = list(files)
    rng.shuffle(shuffled)
    assert pack(shuffled) == bundle  # same files in any order: identical bytes
    assert unpack(bundle, 10**6) == {path: (content, executable) for path, content, executable in files}
    manifest, _, canonical = canonicalize(bundle, 10**6)
    assert canonical == bundle and manifest.name == "thermo"


@settings(PROPERTY, max_examples=40)
@given(file_sets())
def test_bundle_survives_extract_and_repack(files: list[tuple[str, bytes, bool]]) -> None:
    bundle = pack(files)
    with tempfile.TemporaryDirectory() as directory:
        extract(bundle, Path(directory) / "app", 10**6)
        assert pack_directory(Path(directory) / "app") == bundle


GOOD_BUNDLE = pack([MANIFEST, ("lib/util.py", b"X = 1\n" * 20, True), ("README", b"hello\n", False)])
GOOD_TAR = gzip.decompress(GOOD_BUNDLE)


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, len(GOOD_TAR) - 1), st.integers(0, 255)), min_size=1, max_size=8),
       st.booleans(), st.integers(0, len(GOOD_BUNDLE)))
def test_damaged_bundles_are_invalid_input(edits: list[tuple[int, int]], damage_tar: bool, cut: int) -> None:
    """Flipped tar bytes, or a gzip stream cut short or corrupted: InvalidInput, never a crash."""
    if damage_tar:
        raw = bytearray(GOOD_TAR)
        for index, value in edits:
            raw[index] = value
        data = gzip.compress(bytes(raw))
    else:
        raw = bytearray(GOOD_BUNDLE[:cut])
        for index, value in edits:
            if index < len(raw):
                raw[index] = value
        data = bytes(raw)
    try:
        files = unpack(data, 10**6)
    except (InvalidInput, PayloadTooLarge):
        return
    assert "dte-app.yaml" in files


@PROPERTY
@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_not_a_bundle(data: bytes) -> None:
    with pytest.raises(InvalidInput):
        unpack(data, 10**6)


def test_bundle_size_limit_counts_unpacked_bytes() -> None:
    bomb = pack([MANIFEST, ("zeros", b"\x00" * 200_000, False)])
    assert len(bomb) < 2_000
    with pytest.raises(PayloadTooLarge):
        unpack(bomb, 100_000)


# --- manifests -----------------------------------------------------------------------------------

BASE = yaml.safe_load(THERMO_MANIFEST)
LOCATIONS = [(), ("parameters",), ("parameters", "properties"), ("parameters", "properties", "room"),
             ("desired_state",), ("workflows",), ("workflows", "control"), ("triggers",),
             ("triggers", "every-minute"), ("channels",), ("channels", 0), ("outputs", 0), ("authors", 0), ("tags",)]
junk_keys = st.one_of(st.text(max_size=6), st.integers(), st.booleans(), st.none(), st.sampled_from(
    ["type", "$ref", "properties", "required", "workflow", "name", "unit", "minimum", "pattern", "$defs", "$id",
     "items", "enum", "format", "$schema", "$dynamicRef", "version", "summary"]))
junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8) | st.binary(max_size=4)
    | st.dates() | st.datetimes(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(junk_keys, inner, max_size=3),
    max_leaves=10,
)


def _storable(manifest: AppManifest) -> None:
    """A valid manifest can be stored and served: strict JSON (no NaN, no bytes, no dates)."""
    json.dumps(manifest.model_dump(mode="json", by_alias=False), allow_nan=False)


@settings(PROPERTY, max_examples=400)
@given(st.sampled_from(LOCATIONS), junk_keys, junk)
def test_manifest_with_junk_is_invalid_input_or_storable(location: tuple[Any, ...], key: Any, value: Any) -> None:
    document = json.loads(json.dumps(BASE))
    node: Any = document
    for step in location:
        node = node[step]
    if isinstance(node, dict):
        node[key] = value
    else:
        node.append(value)
    try:
        manifest = parse_manifest(document)
    except InvalidInput as exc:
        assert exc.code == "invalid_manifest" and exc.errors
        return
    _storable(manifest)


@PROPERTY
@given(junk)
def test_any_document_is_a_manifest_or_invalid_input(value: Any) -> None:
    try:
        _storable(parse_manifest(value))
    except InvalidInput as exc:
        assert exc.code == "invalid_manifest"


yaml_bits = st.sampled_from(["name: x", "version: 1.0.0", "summary: s", ": ", "- ", "[", "]", "{", "}", "&a ", "*a",
                             "!!binary AAEC", "!!set {a}", "!!timestamp 2001-12-14", ".nan", ".inf", "'", '"',
                             "\n", "  ", "\t", "#", "<<: *a", "? ", "|", ">", "%YAML 1.1", "---", "...", "\x00"])


@settings(PROPERTY, max_examples=400)
@given(st.lists(yaml_bits | st.text(max_size=4), max_size=25).map("".join))
@example("a: " + "[" * 5000)
@example("workflows: {control: {a: &a [1, 2], b: [*a, *a]}}")
def test_any_yaml_text_is_a_manifest_or_invalid_input(text: str) -> None:
    try:
        _storable(load_manifest_text(text))
    except InvalidInput as exc:
        assert exc.code == "invalid_manifest"


def test_yaml_aliases_are_refused_before_they_expand() -> None:
    """A 1 KB "billion laughs" manifest would otherwise expand to 10**9 values when stored."""
    lines = ["  l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    bomb = THERMO_MANIFEST.replace("    description: compute heater power", "  " + "\n  ".join(lines))
    assert len(bomb) < 2_000
    with pytest.raises(InvalidInput, match="aliases"):
        load_manifest_text(bomb)


@pytest.mark.parametrize("value", [math.nan, math.inf, b"\x00\xff", date(2024, 1, 31), datetime(2024, 1, 31),
                                   {1: "x"}, {"a": "\x00"}, functools.reduce(lambda v, _: [v], range(80), 1)])
def test_manifest_values_must_be_plain_json(value: Any) -> None:
    document = json.loads(json.dumps(BASE))
    document["workflows"]["control"]["extra"] = value
    with pytest.raises(InvalidInput) as caught:
        parse_manifest(document)
    assert caught.value.errors[0].pointer.startswith("/workflows/control/extra")


def test_manifest_schemas_never_fetch_references() -> None:
    """A $ref to a URL is refused when publishing; the engine must not fetch it."""
    for ref in ("https://example.invalid/schema.json", "file:///etc/passwd", "other.json", "#/$defs/missing"):
        document = json.loads(json.dumps(BASE))
        document["parameters"]["properties"]["room"] = {"$ref": ref}
        with pytest.raises(InvalidInput) as caught:
            parse_manifest(document)
        assert caught.value.errors[0].pointer == "/parameters"
    document = json.loads(json.dumps(BASE))  # a reference inside the schema is fine
    document["parameters"]["$defs"] = {"room": {"type": "string"}}
    document["parameters"]["properties"]["room"] = {"$ref": "#/$defs/room"}
    assert parse_manifest(document).parameters["properties"]["room"] == {"$ref": "#/$defs/room"}


def _tar_of(*members: tuple[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue())


def test_unpack_accepts_dot_slash_names() -> None:
    """Archives made with ``tar -C app .`` name their files ./x: that is the top level."""
    files = unpack(_tar_of(("./dte-app.yaml", THERMO_MANIFEST.encode()), ("./lib/a.py", b"")), 10**6)
    assert sorted(files) == ["dte-app.yaml", "lib/a.py"]
