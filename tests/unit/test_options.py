"""Settings: camelCase on the wire, defaults for everything, and a bad setting costs only itself."""

from __future__ import annotations

from swictation_rpc.options import Options, structure_options, unstructure_options


def test_no_settings_means_the_defaults():
    options, problems = structure_options(None)
    assert options == Options() and problems == []


def test_settings_round_trip_in_camel_case():
    wire = unstructure_options(Options())
    assert wire["defaultMode"] == "auto"
    assert wire["engine"]["numThreads"] == 2
    assert wire["vad"]["minSilenceDurationMs"] == 500
    options, problems = structure_options(wire)
    assert options == Options() and problems == []


def test_valid_settings_are_applied():
    options, problems = structure_options(
        {"models": {"fast": "/models/x"}, "engine": {"device": "cpu"}, "defaultMode": "fast", "applyEdits": "server"}
    )
    assert problems == []
    assert options.models.fast == "/models/x"
    assert options.engine.device == "cpu"
    assert options.default_mode == "fast"
    assert options.apply_edits == "server"


def test_each_bad_setting_is_named_and_falls_back_alone():
    options, problems = structure_options(
        {
            "engine": {"numThreads": "four", "device": "cpu", "bogus": 1},
            "defaultMode": "turbo",
            "vad": {"threshold": -1, "enabled": False},
            "typo": True,
        }
    )
    # Every valid sibling survives...
    assert options.engine.device == "cpu"
    assert options.vad.enabled is False
    # ...and every invalid one is reported by its wire path and takes its default.
    assert options.engine.num_threads == 2
    assert options.default_mode == "auto"
    assert options.vad.threshold == 0.5
    text = "\n".join(problems)
    for needle in ("$.engine.numThreads", "bogus", "$.defaultMode", "threshold must be >= 0", "typo"):
        assert needle in text, (needle, problems)


def test_a_section_of_the_wrong_type_is_replaced_by_its_defaults():
    options, problems = structure_options({"engine": 5, "defaultMode": "accurate"})
    assert options.engine == Options().engine
    assert options.default_mode == "accurate"
    assert any("$.engine" in p for p in problems)


def test_settings_that_are_not_an_object_give_defaults_and_a_message():
    options, problems = structure_options(["not", "an", "object"])
    assert options == Options() and problems


def test_json_types_are_not_coerced():
    # cattrs alone would read "yes" as True, 1.7 as 1 and "abc" as ["a", "b", "c"].
    options, problems = structure_options(
        {
            "engine": {"warmup": "yes"},
            "vad": {"minSilenceDurationMs": 1.7, "threshold": 0},
            "history": {"maxItems": "5"},
        }
    )
    assert options.engine.warmup is True and options.vad.min_silence_duration_ms == 500
    assert (
        options.vad.threshold == 0.0 and isinstance(options.vad.threshold, float) and options.history.max_items == 1000
    )
    text = "\n".join(problems)
    for path in ("$.engine.warmup", "$.vad.minSilenceDurationMs", "$.history.maxItems"):
        assert path in text, problems


def test_out_of_range_values_are_reported_at_their_own_path():
    _, problems = structure_options({"engine": {"numThreads": 0}})
    assert problems == ["numThreads must be >= 1 and <= 64, got 0 @ $.engine.numThreads"]
