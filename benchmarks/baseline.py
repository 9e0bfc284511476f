"""The regression guard: compare a run with a saved one and list what got slower (or bigger).

A developer's tool, not a CI test: timings vary between machines and runs, so the guard only
flags, and exits non-zero only when asked (``--fail-on-regression``).
"""

from __future__ import annotations

from attrs import define

from benchmarks.results import MB, MS, RTF, Results

#: Units where a larger value is worse, and what the change is called.
WORSE_WHEN_LARGER = {MS: "slower", RTF: "slower", MB: "larger"}
#: Ratios whose value growing means more overhead (speed-ups are the reverse and not guarded).
GUARDED_RATIO_PREFIX = "ratio_vs_"


@define
class Regression:
    contender: str
    clip: str
    metric: str
    baseline: float
    current: float
    unit: str
    kind: str

    @property
    def change(self) -> float:
        return self.current / self.baseline - 1.0

    def __str__(self) -> str:
        spec = _SPECS.get(self.unit, ".2f")
        return (
            f"{self.contender} {self.clip} {self.metric}: {self.baseline:{spec}} -> {self.current:{spec}} "
            f"{self.unit} ({self.change:+.0%}, {self.kind})"
        )


_SPECS = {MS: ".2f", RTF: ".4f", MB: ".0f", "x": ".3f"}


def compare(
    current: Results,
    baseline: Results,
    *,
    threshold: float = 0.20,
    min_delta_ms: float = 0.5,
    include_memory: bool = True,
) -> list[Regression]:
    """Metrics more than ``threshold`` worse than the baseline.

    ``min_delta_ms`` ignores sub-millisecond wobble of the tiny tone model's decodes (a 0.3 ms
    change on 1 ms is noise, not a regression). First decode and cold load vary the most between
    runs; they are guarded all the same, so read the list with the machine in mind.
    """
    old = {(r.contender, r.clip, r.metric): r for r in baseline.rows}
    found = []
    for row in current.rows:
        before = old.get((row.contender, row.clip, row.metric))
        if before is None or before.value <= 0 or before.unit != row.unit:
            continue
        if row.unit in WORSE_WHEN_LARGER:
            if row.unit == MB and not include_memory:
                continue
            kind = WORSE_WHEN_LARGER[row.unit]
        elif row.metric.startswith(GUARDED_RATIO_PREFIX):
            kind = "more overhead"
        else:
            continue
        if row.value <= before.value * (1 + threshold):
            continue
        if row.unit == MS and row.value - before.value < min_delta_ms:
            continue
        found.append(Regression(row.contender, row.clip, row.metric, before.value, row.value, row.unit, kind))
    return found


def machine_differences(current: Results, baseline: Results) -> list[str]:
    """What differs between the two machines (numbers from different machines do not compare)."""
    keys = ("cpu", "usable_cores", "gpu", "python", "versions", "onnxruntime_providers")
    found = [
        f"{key}: {baseline.machine.get(key)!r} -> {current.machine.get(key)!r}"
        for key in keys
        if baseline.machine.get(key) != current.machine.get(key)
    ]
    for key in ("quick", "reps", "num_threads"):  # fewer rounds give noisier medians
        if baseline.settings.get(key) != current.settings.get(key):
            found.append(f"{key}: {baseline.settings.get(key)!r} -> {current.settings.get(key)!r}")
    return found
