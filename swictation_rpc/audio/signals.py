"""Start, stop and error chimes (``signals.sounds``), played on the default output device.

The server plays them because it owns the audio devices; editors have no portable way to. A chime
is a short bundled WAV (``data/chime-*.wav``, ~0.15 s), played on its own thread so neither the
event loop nor the microphone waits for the sound card. A machine without an output device, or
one that fails to play, is dictated on in silence: the failure is logged once, never raised.

``SWICTATION_SOUNDS=0`` in the environment mutes every chime whatever the settings say: the test
harnesses set it, since the virtual microphone they dictate into hears the default output.
"""

from __future__ import annotations

import logging
import os
import threading
from importlib import resources
from typing import Literal

import numpy as np

logger = logging.getLogger(__name__)

Chime = Literal["start", "stop", "error"]
#: ``0`` (or ``off``/``false``/``no``) mutes the chimes on this machine.
SOUNDS_ENV = "SWICTATION_SOUNDS"


def muted_by_environment() -> bool:
    return os.environ.get(SOUNDS_ENV, "").strip().lower() in ("0", "off", "false", "no")


class Chimes:
    """Plays a chime when asked, one at a time (a second waits for the first to end)."""

    def __init__(self) -> None:
        self._sounds: dict[str, tuple[np.ndarray, int]] = {}
        self._lock = threading.Lock()
        self._failed_once = False
        self.played: list[Chime] = []
        """Chimes handed to the output device, in order (the status and tests read it)."""

    def play(self, chime: Chime) -> None:
        if muted_by_environment():
            return
        threading.Thread(target=self._play, args=(chime,), name=f"chime-{chime}", daemon=True).start()

    def _play(self, chime: Chime) -> None:
        try:
            from swictation_rpc.audio.capture import play_on_output

            audio, rate = self._load(chime)
            with self._lock:
                play_on_output(audio, rate)
                self.played.append(chime)
                del self.played[:-16]
        except Exception as exc:  # noqa: BLE001 - a chime must never cost a dictation
            if not self._failed_once:
                self._failed_once = True
                logger.info("Could not play the %s chime (%s): dictating without sounds", chime, exc)

    def _load(self, chime: Chime) -> tuple[np.ndarray, int]:
        if chime not in self._sounds:
            import soundfile

            with resources.files("swictation_rpc").joinpath(f"data/chime-{chime}.wav").open("rb") as file:
                audio, rate = soundfile.read(file, dtype="float32")
            self._sounds[chime] = (audio, int(rate))
        return self._sounds[chime]
