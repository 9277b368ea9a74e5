"""MQTT topic schemes: ``dte/{project}/{twin}/{channel}`` and the like, configurable, both ways."""

from __future__ import annotations

import re
from dataclasses import dataclass

PLACEHOLDERS = ("project", "twin", "channel", "device")


@dataclass(frozen=True)
class TopicScheme:
    """A topic template whose ``{placeholder}`` levels name the project, twin, channel and device."""

    template: str

    def __post_init__(self) -> None:
        names = re.findall(r"{(\w+)}", self.template)
        unknown = [n for n in names if n not in PLACEHOLDERS]
        if unknown or "project" not in names or "twin" not in names:
            raise ValueError(f"topic scheme {self.template!r} needs {{project}} and {{twin}} levels and may use "
                             f"only {', '.join(PLACEHOLDERS)}")
        for level in self.template.split("/"):
            if "{" in level and not re.fullmatch(r"{\w+}", level):
                raise ValueError(f"in {self.template!r} a placeholder must fill a whole topic level")

    @property
    def filter(self) -> str:
        """The subscription filter: every placeholder level becomes ``+``."""
        return re.sub(r"{\w+}", "+", self.template)

    def format(self, **values: str) -> str:
        for value in values.values():
            if not value or any(c in value for c in "/+#\x00"):
                raise ValueError(f"{value!r} cannot be a topic level")
        return self.template.format(**values)

    def parse(self, topic: str) -> dict[str, str] | None:
        """The placeholder values of a topic, or None if the topic does not follow the scheme."""
        levels, pattern = topic.split("/"), self.template.split("/")
        if len(levels) != len(pattern):
            return None
        found: dict[str, str] = {}
        for level, part in zip(levels, pattern, strict=True):
            if part.startswith("{"):
                if not level:
                    return None
                found[part[1:-1]] = level
            elif level != part:
                return None
        return found
