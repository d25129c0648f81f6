"""Messages are printed as written: text in square brackets ("[store]", "[attributes]") is not
taken for terminal markup and swallowed."""

from __future__ import annotations

from projectkit import Project


def test_config_error_keeps_its_bracketed_hint(project: Project) -> None:
    project.extra_config = (
        '\n[traits.km]\nkind = "distance"\nlat = 48.85\nlon = 2.35\n'
        'lat_column = "lat"\nlon_column = "lon"\n'
    )
    project.write()
    result = project.cli("check")
    assert result.code == 2
    assert "declare it in [attributes]" in result.err
