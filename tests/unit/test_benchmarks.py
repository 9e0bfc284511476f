"""Smoke test of ``python -m benchmarks``: a quick run gives well-formed results, and the guard works.

Timings are never asserted (they belong to the benchmark, not to pass/fail); what is asserted is
the shape of the output, that every contender really decoded its clips (the tone model decodes
exactly, so its word error rate is 0 through every path), and that the regression guard flags an
injected 30 % slowdown.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.baseline import compare
from benchmarks.results import Results

REPO = Path(__file__).resolve().parents[2]
DECODE_METRICS = {"decode_p50", "decode_p95", "rtf", "wer"}
HAS_ORT_PATH = importlib.util.find_spec("swictation_rpc.engine.onnxruntime_tdt") is not None


def _bench(*args: str, timeout: float = 280) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = _bench("--quick", "--reps", "2", "--json", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Warm decode latency" in proc.stdout
    return out, json.loads(out.read_text())


def _metrics(data: dict) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for row in data["rows"]:
        found.setdefault((row["contender"], row["clip"]), set()).add(row["metric"])
    return found


def test_quick_run_writes_rows_machine_info_and_the_server_overhead_ratio(quick):
    _, data = quick
    assert {"machine", "rows", "server_overhead_ratio"} <= set(data)
    for row in data["rows"]:
        assert set(row) == {"contender", "clip", "metric", "value", "unit"}
        assert isinstance(row["value"], (int, float)) and isinstance(row["unit"], str)
    machine = data["machine"]
    for key in ("cpu", "logical_cores", "ram_gb", "python", "onnxruntime_providers", "gpu"):
        assert key in machine
    assert {"onnxruntime", "sherpa-onnx", "faster-whisper", "ctranslate2"} <= set(machine["versions"])
    assert isinstance(data["server_overhead_ratio"], float) and data["server_overhead_ratio"] > 0


def test_every_contender_decodes_the_same_clips_and_has_cold_start_and_memory(quick):
    _, data = quick
    metrics = _metrics(data)
    speech = ["faster-whisper", "swictation-whisper", "server-path", "server-pcm16"]
    tone = ["sherpa-onnx", "swictation-sherpa", "server-path", "server-pcm16"]
    if HAS_ORT_PATH:
        tone.append("swictation-ort-cpu")
    for name in speech:
        assert DECODE_METRICS <= metrics.get((name, "speech-2.8s"), set()), name
    for name in tone:
        for clip in ("tone-2.8s", "tone-30s"):
            assert DECODE_METRICS <= metrics.get((name, clip), set()), (name, clip)
    probed = ["faster-whisper", "swictation-whisper", "sherpa-onnx", "swictation-sherpa", "swictation-both"]
    for name in probed:
        assert {"cold_load", "rss", "rss_added"} <= metrics.get((name, "-"), set()), name
    assert {"initialize", "ready"} <= metrics[("server", "-")]
    assert "ratio_vs_faster-whisper" in metrics[("swictation-whisper", "speech-2.8s")]
    assert "ratio_vs_sherpa-onnx" in metrics[("swictation-sherpa", "tone-2.8s")]
    assert "ratio_vs_own_decode" in metrics[("server-path", "speech-2.8s")]


def test_the_tone_model_decodes_exactly_through_every_path(quick):
    # Proves each contender ran the model it claims (a silent fallback to Whisper would not).
    _, data = quick
    tone_wer = [r for r in data["rows"] if r["metric"] == "wer" and r["clip"].startswith("tone")]
    assert tone_wer
    assert all(r["value"] == 0 for r in tone_wer), tone_wer


def test_without_a_gpu_the_output_says_so_and_has_no_gpu_rows(quick):
    _, data = quick
    if data["machine"]["cuda_provider"]:
        pytest.skip("this machine has CUDA: the GPU rows are expected here")
    assert any("no GPU" in note for note in data["notes"])
    assert not [r for r in data["rows"] if r["contender"].endswith("cuda") or r["metric"] == "gpu_memory"]


def _slowed(data: dict, contender: str, clip: str, metric: str, factor: float) -> dict:
    slowed = copy.deepcopy(data)
    for row in slowed["rows"]:
        if (row["contender"], row["clip"], row["metric"]) == (contender, clip, metric):
            row["value"] *= factor
    return slowed


def test_the_baseline_guard_flags_an_injected_30_percent_slowdown(quick, tmp_path):
    path, data = quick
    baseline = Results.from_json(data)
    assert compare(Results.from_json(data), baseline, min_delta_ms=0) == []
    slower = Results.from_json(_slowed(data, "swictation-whisper", "speech-2.8s", "decode_p50", 1.3))
    flagged = compare(slower, baseline, min_delta_ms=0)
    assert [(r.contender, r.clip, r.metric) for r in flagged] == [("swictation-whisper", "speech-2.8s", "decode_p50")]
    assert flagged[0].change == pytest.approx(0.3, abs=1e-3)
    within = Results.from_json(_slowed(data, "swictation-whisper", "speech-2.8s", "decode_p50", 1.1))
    assert compare(within, baseline, min_delta_ms=0) == []

    current = tmp_path / "current.json"
    current.write_text(json.dumps(_slowed(data, "faster-whisper", "speech-2.8s", "decode_p50", 1.3)))
    proc = _bench("--from-json", str(current), "--baseline", str(path), timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "faster-whisper speech-2.8s decode_p50" in proc.stdout and "+30%" in proc.stdout
    proc = _bench("--from-json", str(current), "--baseline", str(path), "--fail-on-regression", timeout=60)
    assert proc.returncode == 1
    proc = _bench("--from-json", str(path), "--baseline", str(path), "--fail-on-regression", timeout=60)
    assert proc.returncode == 0 and "No regressions" in proc.stdout
