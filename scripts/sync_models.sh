#!/bin/sh
# Fetch OpenRouter's current model list into the catalogue cache (rin sync-models) and tell the
# running gateway that uses the same data folder to serve it.
# Usage: ./scripts/sync_models.sh [--config PATH] [--url http://127.0.0.1:4000]
# Works from any directory: --config is read from where you are; without it (and without
# $RIN_CONFIG) it syncs this repository's config/litellm/config.yaml, from the repository's root
# (so the .env there is read, as `make serve` reads it).
set -eu
root="$(cd "$(dirname "$0")/.." && pwd)"
own_config=
for arg in "$@"; do
    case "$arg" in --config|--config=*) own_config=1 ;; esac
done
if [ -z "$own_config" ] && [ -z "${RIN_CONFIG:-}" ]; then
    cd "$root"
fi
if [ -x "$root/.venv/bin/rin" ]; then
    exec "$root/.venv/bin/rin" sync-models "$@"
fi
if command -v rin >/dev/null 2>&1; then
    exec rin sync-models "$@"
fi
echo "sync_models.sh: rin is not installed: run 'make serve' once (it creates .venv) or 'pip install -e .'" >&2
exit 127
