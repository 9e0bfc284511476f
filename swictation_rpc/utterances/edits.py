"""Edits to the client's documents: applied by the server (``workspace/applyEdit``) or returned.

With ``applyEdits: "server"`` and a client that announced ``workspace.applyEdit``, the server
applies an utterance's edits itself; a client that refuses or does not answer within
:data:`APPLY_EDIT_TIMEOUT_S` gets them returned instead, so no text is ever lost or doubled.

The workspace edit names the document with a versioned identifier (``documentChanges``, LSP's
``OptionalVersionedTextDocumentIdentifier``): edits of earlier utterances carry the synced
version they were checked against, so an editor whose document moved on refuses them; new
insertions carry ``null`` (the position came from the client).
"""

from __future__ import annotations

import asyncio
import logging

from lsprotocol import types
from lsprotocol.types import TextEdit

from swictation_rpc.utterances.ports import Client, OptionsGetter

logger = logging.getLogger(__name__)

#: Label of the workspace edit the server applies itself (``applyEdits: "server"``).
APPLY_EDIT_LABEL = "Swictation: dictation"
#: A client that does not answer ``workspace/applyEdit`` within this long gets the edits back instead.
APPLY_EDIT_TIMEOUT_S = 10.0


class EditSender:
    """Decides who applies an utterance's edits, and applies them when it is the server."""

    def __init__(self, client: Client, options: OptionsGetter):
        self._client = client
        self._options = options
        #: The client went away (a session is being saved on exit): nobody is left to apply edits.
        self.client_gone = False

    def server_applies(self) -> bool:
        """``applyEdits: "server"`` and a client that can apply workspace edits."""
        if self.client_gone:
            return False
        return self._options().apply_edits == "server" and self._client.can_apply_edit()

    async def apply_if_server_applies(self, uri: str, edits: list[TextEdit], version: int | None = None) -> bool:
        """Apply ``edits`` when the server applies edits; true if the client applied them."""
        return self.server_applies() and await self.apply(uri, edits, version)

    async def apply(self, uri: str, edits: list[TextEdit], version: int | None = None) -> bool:
        """``workspace/applyEdit`` of ``edits`` to ``uri`` at ``version`` (``None``: any version).

        False when the client refused, failed or did not answer.
        """
        change = types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
            edits=list(edits),
        )
        params = types.ApplyWorkspaceEditParams(
            edit=types.WorkspaceEdit(document_changes=[change]), label=APPLY_EDIT_LABEL
        )
        try:
            reply = await asyncio.wait_for(self._client.workspace_apply_edit_async(params), APPLY_EDIT_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the client keeps the edits instead
            logger.warning("workspace/applyEdit failed (%s): returning the edits instead", exc)
            return False
        applied = bool(getattr(reply, "applied", False))
        if not applied:
            logger.warning(
                "The client did not apply the edit (%s): returning the edits instead",
                getattr(reply, "failure_reason", None),
            )
        return applied
