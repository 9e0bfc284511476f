"""The model store: the catalogue, downloads, layout checks and the installed models' manifests.

Nothing here runs a model; ``swictation_rpc.engine`` loads what the store hands it.

- :mod:`.store`: :class:`~.store.ModelStore` (find, resolve, verify, remove); :mod:`.install`:
  download and import; :mod:`.manifest`; :mod:`.checks` (structure, files against the manifest);
  :mod:`.staging` (private folders, copies, locks);
- :mod:`.catalogue`: the published models; :mod:`.download`: HTTPS fetch; :mod:`.archive`: safe
  extraction; :mod:`.files`: safe reads and hashes;
- :mod:`.layout`: the engine's folder rules, over :mod:`.onnx_summary` (ONNX interface without
  weights) and :mod:`.tokens` (tokens.txt / vocab.txt).
"""
