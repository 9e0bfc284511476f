"""The utterance history: every utterance's text, place and audio, saved before its edit is sent.

One SQLite database (``history.sqlite3``, WAL journal) and one 16-bit audio file per utterance.
An utterance is committed before its edit is sent, without waiting for an fsync
(``synchronous=NORMAL``: the commit is in the log, so it survives the process being killed); the
store's encoder thread fsyncs the log once its queue of work is done, right after, so from then on
it also survives, as far as the disk keeps its word, a power cut. Audio goes under ``audio/``: a
WAV written before :meth:`HistoryStore.add`
returns (cheap: no compression on the request path; its bytes survive a killed process), which
the store's encoder thread turns into FLAC right after (written durably, the row pointed at it,
the WAV removed; a WAV left by a killed server is encoded at the next open). The folder is the user's only (0700,
files 0600): it holds what they said. Beyond ``HistoryOptions.max_items`` the oldest utterances
and their audio are deleted: only the store's own ``owner``'s (the editor and workspace a server
serves), so one editor never rotates out another's work on a shared data folder.

With ``HistoryOptions.enabled`` false, nothing touches the disk: the store lives in memory, so
undo still works for the session.

Never lose a word:

- Any failure while saving raises :class:`~swictation_rpc.errors.HistoryWriteError` (the caller
  still sends the edit and reports the error), leaves no audio file behind, and appends the
  utterance to ``spool.jsonl`` (private, append-only); the spool is replayed into the database
  when the store next opens or next saves successfully.
- A damaged database is moved aside (``history.sqlite3.damaged-<UTC time>``, kept, never
  deleted), a fresh one is started, and ``notify`` is told once (:attr:`HistoryStore.recovered_from`).

Never touch a file the server did not create:

- A symlinked ``history/`` or ``history/audio/`` is followed for the location only: modes are set
  through descriptors opened with ``O_NOFOLLOW``, so the link's target keeps its mode.
- Only names the server makes (``<32 hex>.flac`` / ``.wav`` / ``.tmp``, regular files by ``lstat``) are ever
  removed from ``audio/``. Leftovers of a killed server are swept when the store opens (any first
  access, read or write): a file another live server is still committing is locked by it
  (``flock``) and skipped, so the sweep needs no age threshold.

Where each concern lives:

- :mod:`.store`: :class:`HistoryStore` (connection, saving, rotation, updates, queries);
- :mod:`.schema`: the table, and utterance records to rows and back (:class:`HistoryEntry`);
- :mod:`.database`: opening the SQLite file (checks, migration), transactions, moving a damaged one aside;
- :mod:`.spool`: the spool of utterances that could not be saved, and its replay;
- :mod:`.files`: private folders and files, the audio files, locks and the sweep of leftovers.
"""

from swictation_rpc.history.database import DB_NAME
from swictation_rpc.history.files import AUDIO_DIR
from swictation_rpc.history.schema import HistoryEntry
from swictation_rpc.history.spool import SPOOL_NAME
from swictation_rpc.history.store import HistoryStore

__all__ = ["AUDIO_DIR", "DB_NAME", "SPOOL_NAME", "HistoryEntry", "HistoryStore"]
