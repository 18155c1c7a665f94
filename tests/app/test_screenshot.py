"""The README screenshot tool's model choice (``--main`` / ``--second``), without a window."""

from cisr_zoom.app.model_catalog import ModelCatalog
from cisr_zoom.app.screenshot import _source_id
from cisr_zoom.core.defaults import DEFAULT_MODEL


def test_source_names_resolve_to_catalog_ids(tmp_path):
    catalog = ModelCatalog()
    assert _source_id(catalog, None) is None
    assert _source_id(catalog, "bicubic") == "bicubic"
    assert _source_id(catalog, DEFAULT_MODEL) == f"bundled:{DEFAULT_MODEL}"
    assert _source_id(catalog, f"bundled:{DEFAULT_MODEL}") == f"bundled:{DEFAULT_MODEL}"
    path = tmp_path / "mine.pth"
    path.write_bytes(b"")
    sid = _source_id(catalog, str(path))
    assert sid.startswith("file:") and sid in catalog
