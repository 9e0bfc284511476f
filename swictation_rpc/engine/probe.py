"""Trial-load a model in a child process: belt and braces behind ``inspect_model_dir``.

sherpa-onnx reports some malformed models by ending the process (``_Exit(-1)``, exit code 255)
rather than raising. ``inspect_model_dir`` rejects every such case we know of; ``probe_load``
covers the ones we do not: it loads the model and decodes 0.5 s of silence in a fresh
``sys.executable`` process, and turns a crash, an error or a hang there into ``ModelBrokenError``
here. It costs one interpreter start plus one model load (a second or two for Parakeet), so the
engine uses it where a crash would cost more than that (e.g. a model imported by the user).

The child is ``python -m swictation_rpc.engine.probe PAYLOAD`` with the ``ModelFiles`` as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from swictation_rpc.errors import ModelBrokenError
from swictation_rpc.models.layout import ModelFiles

if TYPE_CHECKING:
    from swictation_rpc.engine.base import Recognizer

Backend = Literal["auto", "sherpa", "onnxruntime"]

#: What sherpa-onnx's ``_Exit(-1)`` looks like from the parent.
ABORT_EXIT_CODE = 255
_PROBE_SECONDS = 0.5
_OK = "swictation-probe-ok"


def probe_load(files: ModelFiles, *, timeout_s: float = 60, backend: Backend = "auto", num_threads: int = 1) -> None:
    """Load ``files`` and decode silence in a child process; raise ``ModelBrokenError`` if that fails.

    ``backend="auto"`` probes the runtime the engine would use: sherpa-onnx for the sherpa layout,
    onnxruntime for the NeMo layout. The error's ``data`` has ``exit_code`` (255: sherpa-onnx
    aborted) and the tail of the child's stderr.
    """
    chosen = ("sherpa" if files.layout == "sherpa" else "onnxruntime") if backend == "auto" else backend
    payload = json.dumps({"backend": chosen, "num_threads": num_threads, "files": _to_json(files)})
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "swictation_rpc.engine.probe", payload]
    remedy = f"Re-download it with `swictation-rpc models download {files.name}`."
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=env, check=False)
    except subprocess.TimeoutExpired:
        raise ModelBrokenError(
            f"Model {files.name}: loading {files.encoder.name} did not finish within {timeout_s:g} s",
            remedy=remedy,
            model=files.name,
            file=str(files.encoder),
            exit_code=None,
        ) from None
    if proc.returncode == 0 and _OK in proc.stdout:
        return
    tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
    if proc.returncode == ABORT_EXIT_CODE:
        what = f"{chosen} aborted the process (exit {proc.returncode})"
    elif proc.returncode < 0:
        what = f"the loader was killed by signal {-proc.returncode}"
    else:
        what = f"the loader failed (exit {proc.returncode})"
    raise ModelBrokenError(
        f"Model {files.name} in {files.folder}: trial load failed: {what}. {tail}".strip(),
        remedy=remedy,
        model=files.name,
        file=str(files.encoder),
        exit_code=proc.returncode,
        stderr=tail,
    )


def _to_json(files: ModelFiles) -> dict[str, object]:
    return attrs.asdict(files, value_serializer=lambda _inst, _field, v: str(v) if isinstance(v, Path) else v)


def _from_json(data: dict[str, Any]) -> ModelFiles:
    """``_to_json``'s output back (``data`` is decoded JSON: what ``ModelFiles`` got from us)."""
    path_fields = {"folder", "encoder", "tokens_file", "decoder", "joiner", "decoder_joint", "config_file"}
    kwargs: dict[str, Any] = {k: (Path(v) if k in path_fields and v is not None else v) for k, v in data.items()}
    kwargs["tokens"] = tuple(kwargs["tokens"])
    return ModelFiles(**kwargs)


def _child(argv: list[str]) -> int:
    import numpy as np

    request = json.loads(argv[0])
    files = _from_json(request["files"])
    threads = int(request.get("num_threads", 1))
    recognizer: Recognizer
    if request["backend"] == "sherpa":
        from swictation_rpc.engine.sherpa import SherpaTransducer

        recognizer = SherpaTransducer.from_files(files, name=files.name, num_threads=threads)
    else:
        from swictation_rpc.engine.onnxruntime_tdt import OnnxruntimeTransducer

        recognizer = OnnxruntimeTransducer.from_files(files, name=files.name, num_threads=threads)
    recognizer.transcribe(np.zeros(int(16_000 * _PROBE_SECONDS), dtype=np.float32))
    recognizer.close()
    print(_OK, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1:]))
