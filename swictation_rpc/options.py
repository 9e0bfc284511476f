"""The configuration tree: one defaulted attrs class per section, camelCase on the wire.

Editors push it as ``initializationOptions`` and ``workspace/didChangeConfiguration`` (section
``swictation``); the CLI reads the same tree. Every field has a default, so ``Options()`` is a
working configuration, and a wrong setting falls back to its default instead of stopping the
server (see :func:`structure_options`).
"""

from __future__ import annotations

import copy
from typing import Any, Literal

import attrs
from attrs import define, field
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.v import format_exception

from swictation_rpc.converter import error_messages, strict_converter, to_camel

#: A mode a request may ask for. ``auto`` lets the engine choose per request.
Mode = Literal["fast", "accurate", "auto"]
#: A mode that actually ran.
ConcreteMode = Literal["fast", "accurate"]
Device = Literal["auto", "cuda", "cpu"]
DecodingMethod = Literal["greedy_search", "modified_beam_search"]
ApplyEdits = Literal["client", "server"]
LogLevel = Literal["error", "warning", "info", "debug"]
RefineMode = Literal["off", "auto", "always"]


class SettingValueError(ValueError):
    """A value of the right type but out of range; names the attribute so only it is dropped."""

    def __init__(self, name: str, message: str):
        self.name = name
        self.detail = message
        super().__init__(f"{to_camel(name)} {message}")


