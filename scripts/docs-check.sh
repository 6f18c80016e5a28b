#!/usr/bin/env bash
# Every subcommand in `sharedlb --help` has a README section ("### `sharedlb NAME`"), as does
# `sharedlb-demo` ("### `sharedlb-demo`"), and every
# option in `sharedlb NAME --help` is named there (`run` may point to the webhook and allocator
# sections, audit and restore to the allocator's for the kubeconfig options).
#   scripts/docs-check.sh [.build/debug/sharedlb]
set -euo pipefail
bin=${1:-.build/debug/sharedlb}

section() { # the README text under ### `sharedlb $1`, up to the next heading
    awk -v head="### \`sharedlb $1\`" '$0 == head {on=1; next} on && /^#/ {exit} on {print}' README.md
}
inherits() {
    case "$1" in
        run) echo webhook allocator ;;
        audit | restore) echo allocator ;;
    esac
}

status=0
commands=$("$bin" --help | awk '/^SUBCOMMANDS:/ {on=1; next} on && /^  [a-z]/ {print $1}' | grep -vx help)
for command in $commands; do
    text=$(section "$command")
    if [[ -z "$text" ]]; then
        echo "docs-check: README has no section ### \`sharedlb $command\`" >&2
        status=1
        continue
    fi
    for parent in $(inherits "$command"); do text+=$'\n'$(section "$parent"); done
    options=$("$bin" "$command" --help | awk '/^OPTIONS:/ {on=1; next} on' \
        | grep -oE -- '^  +(-[a-z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' | sort -u)
    for option in $options; do
        case "$option" in --help | --version) continue ;; esac
        # The whole option: --max-ports must not pass on the strength of --max-ports-per-lb.
        grep -qE -- "${option}([^a-z0-9-]|\$)" <<<"$text" || {
            echo "docs-check: \`sharedlb $command $option\` is not in README's section for it" >&2
            status=1
        }
    done
done
# The demo's own executable, beside the binary: its section is ### `sharedlb-demo`.
demo=$(dirname "$bin")/sharedlb-demo
if [[ -x "$demo" ]]; then
    text=$(awk '$0 == "### `sharedlb-demo`" {on=1; next} on && /^#/ {exit} on {print}' README.md)
    [[ -n "$text" ]] || { echo "docs-check: README has no section ### \`sharedlb-demo\`" >&2; status=1; }
    for option in $("$demo" --help | awk '/^OPTIONS:/ {on=1; next} on' \
        | grep -oE -- '^  +(-[a-z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' | sort -u); do
        case "$option" in --help | --version) continue ;; esac
        grep -qE -- "${option}([^a-z0-9-]|\$)" <<<"$text" || {
            echo "docs-check: \`sharedlb-demo $option\` is not in README's section for it" >&2
            status=1
        }
    done
fi
[[ $status == 0 ]] && echo "docs-check: $(wc -w <<<"$commands") commands and the demo, every option documented"
exit $status
