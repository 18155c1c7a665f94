#!/usr/bin/env bash
# Builds the stand-alone CiSR Zoom application, a one-folder bundle in dist/cisr-zoom/, from a
# checkout. Everything it installs goes into a build environment under build/bundle/ (git-ignored);
# nothing is installed outside the checkout (pip keeps its download cache as usual).
#
#   packaging/build_bundle.sh                 # CPU build of torch, or CUDA when an NVIDIA GPU is present
#   packaging/build_bundle.sh --torch cpu     # force the CPU build (small: the default without a GPU)
#   packaging/build_bundle.sh --torch cuda    # force a CUDA build (several GB)
#   packaging/build_bundle.sh --clean         # start from a fresh build environment
#
# Environment: PYTHON (default python3, 3.11 or newer), TORCH_VERSION (default 2.13.0),
# TORCH_CPU_INDEX_URL (default https://download.pytorch.org/whl/cpu, as PyPI's Linux wheel of torch
# is the CUDA build; empty: pip's configured sources), TORCH_CUDA_INDEX_URL (default empty: PyPI;
# e.g. https://download.pytorch.org/whl/cu128 for another CUDA version).
# Then: dist/cisr-zoom/cisr-zoom [image] starts it, and
#       dist/cisr-zoom/cisr-zoom --install-desktop adds it to the desktop's menu and "Open with".
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

variant=auto
clean=0
while [ $# -gt 0 ]; do
    case "$1" in
        --torch) variant=${2:?--torch needs cpu, cuda or auto}; shift 2 ;;
        --torch=*) variant=${1#--torch=}; shift ;;
        --clean) clean=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "build_bundle: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case "$variant" in cpu|cuda|auto) ;; *) echo "build_bundle: --torch must be cpu, cuda or auto" >&2; exit 2 ;; esac
if [ "$variant" = auto ]; then
    if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU'; then
        variant=cuda
    else
        variant=cpu
    fi
fi

PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
BUILD=build/bundle
VENV=$BUILD/venv
echo "build_bundle: torch $TORCH_VERSION ($variant build), environment $VENV"

"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "build_bundle: needs Python 3.11 or newer (set PYTHON=...)" >&2; exit 2; }
[ "$clean" = 1 ] && rm -rf "$BUILD" dist/cisr-zoom
[ -d "$VENV" ] || "$PYTHON" -m venv "$VENV"
PY=$ROOT/$VENV/bin/python
[ -x "$PY" ] || PY=$ROOT/$VENV/Scripts/python.exe  # Windows (Git Bash)
"$PY" -m pip install -q --upgrade pip

# torch first, so that installing the project keeps this build of it: the wheel from the CPU (or
# CUDA) index alone, then its dependencies from pip's usual sources (an installed 2.13.0+cpu
# satisfies torch==2.13.0). An empty TORCH_CPU_INDEX_URL= takes torch from pip's usual sources too
# (for a machine whose pip configuration already provides the CPU build).
if [ "$variant" = cpu ]; then
    torch_index=${TORCH_CPU_INDEX_URL-https://download.pytorch.org/whl/cpu}
else
    torch_index=${TORCH_CUDA_INDEX_URL-}
fi
if [ -n "$torch_index" ]; then
    "$PY" -m pip install -q --no-deps "torch==$TORCH_VERSION" --index-url "$torch_index"
fi
"$PY" -m pip install -q "torch==$TORCH_VERSION"
"$PY" - "$variant" <<'PYEOF'
import sys, torch
want = sys.argv[1]
got = "cuda" if torch.version.cuda else "cpu"
print(f"build_bundle: installed torch {torch.__version__} ({got} build)")
if got != want:
    sys.exit(f"build_bundle: wanted the {want} build of torch but got the {got} build; "
             "set TORCH_CPU_INDEX_URL / TORCH_CUDA_INDEX_URL (see --help)")
PYEOF

# The project itself (not editable: the bundle must contain its files) and PyInstaller.
"$PY" -m pip install -q . "pyinstaller>=6.10,<7"

NICE=()
command -v nice >/dev/null 2>&1 && NICE=(nice -n 10)  # a long build: leave the desktop responsive
# Run from the build folder: in the checkout's root, its cisr_zoom/ folder (the bare top-level
# package, without app/ core/ resources/) would shadow the installed package.
(cd "$BUILD" && "${NICE[@]}" "$PY" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$ROOT/dist" --workpath "$ROOT/$BUILD/work" "$ROOT/packaging/pyinstaller/cisr-zoom.spec")

# Smoke test (Linux): the frozen program starts, finds its resources and writes a desktop entry
# pointing at itself (into a throw-away folder, not the user's).
if [ "$(uname -s)" = Linux ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    XDG_DATA_HOME=$tmp dist/cisr-zoom/cisr-zoom --install-desktop >/dev/null
    grep -qF "$ROOT/dist/cisr-zoom/cisr-zoom" "$tmp/applications/io.github.cisrzoom.CisrZoom.desktop" \
        || { echo "build_bundle: smoke test failed: no desktop entry pointing at the bundle" >&2; exit 1; }
fi

echo "build_bundle: done: $(du -sh dist/cisr-zoom | cut -f1) in dist/cisr-zoom/"
echo "  run:     dist/cisr-zoom/cisr-zoom [image]"
echo "  desktop: dist/cisr-zoom/cisr-zoom --install-desktop   (Linux)"
