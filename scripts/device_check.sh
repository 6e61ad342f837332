#!/usr/bin/env bash
# The device check: on a machine with a GPU, in under 5 minutes, measure what society's
# GPU paths do and leave the figures as JSON.
#
#   scripts/device_check.sh OUT            # CUDA: refuses to start without a CUDA device
#   scripts/device_check.sh OUT --cpu      # the same steps on the CPU (tiny sizes; tests)
#
# Writes into OUT:
#   bench.json     `society bench --device cuda --quick`: matmul peaks, training, sampling
#                  against `generate`, and one LoRA-population round against one peft model
#                  per agent (the GPU items; `society bench` on CPU measures the others)
#   lora_run/      a short run of a LoRA population (many agents, one frozen base)
#   lora_run.json  its wall-clock seconds, agents, rounds, device and the last perplexity
# Nothing is downloaded: the bases are small GPT-2s made from the scenario keys.
# PYTHON picks the interpreter (default: python); ITEMS replaces the bench items.
set -euo pipefail

out="${1:?usage: scripts/device_check.sh OUT [--cpu]}"
device=cuda
[[ "${2:-}" == "--cpu" ]] && device=cpu
python="${PYTHON:-python}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [[ "$device" == cuda ]] && ! "$python" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "error: device_check: no CUDA device (torch.cuda.is_available() is False); --cpu runs the CPU path" >&2
    exit 2
fi
mkdir -p "$out"

if [[ "$device" == cuda ]]; then
    items="${ITEMS:-matmul,training,sampling,lora_population}"
    size=(--set network.agents=32 --set rounds=3 --set language_model.layers=6
          --set language_model.width=384 --set language_model.heads=6)
else
    items="${ITEMS:-lora_population}"
    size=(--set network.agents=4 --set rounds=1 --set language_model.layers=1
          --set language_model.width=16 --set language_model.heads=2
          --set language_model.context=16 --set speech.utterances=8 --set listening.texts=8
          --set speech.max_tokens=12 --set real_data.max_texts=300
          --set tokenizer.vocab_size=300 --set metrics.heldout_texts=10
          --set language_model.ancestor_epochs=0.5)
fi

echo "device_check: bench ($device: $items)" >&2
"$python" -m society bench --device "$device" --quick --only "$items" --json "$out/bench.json"

echo "device_check: a short LoRA-population run ($device)" >&2
rm -rf "$out/lora_run"
start=$(date +%s.%N)
"$python" -m society run scenarios/neural_isolation.toml --out "$out/lora_run" \
    --set language_model.lora=true --set language_model.device="$device" \
    --set metrics.classifier_agents=0 --set metrics.self_bleu_texts=0 \
    --set metrics.dialect_null=0 --set metrics.mantel_permutations=0 "${size[@]}"
end=$(date +%s.%N)

"$python" - "$out" "$device" "$start" "$end" <<'PY'
import json, sys
from pathlib import Path

import pandas as pd

from society.run import layout

out, device, start, end = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
run = out / "lora_run"
rounds = pd.read_parquet(layout.table(run, "rounds"))
manifest = json.loads((run / layout.MANIFEST).read_text())
summary = {
    "device": device,
    "seconds": end - start,
    "agents": int(rounds["agents"].iloc[-1]),
    "rounds": int(rounds["round"].iloc[-1]),
    "status": manifest["status"],
    "perplexity_first": float(rounds["perplexity"].iloc[0]),
    "perplexity_last": float(rounds["perplexity"].iloc[-1]),
}
(out / "lora_run.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary))
PY
echo "device_check: wrote $out/bench.json and $out/lora_run.json" >&2
