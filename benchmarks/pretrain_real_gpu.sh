#!/usr/bin/env bash
# Pretraining on one GPU machine (the recipe of benchmarks/pretrain_real.py, all variants at once):
# base shifts on all but two CPU cores (the speed run has one to itself), then the 8 variants (all scenes, and each real scene held out)
# trained side by side on the one GPU for what is left of LIMIT seconds, while the model
# presets' GPU speed is measured. Needs .pack/real.npz (`pretrain_real.py pack`) and, where
# rasterio/pydantic are missing, their wheels in .whl/. Results: tars of the model folders in OUT.
set -u
T0=$(date +%s)
LIMIT=${LIMIT:-560}
OUT=${OUT:-/tmp/pretrain-out}
W=${WORK:-/tmp/pretrain-work}
mkdir -p "$OUT" "$W"
if [ -z "${NO_WHEELS:-}" ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD/src OMP_NUM_THREADS=1 PYTHONUNBUFFERED=1
export PYTHONWARNINGS=ignore
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
CORES=$(nproc)
timeout 200 python3 benchmarks/model_speed.py --device cuda --batch 64 --patch 128 \
  --infer 1024 --repeat 5 --threads 1 >"$W/gpu_speed.md" 2>&1 &
SPEED=$!
python3 benchmarks/pretrain_real.py shifts --pack .pack/real.npz --work "$W" --workers "$((CORES - 2))" \
  --synthetic "${SYNTHETIC:-24}"
echo "shifts done at $(($(date +%s) - T0)) s"
wait $SPEED
cat "$W/gpu_speed.md"
LEFT=$((LIMIT - ($(date +%s) - T0) - 110))
MIN=$(python3 -c "print(round(max(0.5, $LEFT / 60), 2))")
echo "training 8 variants side by side for $MIN min"
for s in none cia lgc kranj realset1 yanco-lst ifsdaf-ndvi eolearn-s2; do
  python3 benchmarks/pretrain_real.py train --pack .pack/real.npz --work "$W" --without "$s" \
    --out "$W/without-$s" --minutes "$MIN" --synthetic "${SYNTHETIC:-24}" --batch "${BATCH:-48}" --lr "${LR:-1e-3}" \
    --workers 1 >"$W/log-$s.txt" 2>&1 &
done
wait
tail -n 2 "$W"/log-*.txt
cd "$W" || exit 1
X=--exclude=train_state.safetensors
tar cf "$OUT/weights-1.tar" $X without-none without-cia without-lgc 2>/dev/null
tar cf "$OUT/weights-2.tar" $X without-kranj without-realset1 without-yanco-lst 2>/dev/null
tar cf "$OUT/weights-3.tar" $X without-ifsdaf-ndvi without-eolearn-s2 2>/dev/null
tar cf "$OUT/logs.tar" log-*.txt gpu_speed.md 2>/dev/null
echo "done at $(($(date +%s) - T0)) s"
