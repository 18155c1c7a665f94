"""The app's command line (parsed before Qt starts)."""
import pytest

from cisr_zoom import __version__
from cisr_zoom.app.main import build_parser


def test_version_prints_the_package_version_and_exits_0(capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"cisr-zoom {__version__}"
