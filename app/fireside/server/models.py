"""Which models the API offers: the installed ones, named by their file name without `.gguf`.

A request names a model by id, never by path: a client cannot make Fireside open an arbitrary
file. The organisation's allow-list applies as it does in the window (`prepare_load`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fireside.core.admin.model_access import LoadRefused, prepare_load
from fireside.core.admin.policy import Policy
from fireside.core.models.folders import ModelDir
from fireside.core.models.installed import list_all


def model_id(path: str) -> str:
    """The id a model file answers as: "gpt-oss-20b-mxfp4" for ".../gpt-oss-20b-mxfp4.gguf"."""
    name = Path(path).name
    return name[: -len(".gguf")] if name.lower().endswith(".gguf") else name


class InstalledModels:
    """Resolves ids to installed files; `extra` adds files given on the command line."""

    def __init__(self, policy: Policy, dirs: Callable[[], list[ModelDir]], cache_dir: Path,
                 extra: tuple[str, ...] = ()) -> None:
        self._policy, self._dirs, self._cache = policy, dirs, cache_dir
        self._extra = extra

    def files(self) -> dict[str, str]:
        """id -> path, first found wins (the folders' resolution order)."""
        out: dict[str, str] = {}
        for path in self._extra:
            out.setdefault(model_id(path), path)
        try:
            for m in list_all(self._dirs()):
                out.setdefault(model_id(str(m.path)), str(m.path))
        except OSError:
            pass
        return out

    def ids(self) -> list[str]:
        return list(self.files())

    def path_for(self, model: str) -> str:
        files = self.files()
        path = files.get(model) or files.get(model_id(model))
        if path is None or "/" in model or "\\" in model:
            raise LookupError(f"The model {model!r} does not exist. GET /v1/models lists the "
                              "models this server can answer with.")
        try:
            return prepare_load(path, self._policy, self._dirs(), self._cache)
        except LoadRefused as exc:
            raise LookupError(str(exc)) from None

    def model_id(self, path: str) -> str:
        return model_id(path)
