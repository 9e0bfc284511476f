"""The configuration tree: one defaulted attrs class per section, camelCase on the wire.

Editors push it as ``initializationOptions`` and ``workspace/didChangeConfiguration`` (section
``swictation``); the CLI reads the same tree. Every field has a default, so ``Options()`` is a
working configuration, and a wrong setting falls back to its default instead of stopping the
server (see :func:`structure_options`).
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

import attrs
from attrs import define, field
from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError, IterableValidationError
from cattrs.v import format_exception

from swictation_rpc.converter import (
    MAX_NESTING_DEPTH,
    TooDeepError,
    bounded_copy,
    error_messages,
    strict_converter,
    to_camel,
)

#: A mode a request may ask for. ``auto`` lets the engine choose per request.
Mode = Literal["fast", "accurate", "auto"]
#: A mode that actually ran.
ConcreteMode = Literal["fast", "accurate"]
Device = Literal["auto", "cuda", "cpu"]
DecodingMethod = Literal["greedy_search", "modified_beam_search"]
ApplyEdits = Literal["client", "server"]
LogLevel = Literal["error", "warning", "info", "debug"]
RefineMode = Literal["off", "auto", "always"]
CommitMode = Literal["onStop", "perPhrase"]


class SettingValueError(ValueError):
    """A value of the right type but out of range; names the attribute so only it is dropped."""

    def __init__(self, name: str, message: str):
        self.name = name
        self.detail = message
        super().__init__(f"{to_camel(name)} {message}")


@attrs.frozen
class Between:
    """A validator: a finite number in ``[minimum, maximum]`` (``exclusive_minimum``: ``> minimum``).

    The schema generator reads the bounds from it (:mod:`swictation_rpc.schema`), so the range is
    written once, here, next to the setting it bounds.
    """

    minimum: float
    maximum: float
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False

    def __call__(self, instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return  # None, or the string of an ``int | str`` setting: the type is the converter's job
        if not math.isfinite(value):
            raise SettingValueError(attribute.name, f"must be a finite number, got {value}")
        low_ok = value > self.minimum if self.exclusive_minimum else value >= self.minimum
        high_ok = value < self.maximum if self.exclusive_maximum else value <= self.maximum
        if not (low_ok and high_ok):
            raise SettingValueError(attribute.name, f"must be {self.describe()}, got {_shown(value)}")

    @property
    def json_schema(self) -> dict[str, Any]:
        """The same range as JSON Schema keywords (for numbers)."""
        return {
            "exclusiveMinimum" if self.exclusive_minimum else "minimum": self.minimum,
            "exclusiveMaximum" if self.exclusive_maximum else "maximum": self.maximum,
        }

    def describe(self) -> str:
        low = f"{'>' if self.exclusive_minimum else '>='} {_shown(self.minimum)}"
        high = f"{'<' if self.exclusive_maximum else '<='} {_shown(self.maximum)}"
        return f"{low} and {high}"


@attrs.frozen
class MaxLength:
    """A validator: a string of at most ``maximum`` characters (``None`` passes)."""

    maximum: int

    def __call__(self, instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        if isinstance(value, str) and len(value) > self.maximum:
            raise SettingValueError(attribute.name, f"must be at most {self.maximum} characters long, got {len(value)}")

    @property
    def json_schema(self) -> dict[str, Any]:
        return {"maxLength": self.maximum}


def _shown(value: float) -> str:
    """A number as the user wrote it, not 1e+30 digits long."""
    text = repr(value)
    return text if len(text) <= 24 else f"{value:.3g}"


#: Longest path or model name accepted (Linux's PATH_MAX).
MAX_PATH_CHARS = 4096
#: Longest input device name accepted (PortAudio names are well under this).
MAX_DEVICE_NAME_CHARS = 256
#: Highest PortAudio device index accepted.
MAX_DEVICE_INDEX = 1023
#: Longest audio a setting may ask for (the same 4 hours ``audio.io`` accepts).
MAX_AUDIO_S = 4 * 3600
#: Capture rates accepted (the same range ``audio.io`` decodes).
SAMPLE_RATE_RANGE_HZ = (8000, 384_000)
#: Spoken commands: languages, phrases per language, characters per phrase and per text.
MAX_COMMAND_LANGUAGES = 64
MAX_COMMANDS_PER_LANGUAGE = 1000
MAX_COMMAND_CHARS = 1024


def _device_type(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    """An index or a name: a float such as ``1e30`` would otherwise pass the ``int | str`` union."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, str))):
        raise SettingValueError(attribute.name, f"must be a device index, a device name or null, got {_shown(value)}")


