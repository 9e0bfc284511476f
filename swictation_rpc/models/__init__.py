"""The model store: the catalogue, downloads, layout checks and the installed models' manifests.

Nothing here runs a model; ``swictation_rpc.engine`` loads what the store hands it.
"""
