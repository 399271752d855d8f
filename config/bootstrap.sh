# Shared by ./run and ./test: create or refresh the project's virtualenv from the pinned
# requirements. Sourced, not executed.

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3.12 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "Python 3.11 or newer is required." >&2
  return 1
}

ensure_venv() {
  local venv=".venv"
  local stamp="$venv/.requirements.sha256"
  local want
  want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
  if [ ! -x "$venv/bin/python" ]; then
    local python
    python=$(find_python)
    echo "[club] creating the virtualenv with $python"
    "$python" -m venv "$venv"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "[club] installing pinned requirements (first run takes a minute)"
    mkdir -p var
    # pip's output goes to a log, shown only when the install fails.
    if ! { "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip &&
      "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r requirements-dev.txt; } >var/pip-install.log 2>&1; then
      cat var/pip-install.log >&2
      echo "[club] installing the requirements failed (log above, also in var/pip-install.log)" >&2
      return 1
    fi
    echo "$want" >"$stamp"
  fi
}

ensure_browser() {
  # Browser tests drive Debian's Chromium (never a downloaded browser build) and need CJK
  # fonts to render Chinese; the server load test drives the site with wrk. Installed with apt
  # when missing and possible.
  if command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q . &&
    command -v wrk >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "[club] installing Chromium, CJK fonts and wrk for the browser and load tests (apt)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk wrk >/dev/null
  else
    echo "[club] Chromium, CJK fonts or wrk missing and apt unavailable: browser and load tests will be skipped" >&2
  fi
}
