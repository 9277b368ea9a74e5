"""Pipeline operators of the gateway: small, pure, one reading in, zero or more out.

Expressions use a restricted language (numbers, ``v`` and ``t``, arithmetic, abs/min/max/round),
evaluated from the parsed syntax tree - never ``eval``.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace

from dte.edge.config import Operator


@dataclass(frozen=True)
class Sample:
    channel: str
    t: float  # seconds since the epoch
    v: float | bool | str


# value conversions between unit symbols (UCUM / SenML)
CONVERSIONS: dict[tuple[str, str], Callable[[float], float]] = {
    ("degF", "Cel"): lambda x: (x - 32) * 5 / 9,
    ("Cel", "degF"): lambda x: x * 9 / 5 + 32,
    ("K", "Cel"): lambda x: x - 273.15,
    ("Cel", "K"): lambda x: x + 273.15,
    ("hPa", "Pa"): lambda x: x * 100,
    ("Pa", "hPa"): lambda x: x / 100,
    ("mm", "m"): lambda x: x / 1000,
    ("m", "mm"): lambda x: x * 1000,
    ("/", "%"): lambda x: x * 100,
    ("%", "/"): lambda x: x / 100,
}

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow, ast.Mod: operator.mod}
_FUNCTIONS = {"abs": abs, "min": min, "max": max, "round": round}


def compile_expression(text: str) -> Callable[[float, float], float]:
    """``v * 1.8 + 32`` -> a function of (v, t). Anything else than the restricted language is refused."""
    tree = ast.parse(text, mode="eval")

    def check(node: ast.AST) -> None:
        allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.USub, ast.UAdd, ast.Constant, ast.Name, ast.Call,
                   ast.Load, *_BINARY)
        if not isinstance(node, allowed):
            raise ValueError(f"{type(node).__name__} is not allowed in an expression")
        if isinstance(node, ast.Name) and node.id not in ("v", "t") and node.id not in _FUNCTIONS:
            raise ValueError(f"unknown name {node.id!r}: use v, t, abs, min, max, round")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCTIONS):
            raise ValueError("only abs, min, max and round may be called")
        if isinstance(node, ast.Constant) and not isinstance(node.value, int | float):
            raise ValueError("only numbers are allowed")
        for child in ast.iter_child_nodes(node):
            check(child)

    check(tree)

    def evaluate(node: ast.AST, v: float, t: float) -> float:
        if isinstance(node, ast.Expression):
            return evaluate(node.body, v, t)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return v if node.id == "v" else t
        if isinstance(node, ast.UnaryOp):
            value = evaluate(node.operand, v, t)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp):
            left, right = evaluate(node.left, v, t), evaluate(node.right, v, t)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ValueError("exponent too large")
            return _BINARY[type(node.op)](left, right)
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return _FUNCTIONS[node.func.id](*(evaluate(a, v, t) for a in node.args))

    return lambda v, t: evaluate(tree, v, t)


class Step:
    """One configured operator with its state (last values, open windows)."""

    def __init__(self, spec: Operator) -> None:
        self.spec = spec
        self.last: dict[str, Sample] = {}
        self.window: dict[str, tuple[int, list[float], Sample]] = {}
        self.rejected = 0
        if spec.op == "convert":
            key = (spec.from_unit or "", spec.to_unit or "")
            if key not in CONVERSIONS:
                raise ValueError(f"no conversion from {key[0]} to {key[1]}; known: {sorted(CONVERSIONS)}")
            self.convert = CONVERSIONS[key]
        if spec.op == "expression":
            self.function = compile_expression(spec.expression or "")

    def applies(self, sample: Sample) -> bool:
        return self.spec.channel is None or self.spec.channel == sample.channel

    def __call__(self, sample: Sample) -> list[Sample]:
        if not self.applies(sample):
            return [sample]
        return getattr(self, f"_{self.spec.op}")(sample)

    def _validate(self, s: Sample) -> list[Sample]:
        numeric = isinstance(s.v, int | float) and not isinstance(s.v, bool)
        ok = not numeric or (math.isfinite(s.v) and (self.spec.min is None or s.v >= self.spec.min)  # type: ignore[arg-type]
                             and (self.spec.max is None or s.v <= self.spec.max))  # type: ignore[operator]
        if not ok:
            self.rejected += 1
        return [s] if ok else []

    def _dedupe(self, s: Sample) -> list[Sample]:
        previous = self.last.get(s.channel)
        self.last[s.channel] = s
        return [] if previous is not None and (previous.t, previous.v) == (s.t, s.v) else [s]

    def _deadband(self, s: Sample) -> list[Sample]:
        previous = self.last.get(s.channel)
        if previous is not None and isinstance(s.v, int | float) and isinstance(previous.v, int | float) \
                and abs(s.v - previous.v) <= (self.spec.delta or 0):
            return []
        self.last[s.channel] = s
        return [s]

    def _rate_limit(self, s: Sample) -> list[Sample]:
        previous = self.last.get(s.channel)
        if previous is not None and s.t - previous.t < (self.spec.seconds or 0):
            return []
        self.last[s.channel] = s
        return [s]

    def _convert(self, s: Sample) -> list[Sample]:
        return [replace(s, v=self.convert(float(s.v)))] if isinstance(s.v, int | float) else [s]

    def _expression(self, s: Sample) -> list[Sample]:
        if not isinstance(s.v, int | float):
            return [s]
        try:
            return [replace(s, v=float(self.function(float(s.v), s.t)))]
        except (ArithmeticError, ValueError, TypeError):
            self.rejected += 1
            return []

    def _window(self, s: Sample) -> list[Sample]:
        """Tumbling windows in event time: a window is emitted when the first sample of the next arrives."""
        if not isinstance(s.v, int | float):
            return [s]
        width = self.spec.seconds or 1
        index = int(s.t // width)
        current = self.window.get(s.channel)
        out: list[Sample] = []
        if current is not None and current[0] != index:
            out.append(self._close(current))
            current = None
        if current is None:
            current = (index, [], s)
        current[1].append(float(s.v))
        self.window[s.channel] = current
        return out

    def _close(self, window: tuple[int, list[float], Sample]) -> Sample:
        index, values, first = window
        agg = self.spec.aggregate
        value = {"mean": lambda: sum(values) / len(values), "min": lambda: min(values), "max": lambda: max(values),
                 "last": lambda: values[-1], "count": lambda: float(len(values))}[agg]()
        return Sample(first.channel, index * (self.spec.seconds or 1), value)


class Pipeline:
    def __init__(self, specs: list[Operator]) -> None:
        self.steps = [Step(spec) for spec in specs]

    def __call__(self, sample: Sample) -> list[Sample]:
        samples = [sample]
        for step in self.steps:
            samples = [out for s in samples for out in step(s)]
        return samples

    @property
    def rejected(self) -> int:
        return sum(step.rejected for step in self.steps)