def _custom_commands(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
    if len(value) > MAX_COMMAND_LANGUAGES:
        raise SettingValueError(attribute.name, f"may name at most {MAX_COMMAND_LANGUAGES} languages")
    for language, table in value.items():
        if len(language) > MAX_COMMAND_CHARS:
            raise SettingValueError(attribute.name, f"has a language id longer than {MAX_COMMAND_CHARS} characters")
        if len(table) > MAX_COMMANDS_PER_LANGUAGE:
            raise SettingValueError(
                attribute.name, f"has more than {MAX_COMMANDS_PER_LANGUAGE} commands for {language[:40]!r}"
            )
        for phrase, entry in table.items():
            texts = [phrase, entry] + (list(entry.values()) if isinstance(entry, dict) else [])
            if any(isinstance(t, str) and len(t) > MAX_COMMAND_CHARS for t in texts):
                raise SettingValueError(
                    attribute.name, f"has a phrase or text longer than {MAX_COMMAND_CHARS} characters"
                )


@define
class ModelsOptions:
    fast: str = field(default="parakeet-tdt-110m", validator=MaxLength(MAX_PATH_CHARS))
    """Model for fast mode: a catalogue name (``swictation-rpc models list``) or a model folder."""

    accurate: str = field(default="parakeet-tdt-0.6b-v3-int8", validator=MaxLength(MAX_PATH_CHARS))
    """Model for accurate mode: a catalogue name or a model folder."""

    models_dir: str | None = field(default=None, validator=MaxLength(MAX_PATH_CHARS))
    """Where models are installed. Default: ``$SWICTATION_MODELS_DIR`` or the user data dir."""


@define
class EngineOptions:
    device: Device = "auto"
    """Where fast mode runs: ``auto`` uses CUDA when onnxruntime offers it, else the CPU."""

    num_threads: int = field(default=2, validator=Between(1, 64))
    """CPU threads per model (1 to 64)."""

    decoding_method: DecodingMethod = "greedy_search"
    """Transducer search; ``modified_beam_search`` is needed for hotword biasing."""

    warmup: bool = True
    """Decode a short clip once after loading, so the first dictation is not the slow one."""


@define
class AutoModeOptions:
    long_audio_s: float = field(default=15.0, validator=Between(0, MAX_AUDIO_S))
    """In ``auto`` mode, audio at least this long is decoded in accurate mode."""

    final_uses_accurate: bool = True
    """In ``auto`` mode, final text (stopDictation, file transcription) prefers accurate mode."""


@define
class AudioOptions:
    input_device: int | str | None = field(
        default=None,
        validator=[_device_type, Between(0, MAX_DEVICE_INDEX), MaxLength(MAX_DEVICE_NAME_CHARS)],
    )
    """Microphone by PortAudio index (0 to 1023) or (part of its) name (at most 256 characters);
    ``None`` is the system default."""

    sample_rate_hz: int | None = field(default=None, validator=Between(*SAMPLE_RATE_RANGE_HZ))
    """Capture rate (8000 to 384000 Hz); ``None`` is the device's native rate. Audio is resampled
    to 16 kHz."""


@define
class VadOptions:
    enabled: bool = True
    """Split speech into utterances with Silero VAD (also used to segment long audio)."""

    threshold: float = field(default=0.5, validator=Between(0, 1, exclusive_maximum=True))
    """Speech probability (0 to below 1) above which a frame counts as speech."""

    min_silence_duration_ms: int = field(default=500, validator=Between(0, 60_000))
    """Silence that closes a speech segment."""

    auto_stop_silence_ms: int = field(default=0, validator=Between(0, 3_600_000))
    """Stop dictation after this much silence following speech; 0 turns auto-stop off."""

    max_duration_s: float = field(default=600.0, validator=Between(0, MAX_AUDIO_S, exclusive_minimum=True))
    """Stop dictation after this long whatever happens."""


@define
class TextOptions:
    spoken_commands: bool = True
    """Turn "comma", "new line", "camel case …" and friends into text."""

    refine: RefineMode = "off"
    """Two-pass refine: insert fast text, then replace it with accurate text if it differs."""

    custom_commands: dict[str, dict[str, Any]] = field(factory=dict, validator=_custom_commands)
    """Extra spoken commands by languageId (``"*"`` for all): phrase -> text, ``{"text", "spacing"}``
    or ``null`` to remove a built-in one."""

    cleanup: bool = True
    """Drop fillers ("um", "uh"), repeated words ("the the") and words corrected with "no wait"."""


@define
class HistoryOptions:
    enabled: bool = True
    """Save every utterance (text and audio) before its edit is sent."""

    max_items: int = field(default=1000, validator=Between(1, 1_000_000))
    """Older utterances are rotated out beyond this many."""

    keep_audio: bool = True
    """Keep each utterance's audio, so it can be transcribed again."""


@define
class DictationOptions:
    commit: CommitMode = "onStop"
    """``perPhrase``: each phrase the voice-activity detector closes is inserted (and saved) while
    listening goes on; ``onStop``: the whole dictation is inserted when it stops."""


@define
class SignalsOptions:
    sounds: bool = True
    """Play a short chime when listening starts and stops, and a low tone on an error."""


#: Spoken languages a model here can be told (Whisper's codes; Parakeet v3's 25 are among them).
LANGUAGE_CODES = frozenset(
    "af am ar as az ba be bg bn bo br bs ca cs cy da de el en es et eu fa fi fo fr gl gu ha haw he hi hr "
    "ht hu hy id is it ja jw ka kk km kn ko la lb ln lo lt lv mg mi mk ml mn mr ms mt my ne nl nn no oc "
    "pa pl ps pt ro ru sa sd si sk sl sn so sq sr su sv sw ta te tg th tk tl tr tt uk ur uz vi yi yo yue zh".split()
)


def _language_code(_instance: Any, attribute: Any, value: str) -> None:
    if value == "auto":
        return
    if not re.fullmatch(r"[a-z]{2,3}(-[A-Za-z]{2,4})?", value):
        raise SettingValueError(attribute.name, f"must be 'auto' or a language code like 'en' or 'de', got {value!r}")
    if value.split("-")[0] not in LANGUAGE_CODES:
        raise SettingValueError(
            attribute.name, f"{value!r} is not a language any model here knows (codes like 'en', 'de', 'es', 'fr')"
        )


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
    dictation: DictationOptions = field(factory=DictationOptions)
    signals: SignalsOptions = field(factory=SignalsOptions)
    apply_edits: ApplyEdits = "client"
    """``server`` also applies each utterance with ``workspace/applyEdit`` when the client can."""

    language: str = field(default="auto", validator=_language_code)
    """Spoken language: ``auto`` (detected where the model can, else the model's language) or a
    code such as ``en``, ``de``, ``es``. Passed to models that take one; picks the spoken
    command table."""

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
    data, problems = _bounded_settings(raw)
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


def _bounded_settings(raw: dict[Any, Any]) -> tuple[dict[Any, Any], list[str]]:
    """A copy of the settings with every setting nested absurdly deep left out (and reported).

    Per setting, so the rest of its section is kept. Never recursive: 500 levels of ``{"a": …}``
    must be a settings problem, not a ``RecursionError`` (issue 19, item 6).
    """
    data: dict[Any, Any] = {}
    problems: list[str] = []

    def too_deep(path: str) -> str:
        return f"{path.rpartition('.')[2]} is nested more than {MAX_NESTING_DEPTH} levels deep @ {path}"

    for section, value in raw.items():
        where = f"$.{_short(section)}"
        if not isinstance(value, dict):
            try:
                data[section] = bounded_copy(value, MAX_NESTING_DEPTH - 1, where)
            except TooDeepError:
                problems.append(too_deep(where))
            continue
        kept: dict[Any, Any] = {}
        for name, setting in value.items():
            try:
                kept[name] = bounded_copy(setting, MAX_NESTING_DEPTH - 2, f"{where}.{_short(name)}")
            except TooDeepError:
                problems.append(too_deep(f"{where}.{_short(name)}"))
        data[section] = kept
    return data, problems


def _short(key: Any) -> str:
    """A key as shown in a message: a 100,000-character key is not echoed back whole."""
    text = str(key)
    return text if len(text) <= 64 else text[:64] + "..."


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
