"""Method handlers: each translates a request's params, calls a service, and returns the result.

Like jedi-language-server's, a handler is a few lines: the work lives in
:mod:`swictation_rpc.utterances` (the utterance pipeline, document tracking, microphone sessions)
and :mod:`swictation_rpc.engine_host` (the engine's life). Each module maps the methods it serves
to its handlers in ``FEATURES``; the server registers them. Handlers see the server through
:class:`~swictation_rpc.handlers.base.Server`, never the server module itself.
"""
