"""LSP lifecycle: initialize (settings, background engine load), settings changes, shutdown.

``initialize`` never waits for the engine: it installs the options, has the engine host start
loading the models and answers at once; the load is shown as work-done progress after
``initialized``. Settings changes (pushed with ``workspace/didChangeConfiguration`` or pulled with
``workspace/configuration``) are turned into options here, invalid ones reported by name, and
the engine's part handed to :class:`~swictation_rpc.engine_host.EngineHost`, which applies changes
in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import attrs
from lsprotocol import types

from swictation_rpc.engine_host import SettingsChange
from swictation_rpc.handlers.base import Server
from swictation_rpc.handlers.documents import request_sync
from swictation_rpc.options import Options, structure_options

logger = logging.getLogger(__name__)

#: The settings section editors keep our configuration under.
SECTION = "swictation"
#: A client that does not answer a configuration request within this long is not waited on.
CLIENT_REPLY_TIMEOUT_S = 10.0
#: Settings whose change reloads models: shown as work-done progress.
RELOADING_SETTINGS = ("models", "engine")


def initialize(ls: Server, params: types.InitializeParams) -> None:
    raw = params.initialization_options
    ls.history_owner = history_owner(params)
    ls.editor_client = params.client_info is not None
    text_document = params.capabilities.text_document
    synchronization = text_document.synchronization if text_document is not None else None
    ls.documents.tracker.reports_saves = bool(synchronization is not None and synchronization.did_save)
    try:
        options, problems = structure_options(unwrap_section(raw))
        report_problems(ls, problems, "initializationOptions")
        ls.install_options(options)
    except BaseException as exc:  # the server starts, with the defaults, whatever went wrong
        logger.exception("Installing the initializationOptions failed; using the defaults")
        ls.show_message(f"Swictation: the settings could not be applied ({exc}); defaults are used instead.")
        options = Options()
        try:
            ls.install_options(options)
        except BaseException:
            logger.exception("Installing the default options failed")
    ls.pull_config_at_start = raw is None and ls.supports_configuration()
    ls.engine_host.start(options)


def history_owner(params: types.InitializeParams) -> str:
    """Whose utterances this server's history rotates and undoes: the editor and its workspace.

    Stable across restarts and versions: the client's name, NUL, the root uri (``rootUri``, else
    the first workspace folder, else empty). Two editors on one data folder never rotate out or
    undo each other's utterances.
    """
    client = params.client_info.name if params.client_info is not None else ""
    root = params.root_uri
    if not root and params.workspace_folders:
        root = params.workspace_folders[0].uri
    return f"{client}\x00{root or ''}"


async def initialized(ls: Server, params: types.InitializedParams) -> None:
    ls.publish_state()  # "loading" (or "idle" if the engine was quicker than the client)
    # Recover, replay and sweep the history at start, off the event loop (not at its first use).
    ls.spawn(open_history(ls))
    # Document sync lets undo/refine find utterances after edits (client/registerCapability).
    ls.spawn(request_sync(ls))
    await ls.engine_host.show_load_progress()
    if ls.pull_config_at_start:
        # No initializationOptions: the settings live in the client's configuration.
        await pull_and_apply(ls, ls.engine_host.begin_change())


def did_change_configuration(ls: Server, params: types.DidChangeConfigurationParams) -> None:
    """Pushed settings apply at once (in message order); otherwise they are pulled.

    Deliberately synchronous for pushed settings: a request sent right after this notification
    is dispatched after the new settings are installed, so it waits for them.
    """
    settings = params.settings
    if isinstance(settings, dict) and SECTION in settings:
        apply_settings(ls, settings[SECTION], "workspace/didChangeConfiguration")
    elif ls.supports_configuration():
        ls.spawn(pull_and_apply(ls, ls.engine_host.begin_change()))
    elif isinstance(settings, dict) and settings:
        apply_settings(ls, settings, "workspace/didChangeConfiguration")
    else:
        logger.info("didChangeConfiguration without %r settings and no workspace/configuration: ignored", SECTION)


async def shutdown(ls: Server, *args: Any) -> None:
    """A session still listening is stopped and saved to the history, never thrown away.

    The editor is closing (the user quit mid-sentence): there is no document left to insert
    into, but the words are kept (``swictation/history`` shows them next time).
    """
    await ls.dictation.save_unfinished()


async def open_history(ls: Server) -> None:
    store = ls.history
    if store is None:
        return
    try:
        await ls.blocking(store.open)
    except Exception:  # the next access reports what is wrong to the user
        logger.exception("Opening the history at start failed")


FEATURES: dict[str, Callable[..., Any]] = {
    types.INITIALIZE: initialize,
    types.INITIALIZED: initialized,
    types.WORKSPACE_DID_CHANGE_CONFIGURATION: did_change_configuration,
    types.SHUTDOWN: shutdown,
}


# -- settings -------------------------------------------------------------------------------------


def unwrap_section(raw: Any) -> Any:
    """Accept both ``{"models": …}`` and ``{"swictation": {"models": …}}``."""
    if isinstance(raw, dict) and SECTION in raw:
        return raw[SECTION]
    return raw


def report_problems(ls: Server, problems: list[str], source: str) -> None:
    """Tell the user which settings were ignored: by name, with why, and that defaults apply."""
    if not problems:
        return
    described = []
    for problem in problems:
        text, sep, where = problem.rpartition(" @ ")
        if not sep:
            text, where = problem, "$"
        name = where[2:] if where.startswith("$.") else where
        described.append(f"{SECTION}.{name}: {text}" if name != "$" else text)
    message = "Swictation: invalid settings ignored, defaults used instead: " + "; ".join(described)
    logger.warning("%s (from %s)", message, source)
    ls.show_message(message, types.MessageType.Warning)


async def pull_and_apply(ls: Server, change: SettingsChange) -> None:
    """Fetch the settings with ``workspace/configuration`` and apply them (unless a newer change came)."""
    raw: Any = None
    fetched = False
    try:
        items = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            ),
            CLIENT_REPLY_TIMEOUT_S,
        )
        raw = items[0] if items else None
        fetched = True
    except Exception as exc:  # noqa: BLE001 - a client that cannot answer keeps the settings as they are
        logger.warning("workspace/configuration failed: %s; settings unchanged", exc)
    if not ls.engine_host.is_latest(change) or not fetched or raw is None:
        ls.engine_host.settle(change)  # superseded by a newer change, or nothing to apply
        return
    try:
        apply_settings(ls, raw, "workspace/configuration", change=change)
    except BaseException:
        ls.engine_host.settle(change)  # never leave the requests waiting for it
        raise


def apply_settings(ls: Server, raw: Any, source: str, *, change: SettingsChange | None = None) -> None:
    """Install new settings now; the engine host re-applies the engine's part on its thread.

    The change is settled on every path: whatever fails here, the previous options stay, the
    user is told, and the requests waiting for the change go on (issue 19, item 6).
    """
    if change is None:
        change = ls.engine_host.begin_change()
    previous = ls.options
    try:
        options, problems = structure_options(unwrap_section(raw))
        report_problems(ls, problems, source)
        ls.install_options(options)
        if options == previous:
            logger.info("Settings from %s unchanged", source)
            ls.engine_host.settle(change)
            return
        changed = [a.name for a in attrs.fields(Options) if getattr(options, a.name) != getattr(previous, a.name)]
        logger.info("Settings changed (%s) from %s", ", ".join(changed), source)
        ls.engine_host.apply(options, change, show_progress=any(name in changed for name in RELOADING_SETTINGS))
    except BaseException as exc:  # a settings change must never wedge the server
        logger.exception("Applying the settings from %s failed; the previous settings stay", source)
        try:
            if ls.options is not previous:
                ls.install_options(previous)
        except BaseException:
            logger.exception("Restoring the previous settings failed")
        ls.show_message(f"Swictation: the new settings could not be applied ({exc}); the previous settings stay.")
        ls.engine_host.settle(change)
