"""What a benchmark run produces: flat rows, plus the ratios and notes derived from them."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from attrs import asdict, define, field

#: Units of the rows; the regression guard reads them to know what "worse" means.
MS = "ms"
MB = "MB"
RTF = "rtf"  # decode time / audio time
RATIO = "x"
WER = "wer"


@define
class Row:
    """One measured number: ``value`` of ``metric`` for ``contender`` on ``clip`` (``-``: no clip)."""

    contender: str
    clip: str
    metric: str
    value: float
    unit: str


@define
class Ratio:
    """``contender`` / ``peer`` on one clip, with the project's target when it has one."""

    name: str
    contender: str
    peer: str
    clip: str
    metric: str
    value: float
    target: float | None = None
    higher_is_better: bool = False
    note: str = ""

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


@define
class Results:
    machine: dict[str, Any]
    rows: list[Row] = field(factory=list)
    ratios: list[Ratio] = field(factory=list)
    notes: list[str] = field(factory=list)
    settings: dict[str, Any] = field(factory=dict)
    server_overhead_ratio: float | None = None
    samples: dict[str, dict[str, list[float]]] = field(factory=dict)
    """contender -> clip -> warm decode times in ms, in round order (round ``i`` of every contender
    on a clip ran back to back, which is what the paired ratios use)."""

    def add(self, contender: str, clip: str, metric: str, value: float | None, unit: str) -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return
        self.rows.append(Row(contender, clip, metric, round(float(value), 4), unit))

    def value(self, contender: str, clip: str, metric: str) -> float | None:
        for row in self.rows:
            if (row.contender, row.clip, row.metric) == (contender, clip, metric):
                return row.value
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "rows": [asdict(row) for row in self.rows],
            "ratios": [asdict(r) | {"meets_target": r.meets_target} for r in self.ratios],
            "server_overhead_ratio": self.server_overhead_ratio,
            "notes": self.notes,
            "samples": self.samples,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        results = cls(machine=dict(data.get("machine") or {}), settings=dict(data.get("settings") or {}))
        results.rows = [Row(**row) for row in data.get("rows", [])]
        for raw in data.get("ratios", []):
            raw = {k: v for k, v in raw.items() if k != "meets_target"}
            results.ratios.append(Ratio(**raw))
        results.notes = list(data.get("notes", []))
        results.server_overhead_ratio = data.get("server_overhead_ratio")
        results.samples = dict(data.get("samples") or {})
        return results


def p50(samples: list[float]) -> float:
    return float(np.percentile(samples, 50))


def p95(samples: list[float]) -> float:
    return float(np.percentile(samples, 95))


def paired_ratio(mine: list[float], theirs: list[float]) -> float | None:
    """Median of per-round ratios ``mine[i] / theirs[i]``.

    Both ran back to back in each round, so a burst of load elsewhere on the machine hits both
    and cancels out; the ratio of two medians would keep it.
    """
    pairs = [a / b for a, b in zip(mine, theirs, strict=False) if b > 0]
    if not pairs or len(mine) != len(theirs):
        return None
    return float(np.median(pairs))
