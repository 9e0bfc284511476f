"""The one cattrs converter: snake_case in Python, camelCase on the wire.

It carries lsprotocol's hooks, so ``Position``, ``Range`` and ``TextEdit`` travel exactly as LSP
clients expect, and renames every field of this package's attrs classes to camelCase.
"""

from __future__ import annotations

from typing import Any

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from lsprotocol.converters import get_converter


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _is_ours(cls: Any) -> bool:
    return attrs.has(cls) and getattr(cls, "__module__", "").startswith("swictation_rpc")


def _renames(cls: type) -> dict[str, Any]:
    return {a.name: override(rename=to_camel(a.name)) for a in attrs.fields(cls)}


def _make_converter(*, forbid_extra_keys: bool) -> cattrs.Converter:
    conv = get_converter(cattrs.Converter(forbid_extra_keys=forbid_extra_keys))
    conv.register_structure_hook_factory(
        _is_ours,
        lambda cls: make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=forbid_extra_keys, **_renames(cls)
        ),
    )
    conv.register_unstructure_hook_factory(
        _is_ours,
        lambda cls: make_dict_unstructure_fn(cls, conv, **_renames(cls)),
    )
    return conv


#: Lenient: clients may send fields this version does not know (forward compatibility).
converter = _make_converter(forbid_extra_keys=False)
#: Strict: used for configuration, where an unknown key is almost always a typo worth reporting.
strict_converter = _make_converter(forbid_extra_keys=True)


def error_messages(exc: BaseException, path: str = "$", **kwargs: Any) -> list[str]:
    """cattrs' error paths for a structuring failure, e.g. ``invalid value @ $.position.line``.

    Paths use the wire (camelCase) names, since that is what the user wrote.
    """
    messages = cattrs.transform_error(exc, path=path, **kwargs)
    return [_camel_path(m) for m in messages]


def _camel_path(message: str) -> str:
    text, sep, where = message.rpartition(" @ ")
    if not sep:
        return message
    return f"{text} @ " + ".".join(to_camel(part) for part in where.split("."))
