"""swictation-rpc: on-device voice dictation for programmers, served over LSP-style JSON-RPC."""

__version__ = "0.1.0"
