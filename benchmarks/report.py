"""The printed table: latency per clip with the ratio to each peer, cold start and memory, notes."""

from __future__ import annotations

import functools
from collections import OrderedDict

from benchmarks.machine import describe
from benchmarks.results import Results


def _fmt(value: float | None, spec: str = ".1f", empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def _table(headers: list[str], rows: list[list[str]], *, left: int = 2) -> list[str]:
    """Aligned text columns; the first ``left`` columns are labels (left-aligned), the rest numbers."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def render(results: Results) -> str:
    out: list[str] = [f"Machine: {describe(results.machine)}", ""]
    seconds = {name: info.get("seconds") for name, info in results.settings.get("clips", {}).items()}

    # Decode latency, one line per (clip, contender), in the order measured.
    pairs: OrderedDict[tuple[str, str], None] = OrderedDict()
    for row in results.rows:
        if row.metric == "decode_p50":
            pairs[(row.clip, row.contender)] = None
    ratio_of = {(r.clip, r.contender): r for r in results.ratios}
    rows = []
    for clip, contender in pairs:
        value = functools.partial(results.value, contender, clip)
        ratio = ratio_of.get((clip, contender))
        if ratio is not None and ratio.peer == "engine decode":
            ratio = next(
                (r for r in results.ratios if (r.clip, r.contender) == (clip, contender) and r.peer != "engine decode"),
                ratio,
            )
        vs = "-"
        if ratio is not None:
            mark = {True: " ok", False: " !", None: ""}[ratio.meets_target]
            vs = f"{ratio.value:.3f}x {ratio.peer}{mark}"
        label = f"{clip} ({seconds.get(clip, '?')} s)"
        rows.append(
            [
                label,
                contender,
                _fmt(value("decode_p50"), ".2f"),
                _fmt(value("decode_p95"), ".2f"),
                _fmt(value("rtf"), ".4f"),
                _fmt(value("wer"), ".2f"),
                vs,
            ]
        )
    out.append("Warm decode latency (same clips, contenders interleaved)")
    out += _table(["clip", "contender", "p50 ms", "p95 ms", "RTF", "WER", "vs peer"], rows)

    # Ratios with targets; long notes become footnotes.
    out += ["", "Ratios (median of per-round ratios; contenders ran back to back in each round)"]
    ratio_rows, footnotes = [], []
    for r in results.ratios:
        target = "-" if r.target is None else (f">= {r.target}" if r.higher_is_better else f"<= {r.target}")
        verdict = {True: "meets", False: "MISSES", None: ""}[r.meets_target]
        mark = ""
        if r.note:
            if r.note not in footnotes:
                footnotes.append(r.note)
            mark = f"[{footnotes.index(r.note) + 1}]"
        of = f"{r.peer} / {r.contender}" if r.higher_is_better else f"{r.contender} / {r.peer}"
        ratio_rows.append([r.name, of, r.clip, f"{r.value:.3f}x", target, f"{verdict} {mark}".strip()])
    out += _table(["ratio", "of", "clip", "value", "target", ""], ratio_rows, left=3)
    out += [f"  [{i}] {note}" for i, note in enumerate(footnotes, 1)]
    overhead = results.server_overhead_ratio
    out.append(
        f"server_overhead_ratio (speech-2.8s, worse of path/pcm16, round trip / the engine's decode of the "
        f"same request): {_fmt(overhead, '.3f')}x (target <= 1.05)"
    )

    # Where the server's time goes, per request (paired within each request).
    server_rows = []
    for clip, contender in pairs:
        if not contender.startswith("server-"):
            continue
        value = functools.partial(results.value, contender, clip)
        if value("overhead_vs_own_decode") is None:
            continue
        server_rows.append(
            [
                clip,
                contender,
                _fmt(value("decode_p50"), ".2f"),
                _fmt(value("server_decode_ms_p50"), ".2f"),
                _fmt(value("overhead_vs_own_decode"), ".2f"),
                _fmt(value("overhead_audio_read"), ".2f"),
                _fmt(value("overhead_outside_handler"), ".2f"),
            ]
        )
    if server_rows:
        out += ["", "Server overhead per request (stop->edit round trip minus the engine's decode of that request)"]
        out += _table(
            ["clip", "contender", "round trip ms", "engine decode ms", "overhead ms", "audio read ms", "rest ms"],
            server_rows,
        )

    # Dictation: stop->edit by trailing pause, through the server's capture path.
    dictation = [r.clip for r in results.rows if r.contender == "server-dictation" and r.metric == "stop_edit_p50"]
    if dictation:
        out += [
            "",
            "Dictation stop->edit (startDictation, speech, a pause, stopDictation; raw = faster-whisper on the same tail)",
        ]
        dictation_rows = []
        for clip in dictation:
            for contender in ("server-dictation", "server-dictation+speculation"):
                value = functools.partial(results.value, contender, clip)
                if value("stop_edit_p50") is None:
                    continue
                dictation_rows.append(
                    [
                        clip,
                        contender,
                        _fmt(value("stop_edit_p50")),
                        _fmt(value("stop_edit_p95")),
                        _fmt(results.value("faster-whisper", clip, "raw_tail_p50")),
                        _fmt(value("stop_edit_vs_raw_tail"), ".2f"),
                        _fmt(value("wer"), ".2f"),
                    ]
                )
        out += _table(
            ["clip", "server", "stop->edit p50 ms", "p95 ms", "raw tail p50 ms", "ratio", "WER"], dictation_rows
        )
        rss = [(m, results.value("server-dictation", "-", m)) for m in ("rss_after_load", "rss_after_50")]
        out.append(
            "Server RSS: "
            + ", ".join(f"{m.removeprefix('rss_').replace('_', ' ')} {_fmt(v, '.0f')} MB" for m, v in rss)
        )

    # Cold start and memory (fresh process per contender).
    names = list(OrderedDict.fromkeys(r.contender for r in results.rows if r.metric in ("cold_load", "rss")))
    if names:
        out += ["", "Cold start and memory (a fresh process per contender; OS file cache warm)"]
        mem_rows = []
        for name in names:
            first = [r for r in results.rows if r.contender == name and r.metric == "first_decode"]
            warmups = [r for r in results.rows if r.contender == name and r.metric.startswith("engine_warmup_")]
            mem_rows.append(
                [
                    name,
                    _fmt(results.value(name, "-", "import")),
                    _fmt(results.value(name, "-", "cold_load")),
                    ", ".join(f"{r.value:.1f} ({r.clip})" for r in first) or "-",
                    ", ".join(f"{r.metric.removeprefix('engine_warmup_')} {r.value:.1f}" for r in warmups) or "-",
                    _fmt(results.value(name, "-", "rss"), ".0f"),
                    _fmt(results.value(name, "-", "rss_added"), ".0f"),
                    _fmt(results.value(name, "-", "gpu_memory"), ".0f"),
                ]
            )
        out += _table(
            ["contender", "import ms", "load ms", "first decode ms", "engine warmup ms", "RSS MB", "+RSS MB", "GPU MB"],
            mem_rows,
            left=1,
        )
    ready = results.value("server", "-", "ready")
    if ready is not None:
        out.append(
            f"Server: initialize answered in {_fmt(results.value('server', '-', 'initialize'), '.0f')} ms, "
            f"engine ready {ready:.0f} ms after spawn"
        )
    if results.notes:
        out += ["", "Notes"] + [f"- {note}" for note in results.notes]
    return "\n".join(out)
