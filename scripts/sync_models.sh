#!/bin/sh
# Fetch OpenRouter's current model list into data/openrouter/models.json (rin sync-models).
# Usage: ./scripts/sync_models.sh [--config PATH]
set -eu
cd "$(dirname "$0")/.."
if [ -x .venv/bin/rin ]; then
    exec .venv/bin/rin sync-models "$@"
fi
if command -v rin >/dev/null 2>&1; then
    exec rin sync-models "$@"
fi
echo "sync_models.sh: rin is not installed: run 'make serve' once (it creates .venv) or 'pip install -e .'" >&2
exit 127
