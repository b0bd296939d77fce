#!/usr/bin/env bash
# Install what this machine lacks for LiveGate, then the project's venv. `make dev`,
# `make test` and .ci/run call it first; it is quick when everything is there (no apt).
#
#   scripts/setup.sh             system packages (apt-get, as root or with passwordless sudo;
#                                otherwise it prints the command to run and exits 1), then .venv
#   scripts/setup.sh --dry-run   say what it would install or create, change nothing
#   scripts/setup.sh --no-venv   system packages only;  --venv-only: the venv only
#
# Its decisions use bash builtins only (command -v), so a test can run it with a PATH of
# stub commands (tests/unit/test_setup_script.py).
set -euo pipefail

dry_run=0 system=1 venv=1
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    --no-venv) venv=0 ;;
    --venv-only) system=0 ;;
    -h | --help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup: unknown option $arg (see --help)" >&2; exit 2 ;;
  esac
done
here="${BASH_SOURCE[0]}"
[[ $here == */* ]] && here="${here%/*}" || here=.
cd "$here/.."
PYTHON="${PYTHON:-python3}"
euid="${LIVEGATE_SETUP_EUID:-$EUID}"  # tests pretend to be another user

# command -> the Debian package that provides it, and what needs it.
need=() why=()
want() {  # want COMMAND PACKAGE REASON
  if ! command -v "$1" >/dev/null 2>&1; then
    need+=("$2")
    why+=("$1 ($3)")
  fi
}
if ((system)); then
  want redis-server redis-server "the local stack"
  want redis-sentinel redis-sentinel "the Redis Sentinel tests"
  want java openjdk-17-jre-headless "Kafka"
  want mvn maven "fetching Kafka's jars"
  want openssl openssl "the secure local stack"
  want make make "make dev, make test"
  want prometheus prometheus "make check-deploy and the monitoring tests (promtool too)"
  want chromium chromium "browser tests"
  want chromedriver chromium-driver "browser tests"
  if ! command -v "$PYTHON" >/dev/null 2>&1; then
    need+=(python3 python3-venv)
    why+=("$PYTHON (LiveGate itself)")
  elif ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need+=(python3-venv)
    why+=("$PYTHON -m venv (the project's venv)")
  fi
  # `docker compose config` checks docker-compose.yml where a docker client is present.
  if command -v docker >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
    want docker-compose docker-compose "checking docker-compose.yml"
  fi
fi

if ((${#need[@]})); then
  install=(apt-get install -y -qq --no-install-recommends "${need[@]}")
  printf -v missing '%s, ' "${why[@]}"
  missing=${missing%, }
  if ((dry_run)); then
    echo "setup: missing: $missing"
    echo "setup: would run: apt-get update -qq && ${install[*]}"
  elif ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: missing: $missing" >&2
    echo "setup: no apt-get here: install them with this system's package manager" \
      "(Debian names: ${need[*]}), then run the command again" >&2
    exit 1
  elif ((euid == 0)) || { command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; }; then
    sudo=()
    ((euid == 0)) || sudo=(sudo -n)
    echo "setup: installing ${need[*]} (missing: $missing)"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" "${install[@]}"
  else
    echo "setup: missing: $missing" >&2
    echo "setup: install them (needs root), then run the command again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${need[*]}" >&2
    exit 1
  fi
fi

# The venv: created once, reinstalled when pyproject.toml is newer than its stamp.
if ((venv)); then
  stamp=.venv/.installed
  if [[ ! -x .venv/bin/python ]]; then
    if ((dry_run)); then
      echo "setup: would create .venv ($PYTHON -m venv) and install '.[dev]'"
      exit 0
    fi
    "$PYTHON" -m venv .venv
  fi
  # The exact versions, with hashes (requirements/dev.txt, `make lock`), then the project.
  lock=requirements/dev.txt
  if [[ ! -f $stamp || pyproject.toml -nt $stamp || $lock -nt $stamp ]]; then
    if ((dry_run)); then
      echo "setup: would install '.[dev]' into .venv"
      exit 0
    fi
    .venv/bin/python -m pip install -q --upgrade pip
    if [[ -f $lock ]]; then
      .venv/bin/python -m pip install -q --require-hashes -r "$lock"
      .venv/bin/python -m pip install -q --no-deps -e .
    else
      .venv/bin/python -m pip install -q -e '.[dev]'
    fi
    : > "$stamp"
  fi
fi
# helm (make check-deploy renders and validates the chart), built from its Go module into
# .livegate/tools once (about 3 minutes on 2 cores), then found there.
HELM_VERSION=v4.3.2
helm_built=""
[[ -f .livegate/tools/helm.version ]] && helm_built=$(<.livegate/tools/helm.version)
if ((venv)) && ! command -v helm >/dev/null 2>&1 && [[ $helm_built != "$HELM_VERSION" ]]; then
  go=$(command -v go || { [[ -x /usr/local/go/bin/go ]] && echo /usr/local/go/bin/go; } || true)
  if [[ -z $go ]]; then
    echo "setup: helm is missing and there is no Go to build it: install helm $HELM_VERSION" \
      "(or Go >= 1.24), then run the command again; make check-deploy needs it" >&2
  elif ((dry_run)); then
    echo "setup: would build helm $HELM_VERSION into .livegate/tools ($go install)"
    exit 0
  else
    echo "setup: building helm $HELM_VERSION into .livegate/tools (once)"
    GOBIN="$PWD/.livegate/tools" "$go" install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"  # makes the dir
    echo "$HELM_VERSION" > .livegate/tools/helm.version
  fi
fi
if ((dry_run)) && ! ((${#need[@]})); then
  echo "setup: nothing to do"
fi
