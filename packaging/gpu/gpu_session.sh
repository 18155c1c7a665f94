#!/usr/bin/env bash
# One GPU session in at most ~9 minutes: CUDA tests, the GPU renderer benchmark, and a CiSRGAN
# stage-2 training run (EMA, LDL, LR-period; gpu-cisrgan-official-edsr-baseline) from the bundled
# LIIF (the LIIF authors' checkpoint) on a packed training subset, writing the EMA weights to OUT.
#
#   packaging/gpu/gpu_session.sh OUT [PACK]      # PACK: folder made by core.train.pack (default train-pack)
#
# Runs with the machine's own python3 and torch (no installs: the project is put on PYTHONPATH).
# Budget: TEST_S (default 90) + BENCH_S (90) + TRAIN_MIN (6 min of training) + export.
# Afterwards, on the development machine: `cisr eval` OUT/cisrgan-edsr-baseline.pth (LPIPS and the
# cell pattern, x4-x12) and commit only if it beats the bundled file (see TRAINING.md).
set -uo pipefail
OUT=${1:?usage: gpu_session.sh OUT [PACK]}
PACK=${2:-train-pack}
TEST_S=${TEST_S:-90}; BENCH_S=${BENCH_S:-90}; TRAIN_MIN=${TRAIN_MIN:-6}
cd "$(dirname "$0")/../.."
mkdir -p "$OUT"
SITE=$(mktemp -d)
python3 -m pip install -q --no-deps --no-index --no-build-isolation --target "$SITE" . >"$OUT/install.log" 2>&1 \
    || { echo "install failed (see $OUT/install.log)"; exit 1; }
export PYTHONPATH="$SITE" PYTHONUNBUFFERED=1
CLI="python3 -m cisr_zoom.core.cli"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu.txt"

echo "== CUDA tests"
timeout "$TEST_S" python3 -m pytest -q -p no:cacheprovider tests/core/render/test_render_cuda.py tests/core/train/test_train_cuda.py 2>&1 | tee "$OUT/tests-cuda.log"

echo "== GPU renderer benchmark"
timeout "$BENCH_S" $CLI bench --device cuda --quick --no-export -o "$OUT/bench-cuda.json" 2>&1 | tail -20 | tee "$OUT/bench.log"

echo "== training ($TRAIN_MIN min): CiSRGAN stage 2 from the bundled LIIF (the authors' checkpoint)"
# The VGG16 ImageNet weights of the perceptual term: carry them in the pack (`cisr weights fetch`
# puts cisr-vgg16-features-*.pth in torch's hub cache; copy it to PACK/vgg16.pth): the GPU machine
# reaches no network.
VGG="$PACK/vgg16.pth"
[ -f "$VGG" ] || { echo "no $VGG: copy the VGG16 features file there (see TRAINING.md)"; exit 1; }
sed "s/^max_iters = .*/max_iters = 1000000/" core/train/configs/gpu-cisrgan-official-edsr-baseline.toml > "$OUT/gpu-cisrgan.toml"
$CLI train --config "$OUT/gpu-cisrgan.toml" --device cuda --data "$PACK" --vgg-weights "$VGG" \
    --out "$OUT/cisrgan" --max-minutes "$TRAIN_MIN" 2>&1 | tail -40 | tee "$OUT/train.log"
python3 -c "
from cisr_zoom.core.train.export import export_model
m = export_model('$OUT/cisrgan/last.pth', '$OUT/cisrgan-edsr-baseline.pth', half=True)
print('exported the EMA generator:', m['iterations'], 'iterations;', m.get('total_iterations'), 'in all')" 2>&1 | tee -a "$OUT/train.log"