def _non_negative(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value < 0:
        raise SettingValueError(attribute.name, f"must be >= 0, got {value}")


def _positive(instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if value <= 0:
        raise SettingValueError(attribute.name, f"must be > 0, got {value}")


@define
class ModelsOptions:
    fast: str = "parakeet-tdt-110m"
    """Model for fast mode: a catalogue name (``swictation-rpc models list``) or a model folder."""

    accurate: str = "parakeet-tdt-0.6b-v3-int8"
    """Model for accurate mode: a catalogue name or a model folder."""

    models_dir: str | None = None
    """Where models are installed. Default: ``$SWICTATION_MODELS_DIR`` or the user data dir."""


@define
class EngineOptions:
    device: Device = "auto"
    """Where fast mode runs: ``auto`` uses CUDA when onnxruntime offers it, else the CPU."""

    num_threads: int = field(default=2, validator=_positive)
    """CPU threads per model."""

    decoding_method: DecodingMethod = "greedy_search"
    """Transducer search; ``modified_beam_search`` is needed for hotword biasing."""

    warmup: bool = True
    """Decode a short clip once after loading, so the first dictation is not the slow one."""


@define
class AutoModeOptions:
    long_audio_s: float = field(default=15.0, validator=_non_negative)
    """In ``auto`` mode, audio at least this long is decoded in accurate mode."""

    final_uses_accurate: bool = True
    """In ``auto`` mode, final text (stopDictation, file transcription) prefers accurate mode."""


@define
class AudioOptions:
    input_device: int | str | None = None
    """Microphone by PortAudio index or (part of its) name; ``None`` is the system default."""

    sample_rate_hz: int | None = None
    """Capture rate; ``None`` is the device's native rate. Audio is resampled to 16 kHz."""


@define
class VadOptions:
    enabled: bool = True
    """Split speech into utterances with Silero VAD (also used to segment long audio)."""

    threshold: float = field(default=0.5, validator=_non_negative)
    """Speech probability above which a frame counts as speech."""

    min_silence_duration_ms: int = field(default=500, validator=_non_negative)
    """Silence that closes a speech segment."""

    auto_stop_silence_ms: int = field(default=0, validator=_non_negative)
    """Stop dictation after this much silence following speech; 0 turns auto-stop off."""

    max_duration_s: float = field(default=600.0, validator=_positive)
    """Stop dictation after this long whatever happens."""


@define
class TextOptions:
    spoken_commands: bool = True
    """Turn "comma", "new line", "camel case …" and friends into text."""

    refine: RefineMode = "off"
    """Two-pass refine: insert fast text, then replace it with accurate text if it differs."""

    custom_commands: dict[str, dict[str, Any]] = field(factory=dict)
    """Extra spoken commands by languageId (``"*"`` for all): phrase -> text, ``{"text", "spacing"}``
    or ``null`` to remove a built-in one."""


@define
class HistoryOptions:
    enabled: bool = True
    """Save every utterance (text and audio) before its edit is sent."""

    max_items: int = field(default=1000, validator=_positive)
    """Older utterances are rotated out beyond this many."""

    keep_audio: bool = True
    """Keep each utterance's audio, so it can be transcribed again."""


@define
class Options:
    models: ModelsOptions = field(factory=ModelsOptions)
    engine: EngineOptions = field(factory=EngineOptions)
    default_mode: Mode = "auto"
    """Mode used when a request names none."""

    auto_mode: AutoModeOptions = field(factory=AutoModeOptions)
    audio: AudioOptions = field(factory=AudioOptions)
    vad: VadOptions = field(factory=VadOptions)
    text: TextOptions = field(factory=TextOptions)
    history: HistoryOptions = field(factory=HistoryOptions)
    apply_edits: ApplyEdits = "client"
    """``server`` also applies each utterance with ``workspace/applyEdit`` when the client can."""

    log_level: LogLevel = "info"


def structure_options(raw: Any) -> tuple[Options, list[str]]:
    """Build :class:`Options` from wire data, keeping every valid setting.

    Returns the options and one message per rejected setting, naming it by its wire path
    (``$.engine.numThreads``). A rejected setting takes its default; nothing else changes.
    """
    if raw is None:
        return Options(), []
    if not isinstance(raw, dict):
        return Options(), [f"expected an object for the settings, got {type(raw).__name__} @ $"]
    data = copy.deepcopy(raw)
    problems: list[str] = []
    # Each round drops at least one offending key, so this ends; the bound is belt and braces.
    for _ in range(64):
        try:
            return strict_converter.structure(data, Options), problems
        except (ClassValidationError, IterableValidationError) as exc:
            problems.extend(_pinned(m) for m in error_messages(exc, format_exception=_format))
            if not _drop_offenders(data, exc):
                break
        except Exception as exc:  # noqa: BLE001 - a setting must never stop the server
            problems.append(f"{exc} @ $")
            break
    return Options(), problems


def _drop_offenders(data: Any, exc: BaseException) -> bool:
    """Remove from ``data`` the keys that ``exc`` (a cattrs validation group) complains about."""
    if not isinstance(data, dict):
        return False
    dropped = False
    for sub in getattr(exc, "exceptions", ()):
        if isinstance(sub, ForbiddenExtraKeysError):
            for key in sub.extra_fields:
                data.pop(key, None)
                dropped = True
            continue
        if isinstance(sub, SettingValueError):
            # Raised by a validator while building this section: drop just that setting.
            dropped = data.pop(to_camel(sub.name), None) is not None or dropped
            continue
        for name in (n.name for n in getattr(sub, "__notes__", ()) if hasattr(n, "name")):
            key = to_camel(name)
            if key not in data:
                continue
            if isinstance(sub, ClassValidationError) and isinstance(data[key], dict):
                dropped = _drop_offenders(data[key], sub) or dropped
            else:
                del data[key]
                dropped = True
    return dropped


_PIN = "\x00"  # separates a validator's message from the setting it names, for _pinned()


def _format(exc: BaseException, type_: Any) -> str:
    if isinstance(exc, SettingValueError):
        return f"{exc.detail}{_PIN}{to_camel(exc.name)}"
    return format_exception(exc, type_)


def _pinned(message: str) -> str:
    """cattrs reports a validator's error at its section (``$.engine``); name the setting too."""
    text, sep, path = message.rpartition(" @ ")
    if not sep or _PIN not in text:
        return message
    detail, name = text.split(_PIN, 1)
    return f"{name} {detail} @ {path}.{name}"


def unstructure_options(options: Options) -> dict[str, Any]:
    return strict_converter.unstructure(options)
