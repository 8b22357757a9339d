"""Where a dataset lives: the configured path, else a conventional folder under ADLAB_DATA_ROOT."""
from __future__ import annotations

from pathlib import Path

from adlab.data.registry import get_layout
from adlab.errors import NotFoundError
from adlab.settings import data_root


def dataset_root(configured: str | Path | None, dataset: str) -> Path:
    """The configured dataset root, else ``$ADLAB_DATA_ROOT/<conventional folder>`` (e.g.
    ``MVTecAD``, ``VisA``, ``MVTec_LOCO``; the first of the layout's folder names that exists)."""
    layout = get_layout(dataset)
    if configured not in (None, ""):
        path = Path(configured).expanduser()
        if not path.is_dir():
            raise NotFoundError(
                f"data root {path} for dataset '{dataset}' does not exist; fix data_root in the config"
            )
        return path
    base = data_root(None)
    if base is None:
        raise NotFoundError(
            f"no data root for dataset '{dataset}'; set data_root in the config or ADLAB_DATA_ROOT "
            f"to the folder that holds {layout.folder_names[0]}/"
        )
    for name in layout.folder_names:
        if (base / name).is_dir():
            return base / name
    raise NotFoundError(
        f"ADLAB_DATA_ROOT={base} has no folder for dataset '{dataset}'; expected one of "
        f"{', '.join(layout.folder_names)} under it (or set data_root in the config)"
    )
