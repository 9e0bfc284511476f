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
