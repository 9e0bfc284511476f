"""Reading an ONNX file's interface without loading its weights.

A small protobuf wire-format walker jumps over initializers (the encoders are 0.1-2.5 GB), which
also proves the file is ONNX and not truncated, and reads only the model metadata, the graph's
inputs/outputs and external-data references (:func:`read_onnx_summary`). The folder rules that
use it are :mod:`swictation_rpc.models.layout`'s.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import attrs
import onnx

from swictation_rpc.models.files import open_regular

#: What the walker reads from: the file mapped into memory (or bytes, in a test).
_Buffer = bytes | mmap.mmap
#: Shape inference loads the graph (weights stay outside): only for files below this size.
INFER_LIMIT_BYTES = 256 << 20


class OnnxReadError(Exception):
    """The file is not a readable ONNX model; ``problem`` completes a sentence about the file."""

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem


def _varint(buf: _Buffer, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end:
            raise OnnxReadError("is truncated (it ends inside a record)")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise OnnxReadError("is not an ONNX file (malformed protobuf)")


def _fields(buf: _Buffer, start: int, end: int) -> Iterator[tuple[int, int, int | tuple[int, int]]]:
    """``(field number, wire type, varint value or (start, end) span)`` of one message."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        field, wire = key >> 3, key & 7
        if field == 0:
            raise OnnxReadError("is not an ONNX file (malformed protobuf)")
        if wire == 0:
            value, pos = _varint(buf, pos, end)
            yield field, wire, value
        elif wire == 2:
            length, pos = _varint(buf, pos, end)
            if pos + length > end:
                raise OnnxReadError("is truncated (a record runs past the end of the file)")
            yield field, wire, (pos, pos + length)
            pos += length
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            if pos > end:
                raise OnnxReadError("is truncated (it ends inside a record)")
            yield field, wire, 0
        else:
            raise OnnxReadError("is not an ONNX file (malformed protobuf)")


def _string(buf: _Buffer, span: tuple[int, int]) -> str:
    return bytes(buf[span[0] : span[1]]).decode("utf-8", errors="replace")


@attrs.frozen
class OnnxSummary:
    """What the checks need from one ONNX file, read without its weights."""

    ir_version: int
    metadata: dict[str, str]
    inputs: tuple[onnx.ValueInfoProto, ...]
    outputs: tuple[onnx.ValueInfoProto, ...]
    external_data: tuple[tuple[str, int, int | None], ...]
    """``(location, offset, length)`` of every initializer stored outside the file."""

    def input_names(self) -> list[str]:
        return [v.name for v in self.inputs]

    def output_names(self) -> list[str]:
        return [v.name for v in self.outputs]


def read_onnx_summary(path: Path) -> OnnxSummary:
    """Parse ``path``'s header and graph interface; raises :class:`OnnxReadError` with the problem."""
    with open_regular(path) as f:  # a FIFO or device in a model folder: refused, never waited on
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise OnnxReadError("is empty (0 bytes)")
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    with buf:
        ir_version = None
        graph: tuple[int, int] | None = None
        metadata: dict[str, str] = {}
        for field, wire, value in _fields(buf, 0, size):
            if field == 1 and wire == 0:
                ir_version = int(value)  # type: ignore[arg-type]
            elif field == 7 and wire == 2:
                graph = value  # type: ignore[assignment]
            elif field == 14 and wire == 2:
                key = val = ""
                for f2, w2, v2 in _fields(buf, *value):  # type: ignore[misc]
                    if w2 == 2 and f2 == 1:
                        key = _string(buf, v2)  # type: ignore[arg-type]
                    elif w2 == 2 and f2 == 2:
                        val = _string(buf, v2)  # type: ignore[arg-type]
                metadata[key] = val
        if ir_version is None or graph is None or not 1 <= ir_version <= 64:
            raise OnnxReadError("is not an ONNX model (no graph or IR version in it)")
        inputs: list[onnx.ValueInfoProto] = []
        outputs: list[onnx.ValueInfoProto] = []
        external: list[tuple[str, int, int | None]] = []
        for field, wire, value in _fields(buf, *graph):
            if wire != 2:
                continue
            if field in (11, 12):
                info = onnx.ValueInfoProto()
                try:
                    info.ParseFromString(bytes(buf[value[0] : value[1]]))  # type: ignore[index]
                except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError
                    raise OnnxReadError(f"is not a valid ONNX model ({exc})") from None
                (inputs if field == 11 else outputs).append(info)
            elif field == 5:
                ref = _external_ref(buf, value)  # type: ignore[arg-type]
                if ref is not None:
                    external.append(ref)
    return OnnxSummary(ir_version, metadata, tuple(inputs), tuple(outputs), tuple(external))


def _external_ref(buf: _Buffer, span: tuple[int, int]) -> tuple[str, int, int | None] | None:
    location, offset, length, is_external = "", 0, None, False
    for field, wire, value in _fields(buf, *span):
        if field == 14 and wire == 0:
            is_external = value == 1
        elif field == 13 and wire == 2:
            key = val = ""
            for f2, w2, v2 in _fields(buf, *value):  # type: ignore[misc]
                if w2 == 2 and f2 == 1:
                    key = _string(buf, v2)  # type: ignore[arg-type]
                elif w2 == 2 and f2 == 2:
                    val = _string(buf, v2)  # type: ignore[arg-type]
            if key == "location":
                location = val
            elif key == "offset":
                offset = int(val or 0)
            elif key == "length":
                length = int(val or 0)
    return (location, offset, length) if is_external else None


def dims(info: onnx.ValueInfoProto) -> list[int | str | None]:
    """Shape of a tensor value: ints for static dims, names for symbolic ones, None if unknown."""
    if not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
        return []
    out: list[int | str | None] = []
    for d in info.type.tensor_type.shape.dim:
        if d.HasField("dim_value"):
            out.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            out.append(d.dim_param)
        else:
            out.append(None)
    return out


def elem_type(info: onnx.ValueInfoProto) -> int:
    return info.type.tensor_type.elem_type if info.type.HasField("tensor_type") else 0


def output_width(summary: OnnxSummary, path: Path) -> int | None:
    """Last dim of the first output: declared, or inferred from the graph as onnxruntime does."""
    output = summary.outputs[0]
    out_dims = dims(output)
    if (
        not (out_dims and isinstance(out_dims[-1], int) and out_dims[-1] > 0)
        and path.stat().st_size < INFER_LIMIT_BYTES
    ):
        try:
            model = onnx.shape_inference.infer_shapes(onnx.load(str(path), load_external_data=False))
            inferred = next((o for o in model.graph.output if o.name == output.name), None)
            out_dims = dims(inferred) if inferred is not None else out_dims
        except Exception:  # noqa: BLE001 - inference is best effort; the caller's verdict stands
            pass
    if not out_dims or not isinstance(out_dims[-1], int) or out_dims[-1] <= 0:
        return None
    return out_dims[-1]
