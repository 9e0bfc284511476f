"""Talk to swictation-rpc from any JSON-RPC client: JSON-RPC 2.0, LSP framing, over stdin/stdout.

python examples/client.py recording.wav      (standard library only)
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

server_log = tempfile.TemporaryFile()  # the server's stderr (its log), shown if it ends early
server = subprocess.Popen(
    [sys.executable, "-m", "swictation_rpc", "serve", "--stdio"],
    stdin=subprocess.PIPE,
    stdout=subprocess.PIPE,
    stderr=server_log,
)


def server_ended(method):
    """The server is gone: say so, with its exit code and the end of its stderr, and stop."""
    code = server.wait()
    server_log.seek(0)
    tail = server_log.read().decode(errors="replace").strip().splitlines()[-15:]
    sys.exit(
        f"swictation-rpc ({sys.executable} -m swictation_rpc serve --stdio) exited with code {code}"
        f" before answering {method}; the end of its stderr:\n" + "\n".join(tail or ["(nothing)"])
    )


def send(message):
    body = json.dumps(message).encode()
    try:
        server.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        server.stdin.flush()
    except BrokenPipeError:
        server_ended(message["method"])


def request(msg_id, method, params=None):
    send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    while True:  # skip the server's notifications ($/progress, swictation/stateChanged, logs)
        lines = iter(lambda: server.stdout.readline().strip(), b"")  # headers end at an empty line
        headers = dict(line.decode().lower().split(": ", 1) for line in lines)
        if "content-length" not in headers:  # end of output: the server exited
            server_ended(method)
        message = json.loads(server.stdout.read(int(headers["content-length"])))
        if message.get("id") == msg_id and "method" not in message:
            if "error" in message:
                raise RuntimeError(message["error"])  # {"code", "message", "data": {"kind", "remedy"}}
            return message["result"]


print(request(1, "initialize", {"processId": None, "rootUri": None, "capabilities": {}})["serverInfo"])
send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
result = request(
    2,
    "swictation/transcribe",
    {
        "textDocument": {"uri": "file:///tmp/notes.md"},
        "position": {"line": 0, "character": 0},
        "audio": {"path": str(Path(sys.argv[1]).resolve())},
    },
)  # or {"pcm16": base64, "sampleRate": 16000}
print(result["text"])
print(f"model: {result['model']}, mode: {result['mode']}, decode: {result['timings']['decodeMs']:.0f} ms")
print(json.dumps(result["edits"]))  # one TextEdit inserting the text at the position
request(3, "shutdown")
send({"jsonrpc": "2.0", "method": "exit"})
sys.exit(server.wait())
