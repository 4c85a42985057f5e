#!/usr/bin/env bash
# The GPU run behind the README's H100 report page (one device call): two endpoints on
# one GPU, random-weight Llamas of SmolLM2's 135M and 1.7B shapes, each measured on three
# text cases and a load sweep with NVML telemetry, written as JSON and as the HTML page
# (power timeline, distributions, throughput-latency curves, frontier).  Results go to
# $OUT (or ./gpu-out); take the screenshots from gpu-report.html on any machine.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-out}"; mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1

nvidia-smi --query-gpu=name,driver_version,power.limit --format=csv | tee "$OUT/gpu.txt"
python3 benchmarks/gpu_served_model.py --port 18181 --shape 135m > "$OUT/server-135m.log" 2>&1 &
small=$!
python3 benchmarks/gpu_served_model.py --port 18182 --shape 1.7b > "$OUT/server-1.7b.log" 2>&1 &
large=$!
for port in 18181 18182; do
  for _ in $(seq 1 180); do
    curl -sf "http://127.0.0.1:$port/health" >/dev/null && break
    sleep 1
  done
done
cat "$OUT"/server-*.log
cat > "$OUT/gpu-hosts.toml" <<'TOML'
[endpoints.h100-135m]
base_url = "http://127.0.0.1:18181/v1"
model = "random-llama-135m-shape"
hardware = "NVIDIA H100 (random-weight Llama, SmolLM2-135M shape, bf16)"
gpus = [0]
telemetry = { source = "nvml" }

[endpoints.h100-1_7b]
base_url = "http://127.0.0.1:18182/v1"
model = "random-llama-1.7b-shape"
hardware = "NVIDIA H100 (random-weight Llama, SmolLM2-1.7B shape, bf16)"
gpus = [0]
telemetry = { source = "nvml" }
TOML
started=$(date +%s)
timeout "${MM_RUN_TIMEOUT_S:-420}" python3 -m pytest cases/mm_text.toml cases/mm_load.toml \
  -p pytest_mmbench.plugin -p no:cacheprovider -m "text or load" \
  -k "basic-qa or multilingual or summarization or synthetic-chat" \
  --mm-endpoints="$OUT/gpu-hosts.toml" --mm-rounds=3 --mm-warmup=1 --mm-concurrency=1,4 \
  --mm-report="$OUT/gpu-report.json" --mm-html="$OUT/gpu-report.html" 2>&1 | tee "$OUT/pytest.txt"
echo "pytest took $(( $(date +%s) - started )) s"
kill "$small" "$large" 2>/dev/null
