"""Cell ids as frontends send them, and as records keep them: never an absolute path."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbrepro.capture.code import portable_cell_id


@pytest.mark.parametrize("sent, kept", [
    (None, None),
    ("5c1d2e3f-aaaa-bbbb-cccc-0123456789ab", "5c1d2e3f-aaaa-bbbb-cccc-0123456789ab"),  # JupyterLab
    ("{root}/nb/a.ipynb", "{root}/nb/a.ipynb"),  # not a URI: left as sent
    ("vscode-notebook-cell:{root}/nb/a.ipynb#W0sZmlsZQ%3D%3D", "vscode-notebook-cell:nb/a.ipynb#W0sZmlsZQ%3D%3D"),
    ("vscode-notebook-cell:{root}/my%20nb.ipynb#W3sZmlsZQ%3D%3D", "vscode-notebook-cell:my nb.ipynb#W3sZmlsZQ%3D%3D"),
    ("vscode-notebook-cell:/elsewhere/x.ipynb#W1sZmlsZQ%3D%3D", "vscode-notebook-cell:x.ipynb#W1sZmlsZQ%3D%3D"),
    ("urn:uuid:0f0e2b9d", "urn:uuid:0f0e2b9d"),
])
def test_a_uri_cell_id_loses_its_absolute_path(tmp_path: Path, sent: str | None, kept: str | None) -> None:
    root = tmp_path.resolve()
    fill = (lambda s: s.replace("{root}", root.as_posix()) if s else s)
    assert portable_cell_id(fill(sent), root) == fill(kept)
