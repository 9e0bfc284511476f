"""Settings problems are sentences a user can act on, and never echo a huge value whole.

``{"language": "y" * 1048576}`` once produced a 1 MB ``window/showMessage``; ``defaultMode: 7``
read "unknown error (7 not in literal typing.Literal[...])".
"""

from __future__ import annotations

from typing import Any

import pytest

from swictation_rpc.handlers.lifecycle import report_problems
from swictation_rpc.options import structure_options


class _Client:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def show_message(self, message: str, _kind: Any) -> None:
        self.messages.append(message)


def _shown(raw: Any) -> str:
    _options, problems = structure_options(raw)
    client = _Client()
    report_problems(client, problems, "initializationOptions")  # type: ignore[arg-type]
    assert len(client.messages) == 1, client.messages
    return client.messages[0]


@pytest.mark.parametrize(
    "raw", [{"language": "y" * 1048576}, {"defaultMode": "y" * 1048576}, {"engine": {"device": "y" * 1048576}}]
)
def test_a_long_value_is_cut_in_the_message(raw: dict[str, Any]) -> None:
    message = _shown(raw)
    assert len(message) < 400, len(message)
    assert "y" * 80 in message and "y" * 81 not in message
    assert "\u2026" in message and "1048576 characters" in message, message


@pytest.mark.parametrize(
    ("raw", "sentence"),
    [
        ({"defaultMode": 7}, 'defaultMode must be one of "fast", "accurate", "auto" (got 7)'),
        ({"engine": "fast"}, "engine must be an object of settings (got a string)"),
        ({"engine": {"numThreads": 2.5}}, "numThreads must be a whole number (got 2.5)"),
        ({"engine": {"numThreads": "2"}}, 'numThreads must be a whole number (got the string "2")'),
        ({"logLevel": True}, 'logLevel must be one of "error", "warning", "info", "debug" (got true)'),
        ({"vad": {"enabled": "yes"}}, 'enabled must be true or false (got the string "yes")'),
    ],
)
def test_a_wrong_type_is_a_sentence_without_python_internals(raw: dict[str, Any], sentence: str) -> None:
    message = _shown(raw)
    assert sentence in message, message
    for internal in ("typing.", "Literal", "unknown error", "expected int", "EngineOptions", "invalid value for type"):
        assert internal not in message, (internal, message)
