"""Token claims -> project roles, by the operator's rules (``DTE_AUTH_CLAIMS_MAPPING``), so a research
infrastructure's IdP (groups, ``eduperson_entitlement`` URNs, realm roles) drives membership."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from dte.domain.identity import ClaimRule
from dte.domain.projects import Role

_MAX_VALUES = 500  # a token with more claim values than this is cut off, not iterated without end


@dataclass
class MappedAccess:
    roles: dict[str, Role] = field(default_factory=dict)  # project name -> highest mapped role
    platform_admin: bool = False


def claim_values(claims: Mapping[str, Any], name: str) -> list[str]:
    """The string values of a claim; dots walk into nested objects (``realm_access.roles``)."""
    value: Any = claims
    for part in name.split("."):
        if not isinstance(value, Mapping):
            return []
        value = value.get(part)
    values = value if isinstance(value, list) else [value]
    return [v for v in values[:_MAX_VALUES] if isinstance(v, str)]


def map_claims(claims: Mapping[str, Any], issuer: str, rules: Iterable[ClaimRule]) -> MappedAccess:
    access = MappedAccess()
    for rule in rules:
        if rule.issuer is not None and rule.issuer != issuer:
            continue
        pattern = re.compile(rule.match)
        for value in claim_values(claims, rule.claim):
            found = pattern.fullmatch(value)
            if found is None:
                continue
            if rule.platform_admin:
                access.platform_admin = True
                continue
            groups = {k: v for k, v in found.groupdict().items() if v is not None}
            try:
                project = rule.project.format(**groups)
                role = Role(rule.role.format(**groups).lower())
            except (KeyError, ValueError, IndexError):
                continue  # a value that names no valid role grants nothing
            current = access.roles.get(project)
            if current is None or role.includes(current):
                access.roles[project] = role
    return access
