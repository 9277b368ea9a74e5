"""How fast dte-hydrology's GR4J runs, against its peer in the same run: the textbook implementation,
a plain-Python daily loop with unit hydrograph buffers shifted every day (the structure of the
reference Fortran code of airGR), which is also checked to give the same discharge.

- ``single``: one 10-year run (3652 days);
- ``population``: 60 parameter sets over 5 years, as one differential evolution generation needs;
- ``calibration``: 10 generations of 60 sets over 5 years, vectorised (DTE) or one set at a time (peer).

Median of ``--repeat`` repetitions. Run: ``python -m benchmarks.hydrology_gr4j [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from dte_hydrology.calibration import BOUNDS, calibrate
from dte_hydrology.gr4j import Parameters, ordinates, simulate, simulate_many
from dte_hydrology.metrics import kge
from scipy.optimize import differential_evolution

RESULTS = Path(__file__).with_name("results") / "hydrology_gr4j.json"
TRUTH = Parameters(320.0, -0.8, 75.0, 1.9)


def textbook(rain: list[float], pet: list[float], x: Parameters) -> list[float]:
    """The peer: GR4J written as a plain daily loop, from the same initial state (30 % / 50 % full)."""
    x1, x2, x3, x4 = x.x1, x.x2, x.x3, x.x4
    ord1, ord2 = (o.tolist() for o in ordinates(x4))
    uh1, uh2 = [0.0] * len(ord1), [0.0] * len(ord2)
    s, r, out = 0.3 * x1, 0.5 * x3, []
    for p, e in zip(rain, pet, strict=True):
        if p >= e:
            pn, tw = p - e, math.tanh((p - e) / x1)
            ps = x1 * (1 - (s / x1) ** 2) * tw / (1 + s / x1 * tw)
            s += ps
        else:
            pn, ps, tw = 0.0, 0.0, math.tanh((e - p) / x1)
            s -= s * (2 - s / x1) * tw / (1 + (1 - s / x1) * tw)
        perc = s * (1 - (1 + (s / (2.25 * x1)) ** 4) ** -0.25)
        s -= perc
        pr = perc + pn - ps
        uh1 = [a + o * 0.9 * pr for a, o in zip(uh1[1:] + [0.0], ord1, strict=True)]
        uh2 = [a + o * 0.1 * pr for a, o in zip(uh2[1:] + [0.0], ord2, strict=True)]
        f = x2 * (r / x3) ** 3.5
        r = max(0.0, r + uh1[0] + f)
        qr = r * (1 - (1 + (r / x3) ** 4) ** -0.25)
        r -= qr
        out.append(qr + max(0.0, uh2[0] + f))
    return out


def weather(days: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    rain = np.where(rng.random(days) < 0.45, rng.gamma(0.8, 8.0, days), 0.0)
    pet = np.clip(2.2 + 1.8 * np.sin((np.arange(days) - 100) * 2 * np.pi / 365), 0, None)
    return rain, pet


def timed(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def peer_calibration(rain: np.ndarray, pet: np.ndarray, observed: np.ndarray, generations: int) -> float:
    """The same search, one textbook run per candidate."""
    r, e, scored = rain.tolist(), pet.tolist(), observed[365:]

    def loss(x: np.ndarray) -> float:
        return 1.0 - kge(scored, textbook(r, e, Parameters(*x))[365:])

    found = differential_evolution(loss, list(BOUNDS.values()), seed=42, maxiter=generations, popsize=15, tol=1e-6,
                                   updating="deferred", polish=False, init="sobol")
    return 1.0 - float(found.fun)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = []

    rain, pet = weather(3652)
    ours = simulate(rain, pet, TRUTH).discharge
    difference = float(np.max(np.abs(ours - np.array(textbook(rain.tolist(), pet.tolist(), TRUTH)))))
    rows.append({"workload": "single", "dte_s": timed(args.repeat, lambda: simulate(rain, pet, TRUTH)),
                 "peer_s": timed(args.repeat, lambda: textbook(rain.tolist(), pet.tolist(), TRUTH))})

    rain, pet = weather(5 * 365)
    truth = np.array([TRUTH.x1, TRUTH.x2, TRUTH.x3, TRUTH.x4])
    sets = truth * np.random.default_rng(1).uniform(0.6, 1.4, (60, 4))  # x4 stays above 1.1
    rows.append({"workload": "population", "dte_s": timed(args.repeat, lambda: simulate_many(rain, pet, sets)),
                 "peer_s": timed(args.repeat, lambda: [textbook(rain.tolist(), pet.tolist(), Parameters(*x))
                                                       for x in sets])})

    observed = simulate(rain, pet, TRUTH).discharge
    scores = {}

    def ours_calibration() -> None:
        scores["dte"] = calibrate(rain, pet, observed, warmup=365, maxiter=10).kge

    def peer() -> None:
        scores["peer"] = peer_calibration(rain, pet, observed, 10)

    repeat = max(1, args.repeat // 2)
    rows.append({"workload": "calibration", "dte_s": timed(repeat, ours_calibration), "peer_s": timed(repeat, peer)})

    print(f"{'workload':<13}{'DTE s':>10}{'peer s':>10}{'speed-up':>10}")
    for row in rows:
        row["speedup"] = row["peer_s"] / row["dte_s"]
        print(f"{row['workload']:<13}{row['dte_s']:>10.4f}{row['peer_s']:>10.4f}{row['speedup']:>10.1f}")
    print(f"max |DTE - peer| discharge over 10 years: {difference:.2e} mm/day; "
          f"KGE after 10 generations: DTE {scores['dte']:.4f}, peer {scores['peer']:.4f}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"benchmark": "hydrology_gr4j", "repeat": args.repeat, "python": platform.python_version(),
                                   "machine": platform.machine(), "max_abs_difference_mm_day": difference,
                                   "kge_after_10_generations": scores, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
