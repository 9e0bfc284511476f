"""Audio in: files and inline PCM (io), the microphone (capture), speech segments (segmenter) and
the microphone dictation session (session)."""

#: All engines take 16 kHz mono float32 in [-1, 1]; audio is converted once, on the way in.
SAMPLE_RATE = 16_000
