"""Put on a server child's PYTHONPATH by the security tests: log its network activity.

Python's audit hooks see every socket the interpreter creates, binds, connects or resolves a
name for; ``$SWICTATION_AUDIT_LOG`` gets one JSON line per inet event. (Native code that opens
sockets by itself is caught by the tests' polling of the process's sockets instead.)
"""

import json
import os
import sys

_PATH = os.environ.get("SWICTATION_AUDIT_LOG")

if _PATH:
    import socket as _socket

    _log = open(_PATH, "a", buffering=1, encoding="utf-8")
    _INET = (_socket.AF_INET, _socket.AF_INET6)
    _NAME_EVENTS = {
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyname_ex",
        "socket.gethostbyaddr",
        "urllib.Request",
    }

    def _write(event: str, detail: object) -> None:
        _log.write(json.dumps({"event": event, "detail": repr(detail)[:300]}) + "\n")

    def _hook(event: str, args: tuple) -> None:
        if event == "socket.__new__":
            if len(args) > 1 and args[1] in _INET:
                _write(event, args[1:])
        elif event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"):
            if len(args) > 1 and isinstance(args[1], tuple):  # (host, port[, ...]): an inet address
                _write(event, args[1])
        elif event in _NAME_EVENTS:
            _write(event, args[:2])

    sys.addaudithook(_hook)
