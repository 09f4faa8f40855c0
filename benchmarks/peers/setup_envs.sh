#!/usr/bin/env bash
# Create (idempotently) the two peer-library virtualenvs used by the side-by-side benchmark:
#   benchmarks/.envs/gfnx      gfnx==0.0.1 on jax/jaxlib 0.7.1, numpy 1.26.4  (requirements-gfnx.txt)
#   benchmarks/.envs/torchgfn  torchgfn==2.4.1 on torch==2.13.0 CPU          (requirements-torchgfn.txt)
# A venv is rebuilt only when missing, broken, or when its requirements file changed
# (a stamp with the file's sha256 is kept inside the venv).
#
# Usage: bash benchmarks/peers/setup_envs.sh [gfnx|torchgfn ...]   (default: both)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ENVS="$(cd "$HERE/.." && pwd)/.envs"
PY="${PYTHON:-python3.11}"
mkdir -p "$ENVS"

stamp_ok() {  # venv-dir requirements-file
    local venv="$1" req="$2"
    [[ -x "$venv/bin/python" ]] || return 1
    [[ -f "$venv/.requirements.sha256" ]] || return 1
    [[ "$(cat "$venv/.requirements.sha256")" == "$(sha256sum "$req" | cut -d' ' -f1)" ]]
}

write_stamp() { sha256sum "$2" | cut -d' ' -f1 > "$1/.requirements.sha256"; }

setup_gfnx() {
    local venv="$ENVS/gfnx" req="$HERE/requirements-gfnx.txt"
    if stamp_ok "$venv" "$req" && "$venv/bin/python" -c "import gfnx, jax" 2>/dev/null; then
        echo "[setup_envs] gfnx: up to date ($venv)"; return 0
    fi
    echo "[setup_envs] gfnx: creating $venv"
    rm -rf "$venv"
    "$PY" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req" 2> >(grep -v "^WARNING: Location" >&2)
    "$venv/bin/python" - <<'EOF'
import importlib.metadata as md
import gfnx, jax  # noqa: F401
assert jax.__version__ == "0.7.1", jax.__version__
assert md.version("gfnx") == "0.0.1"
import numpy; assert numpy.__version__ == "1.26.4", numpy.__version__
print("[setup_envs] gfnx ok: gfnx", md.version("gfnx"), "jax", jax.__version__, "devices", jax.devices())
EOF
    write_stamp "$venv" "$req"
}

setup_torchgfn() {
    local venv="$ENVS/torchgfn" req="$HERE/requirements-torchgfn.txt"
    if stamp_ok "$venv" "$req" && "$venv/bin/python" -c "import gfn, torch" 2>/dev/null; then
        echo "[setup_envs] torchgfn: up to date ($venv)"; return 0
    fi
    echo "[setup_envs] torchgfn: creating $venv"
    rm -rf "$venv"
    "$PY" -m venv "$venv"
    # 1) torch alone first: this machine's pip config resolves torch==2.13.0 to the local CPU wheel.
    "$venv/bin/pip" install -q --disable-pip-version-check "torch==2.13.0" 2> >(grep -v "^WARNING: Location" >&2)
    # 2) everything else, with torch constrained to the installed version so no CUDA build
    #    (and no nvidia-* packages) can be pulled in by any dependency.
    local cons; cons="$(mktemp)"
    echo "torch==2.13.0" > "$cons"
    "$venv/bin/pip" install -q --disable-pip-version-check -c "$cons" -r "$req" 2> >(grep -v "^WARNING: Location" >&2)
    rm -f "$cons"
    if "$venv/bin/pip" list 2>/dev/null | grep -qi '^nvidia'; then
        echo "[setup_envs] ERROR: nvidia-* packages ended up in $venv" >&2; exit 1
    fi
    "$venv/bin/python" - <<'EOF'
import importlib.metadata as md
import torch, gfn  # noqa: F401
assert torch.__version__.startswith("2.13.0"), torch.__version__
assert torch.version.cuda is None, "expected a CPU-only torch build"
assert md.version("torchgfn") == "2.4.1"
print("[setup_envs] torchgfn ok: torchgfn", md.version("torchgfn"), "torch", torch.__version__)
EOF
    write_stamp "$venv" "$req"
}

targets=("$@")
[[ ${#targets[@]} -eq 0 ]] && targets=(gfnx torchgfn)
for t in "${targets[@]}"; do
    case "$t" in
        gfnx) setup_gfnx ;;
        torchgfn) setup_torchgfn ;;
        *) echo "unknown env: $t (expected gfnx or torchgfn)" >&2; exit 2 ;;
    esac
done
