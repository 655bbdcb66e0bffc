#!/usr/bin/env bash
# Installs everything pt2returnn needs on a fresh Debian 12 machine; safe to run again
# (it only installs what is missing). Used by scripts/example.sh and scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# python3-dev and ninja-build: the Python package's extension (python/, built with scikit-build-core);
# clang-14 (Debian 12's clang) with libclang-rt-14-dev, which holds libFuzzer: the fuzz harnesses.
debian_packages=(gcc g++ make cmake ninja-build python3-dev libxnnpack-dev libpthreadpool-dev emscripten chromium clang-14 libclang-rt-14-dev)
missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "setup: Debian packages present"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
# Reinstall only when the requirements changed since the last successful install.
wanted=$(cat tests/requirements.txt tests/requirements-flagship.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$wanted" ]; then
  echo "setup: installing Python packages (torch 2.13.0 CPU, TensorFlow, RETURNN, numpy)"
  .venv/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
  echo "setup: installing parallel_wavegan without its dependencies, and the few modules it imports"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps -r tests/requirements-flagship.txt
  echo "$wanted" > .venv/.requirements.sha256
else
  echo "setup: Python packages present"
fi

# The Python package (python/): its extension is built from the repository's core by
# `pip install ./python`; again only when its sources changed since the last install.
package_sources=$(find CMakeLists.txt cli/run_in_returnn.py core python/CMakeLists.txt python/pyproject.toml python/pt2returnn \
  -type f \( -name '*.c' -o -name '*.h' -o -name '*.py' -o -name '*.txt' -o -name '*.toml' \) | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)
if [ "$(cat .venv/.pt2returnn-package.sha256 2>/dev/null)" != "$package_sources" ] || ! compgen -G ".venv/lib/python3*/site-packages/pt2returnn/_core*.so" >/dev/null; then
  echo "setup: installing the pt2returnn Python package (building its extension from core/)"
  .venv/bin/pip install -q --disable-pip-version-check --no-deps ./python
  echo "$package_sources" > .venv/.pt2returnn-package.sha256
else
  echo "setup: pt2returnn Python package up to date"
fi

for dir in node web; do
  if [ -f "$dir/package.json" ]; then
    echo "setup: npm packages in $dir/"
    (cd "$dir" && if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --silent; else npm install --no-audit --no-fund --silent; fi)
  fi
done
echo "setup: done"
