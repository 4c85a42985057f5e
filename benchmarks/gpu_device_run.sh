#!/usr/bin/env bash
# Everything the GPU validation needs, in one go (one device call): the telemetry
# check under a matmul load, then the text suite against a GPU-served model with
# NVML telemetry per request.  Results go to $OUT (or ./gpu-out).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-out}"; mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv | tee "$OUT/gpu.txt"
python3 benchmarks/gpu_telemetry_check.py --json "$OUT/telemetry-check.json" 2>&1 | tee "$OUT/telemetry-check.txt"

python3 benchmarks/gpu_served_model.py --port 18181 > "$OUT/server.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
  curl -sf http://127.0.0.1:18181/health >/dev/null && break
  sleep 1
done
cat "$OUT/server.log"
cat > "$OUT/gpu-hosts.toml" <<'TOML'
[endpoints.h100-random-llama]
base_url = "http://127.0.0.1:18181/v1"
model = "random-llama-135m-shape"
hardware = "NVIDIA H100 (random-weight 135M Llama, bf16)"
gpus = [0]
TOML
python3 -m pytest cases -p pytest_mmbench.plugin -p no:cacheprovider -m text \
  --mm-endpoints="$OUT/gpu-hosts.toml" --mm-rounds=3 --mm-warmup=2 \
  --mm-report="$OUT/gpu-report.json" 2>&1 | tail -30 | tee "$OUT/pytest.txt"
kill "$server" 2>/dev/null
