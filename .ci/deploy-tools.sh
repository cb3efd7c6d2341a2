#!/usr/bin/env bash
# Installs, from Debian's archive, the programs the deployment tests run tsunicorn under
# (test/integration/{docker,supervisord,systemd,nginx}.test.ts) and tmux (ctl-top.test.ts). Idempotent and quiet:
# nothing is fetched when every program is already there. A failure is reported, not fatal:
# the tests that need a missing program skip and print why.
set -uo pipefail
# nginx lives in /usr/sbin; the tests look there too.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

declare -A wanted=(
  [supervisord]=supervisor
  [supervisorctl]=supervisor
  [nginx]=nginx
  [systemd-socket-activate]=systemd
  [systemd-notify]=systemd
  [tini]=tini
  [python3]=python3
  [unshare]=util-linux
  [script]=bsdutils
  [tmux]=tmux
)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
if ((${#missing[@]} == 0)); then
  echo "deploy tools: all present"
  exit 0
fi
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
echo "deploy tools: installing ${packages}"
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "deploy tools: cannot install (not root, or no apt-get); those tests will skip" >&2
  exit 0
fi

# Installing nginx or supervisor must not start them as services (they would take port 80 and
# outlive CI): policy-rc.d 101 tells invoke-rc.d not to, as in Debian's container images.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
# shellcheck disable=SC2086
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages; } >/tmp/tsunicorn-apt.log 2>&1; then
  echo "deploy tools: apt-get failed (tail of /tmp/tsunicorn-apt.log below); those tests will skip" >&2
  tail -n 20 /tmp/tsunicorn-apt.log >&2
fi
((created_policy)) && rm -f "$policy"
exit 0
