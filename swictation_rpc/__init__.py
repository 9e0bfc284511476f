"""swictation-rpc: on-device voice dictation for programmers, served over LSP-style JSON-RPC."""

from swictation_rpc import runtime as _runtime  # noqa: F401 - onnxruntime telemetry off before any import of it

__version__ = "0.1.0"
