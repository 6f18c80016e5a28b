#!/usr/bin/env bash
# Every subcommand in `sharedlb --help` has a section in docs/COMMANDS.md ("### `sharedlb NAME`"),
# as does `sharedlb-demo` ("### `sharedlb-demo`"), and every option in `sharedlb NAME --help` is
# named there (`run` may point to the webhook and allocator sections, audit and restore to the
# allocator's for the kubeconfig options); the README's command table names every subcommand.
#   scripts/docs-check.sh [.build/debug/sharedlb]
set -euo pipefail
bin=${1:-.build/debug/sharedlb}

doc=docs/COMMANDS.md
section() { # the text under ### `sharedlb $1` in $doc, up to the next heading
    awk -v head="### \`sharedlb $1\`" '$0 == head {on=1; next} on && /^#/ {exit} on {print}' "$doc"
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
        echo "docs-check: $doc has no section ### \`sharedlb $command\`" >&2
        status=1
        continue
    fi
    grep -qF -- "| \`sharedlb $command\` |" README.md || {
        echo "docs-check: README's command table has no row for \`sharedlb $command\`" >&2
        status=1
    }
    for parent in $(inherits "$command"); do text+=$'\n'$(section "$parent"); done
    options=$("$bin" "$command" --help | awk '/^OPTIONS:/ {on=1; next} on' \
        | grep -oE -- '^  +(-[a-z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' | sort -u)
    for option in $options; do
        case "$option" in --help | --version) continue ;; esac
        # The whole option: --max-ports must not pass on the strength of --max-ports-per-lb.
        grep -qE -- "${option}([^a-z0-9-]|\$)" <<<"$text" || {
            echo "docs-check: \`sharedlb $command $option\` is not in $doc's section for it" >&2
            status=1
        }
    done
done
# The demo's own executable, beside the binary: its section is ### `sharedlb-demo`.
demo=$(dirname "$bin")/sharedlb-demo
if [[ -x "$demo" ]]; then
    text=$(awk '$0 == "### `sharedlb-demo`" {on=1; next} on && /^#/ {exit} on {print}' "$doc")
    [[ -n "$text" ]] || { echo "docs-check: $doc has no section ### \`sharedlb-demo\`" >&2; status=1; }
    for option in $("$demo" --help | awk '/^OPTIONS:/ {on=1; next} on' \
        | grep -oE -- '^  +(-[a-z], )?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+' | sort -u); do
        case "$option" in --help | --version) continue ;; esac
        grep -qE -- "${option}([^a-z0-9-]|\$)" <<<"$text" || {
            echo "docs-check: \`sharedlb-demo $option\` is not in $doc's section for it" >&2
            status=1
        }
    done
fi
[[ $status == 0 ]] && echo "docs-check: $(wc -w <<<"$commands") commands and the demo, every option documented"
exit $status
