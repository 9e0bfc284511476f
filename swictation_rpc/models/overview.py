"""What the store holds, as ``swictation/models`` reports it: each model's state, and each mode's.

:func:`model_infos` lists the catalogue and the models installed under other names, each with a
one-sentence ``problem`` when its files are damaged (a quick check: sizes and layout, no hashing);
:func:`mode_model` says whether the model a mode is configured with can be loaded. The engine's own
view (which model serves a mode now) is added by the handler. Every call reads the disk: run it
off the event loop.
"""

from __future__ import annotations

from swictation_rpc.errors import ModelBrokenError, ModelDownloadError, ModelNotInstalledError
from swictation_rpc.models.manifest import MANIFEST_NAME
from swictation_rpc.models.store import ModelStore
from swictation_rpc.options import ConcreteMode
from swictation_rpc.protocol import ModelInfo, ModeModel


def human_size(n: int) -> str:
    """``456 MB``, ``1.1 GB``, ``12.3 kB``: decimal units, as download sizes are published."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}".replace(".0 ", " ")
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def sentence(text: str) -> str:
    """``text`` ending with a full stop (one sentence for the user)."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def model_infos(store: ModelStore) -> list[ModelInfo]:
    """The catalogue and the installed non-catalogue models, sorted by name (``serving`` empty)."""
    catalogue = store.catalogue
    installed = {model.name: model for model in store.installed()}
    damaged = {name for name in store.incomplete() if (store.root / name / MANIFEST_NAME).exists()}
    infos = []
    for name in sorted(set(catalogue) | set(installed) | damaged):
        entry = catalogue.get(name)
        model = installed.get(name)
        info = ModelInfo(name=name, title=entry.title if entry else "", in_catalogue=entry is not None)
        if entry is not None:
            info.roles = [entry.role] if entry.role else []
            info.size = entry.download_size
            if info.size is None and entry.approx_size is not None:
                info.approx_size = "~" + human_size(entry.approx_size)
        if model is not None:
            info.installed = True
            info.path = str(model.path)
            report = store.verify(name, quick=True)
            if not report.ok:
                info.problem = damaged_sentence(name, report.problems)
        else:
            info.problem = _folder_problem(store, name)
        infos.append(info)
    return infos


def damaged_sentence(name: str, problems: list[str]) -> str:
    return f"The model {name} is damaged ({'; '.join(problems)}); download it again to replace it."


def _folder_problem(store: ModelStore, name: str) -> str | None:
    """Why a folder of that name in the store is not an installed model, if there is one."""
    try:
        folder = store.path_for(name)
    except ModelDownloadError:
        return None
    if not folder.is_dir():
        return None
    if (problem := store.manifest_problem(name)) is not None:
        return f"The model {name} in {folder} has a damaged {MANIFEST_NAME} ({problem}); download it again."
    return (
        f"The folder {folder} has no {MANIFEST_NAME}, so it is not a complete install;"
        " download the model again with force to replace it."
    )


def mode_model(store: ModelStore, mode: ConcreteMode, requested: str) -> ModeModel:
    """Whether the model ``mode`` is configured with (a name or a folder) is there and intact.

    The bundled model's names are the engine's to know: the caller answers for them.
    """
    try:
        store.resolve(requested)
    except ModelNotInstalledError as exc:
        return ModeModel(mode=mode, model=requested, installed=False, problem=sentence(exc.message))
    except ModelBrokenError as exc:
        return ModeModel(mode=mode, model=requested, installed=True, problem=sentence(exc.message))
    try:
        model = store.get(requested)
    except ModelDownloadError:  # a folder path, not a store name
        model = None
    problem = None
    if model is not None:
        report = store.verify(requested, quick=True)
        if not report.ok:
            problem = damaged_sentence(requested, report.problems)
    return ModeModel(mode=mode, model=requested, installed=True, problem=problem)
