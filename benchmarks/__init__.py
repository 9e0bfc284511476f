"""Benchmarks: swictation-rpc's engines and server, side by side with the raw engines they wrap.

Run from the repository root::

    python -m benchmarks [--quick] [--json OUT] [--baseline FILE] [--fail-on-regression]

Every contender decodes the same clips in the same run, interleaved round by round, so the
ratios (ours / the raw library) are fair even on a noisy machine; absolute numbers depend on the
machine, which the output describes. Timings are measured here and never asserted in tests.
"""
