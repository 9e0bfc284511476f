"""``python -m benchmarks.beam_search``: what beam search costs a sherpa-onnx transducer, on the CPU.

No Parakeet model can be downloaded here, so this runs on the synthetic *tone* models the tests
build (:mod:`swictation_rpc.testing.synthetic`): same sherpa-onnx decoder, encoder and joiner
graphs as a NeMo transducer, but tiny and deterministic. It measures the decode time of
``greedy_search`` against ``modified_beam_search`` (without hints, with the buffer's identifiers,
and with the command phrases the server adds in code) and whether the text stays exact. What it
cannot measure is the *gain* in command and identifier accuracy on real speech: a tone model's
output is already certain, so biasing cannot change it. That has to be measured on a real
Parakeet model (``python -m benchmarks.commands`` with ``models.fast`` set to it).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

#: A spoken-command alphabet for the tone model.
TOKENS = (
    "<unk>",
    "\u2581print",
    "\u2581open",
    "\u2581paren",
    "\u2581close",
    "\u2581name",
    "\u2581comma",
    "\u2581snake",
    "\u2581case",
    "\u2581user",
    "\u2581count",
    "\u2581get",
    "\u2581by",
    "\u2581id",
)
SAID = ("print open paren name close paren", "snake case user count", "get user by id comma name")


def measure(repeats: int = 20, threads: int = 2) -> list[tuple[str, str, float, bool]]:
    """Rows of (decoding, hints, p50 ms per utterance, all exact)."""
    from swictation_rpc.engine.base import Hints
    from swictation_rpc.engine.sherpa import SherpaTransducer
    from swictation_rpc.models.layout import inspect_model_dir
    from swictation_rpc.testing.synthetic import expected_text, tone_audio, write_tone_model

    rows = []
    with tempfile.TemporaryDirectory(prefix="swictation-beam-") as tmp:
        folder = write_tone_model(Path(tmp), tokens=TOKENS, name="tones")
        files = inspect_model_dir(folder)
        clips = [(tone_audio(s, tokens=TOKENS), expected_text(s, tokens=TOKENS)) for s in SAID]
        variants = {
            "none": Hints(),
            "identifiers": Hints(hotwords=("get user by id", "user count")),
            "identifiers+commands": Hints(
                hotwords=("get user by id", "user count"), commands=("open paren", "close paren", "comma", "snake case")
            ),
        }
        for method in ("greedy_search", "modified_beam_search"):
            model = SherpaTransducer.from_files(files, name="tones", num_threads=threads, decoding_method=method)
            try:
                for label, hints in variants.items():
                    times, exact = [], True
                    for _ in range(repeats):
                        for audio, expected in clips:
                            started = time.perf_counter()
                            text = model.recognize(audio, hints).text
                            times.append((time.perf_counter() - started) * 1000)
                            exact = exact and text == expected
                    rows.append((method, label, statistics.median(times), exact))
            finally:
                model.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.beam_search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    print(f"{'decoding':<22} {'hints':<22} {'decode p50':>11} {'exact':>6}")
    for method, label, ms, exact in measure(args.repeats, args.threads):
        print(f"{method:<22} {label:<22} {ms:>8.2f} ms {'yes' if exact else 'NO':>6}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
