"""Utterances: the one pipeline from recognised text to document edits, and everything after.

- :mod:`~swictation_rpc.utterances.service`: :class:`UtteranceService`, format for the cursor ->
  save to the history -> track -> apply or return; undo, "scratch that", retranscribe, listing.
- :mod:`~swictation_rpc.utterances.refine`: the accurate second pass of fast utterances.
- :mod:`~swictation_rpc.utterances.edits`: who applies the edits (server or client).
- :mod:`~swictation_rpc.utterances.documents`: documents the editor syncs, utterances followed
  through their changes.
- :mod:`~swictation_rpc.utterances.dictation`: microphone sessions and where their text goes.
- :mod:`~swictation_rpc.utterances.fitting`: pure helpers (formatting, hotwords, refine plan).
- :mod:`~swictation_rpc.utterances.ports`: what the service needs of the engine and the client.

Nothing here imports the server or a handler; the handlers translate and call in.
"""
