#!/usr/bin/env bash
# The pull-request flow of examples/ci/github/mailauth.yml, on one machine:
#
#   1. validate          (the pre-commit hook and the first CI step)
#   2. plan -> Markdown  (what the bot comments on the pull request, with the checksum)
#   3. review            (here: the checksum is taken from the comment, as CI does)
#   4. apply --checksum  (on merge: exactly the reviewed plan, or nothing)
#   5. plan again        (must say: no changes)
#
# Usage: examples/ci/pr-flow.sh [-c mailauth.yaml] [--root DIR] [--work DIR]
#   --work DIR keeps plan.md there (default: a temporary directory, removed at the end).
#   MAILAUTH names the command to run (default: mailauth).
# Exit status: 0 applied (or nothing to do), 1 any failure, including a refused apply.
set -euo pipefail

config=mailauth.yaml
root=()
work=
while [ $# -gt 0 ]; do
    case "$1" in
        -c | --config) config=$2; shift 2 ;;
        --root) root=(--root "$2"); shift 2 ;;
        --work) work=$2; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "pr-flow: unknown argument $1 (see --help)" >&2; exit 1 ;;
    esac
done
read -r -a mailauth <<<"${MAILAUTH:-mailauth}"
if [ -z "$work" ]; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"

step() { printf '\n== %s\n' "$*"; }

step "1. validate $config"
"${mailauth[@]}" validate -c "$config"

step "2. plan, as the pull-request comment ($work/plan.md)"
status=0
"${mailauth[@]}" plan -c "$config" "${root[@]}" --format markdown --out "$work/plan.md" \
    || status=$?
case $status in
    0) echo "Nothing to do: everything is up to date."; exit 0 ;;
    2) ;;
    *) echo "pr-flow: plan failed (exit status $status)" >&2; exit 1 ;;
esac
cat "$work/plan.md"

step "3. review: the checksum the reviewer approved"
checksum=$(sed -n 's/^<!-- mailauth-checksum: \(sha256:[0-9a-f]\{64\}\) -->$/\1/p' \
    "$work/plan.md" | tail -n 1)
if [ -z "$checksum" ]; then
    echo "pr-flow: no checksum in $work/plan.md" >&2
    exit 1
fi
echo "$checksum"

step "4. merge: apply exactly the reviewed plan"
"${mailauth[@]}" apply -c "$config" "${root[@]}" --checksum "$checksum"  # it stands for --yes

step "5. plan again: nothing may be left to do"
"${mailauth[@]}" plan -c "$config" "${root[@]}" --quiet
