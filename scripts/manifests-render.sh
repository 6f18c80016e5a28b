#!/usr/bin/env bash
# Render each kustomization with `kubectl kustomize` and check what it promises:
#   scripts/manifests-render.sh manifests manifests/overlays/*
# Every rendered document must parse and carry apiVersion, kind and metadata.name; the base
# installs Ignore, the fail-closed overlay Fail with matchConditions, the cert-manager overlay
# its Issuer, Certificate and CA-injection annotation, the tenant-guard overlay its two
# ValidatingAdmissionPolicies and their bindings (beside the base's Ignore webhook); each
# of them the namespace's Pod Security label and a NetworkPolicy per component. manifests/monitoring
# (not an overlay) its PrometheusRule, PodMonitors and dashboard ConfigMap; with promtool, the
# rule loads and its alerts' unit tests pass (manifests/monitoring/alerts_test.yaml; required when
# SHAREDLB_REQUIRE_PROMTOOL is set, as .ci/run does).
set -euo pipefail

command -v kubectl >/dev/null || { echo "manifests-render: kubectl not found (.ci/run installs it)" >&2; exit 1; }
version=$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\([0-9]*\).*/\1/p')
if [[ -z "$version" || "$version" -lt 4 ]]; then
    # Debian's kubernetes-client 1.20 embeds kustomize v2, which predates `patches` and
    # directory resources; rendering with it would test kustomize, not our manifests.
    echo "manifests-render: SKIPPED: kubectl's kustomize is older than v4 ($(kubectl version --client 2>&1 | head -1))" >&2
    exit 0
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

expect() { # file, pattern, what
    grep -qE -- "$2" "$1" || { echo "manifests-render: $1: missing $3" >&2; exit 1; }
}

for dir in "$@"; do
    name=$(basename "$dir")
    file="$out/$name.yaml"
    kubectl kustomize "$dir" > "$file"
    python3 - "$file" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]
for d in docs:
    missing = [k for k in ("apiVersion", "kind") if not d.get(k)]
    if missing or not d.get("metadata", {}).get("name"):
        sys.exit(f"{sys.argv[1]}: a document lacks {missing or 'metadata.name'}: {str(d)[:120]}")
kinds = sorted({d["kind"] for d in docs})
print(f"  {len(docs)} objects: {', '.join(kinds)}")
PY
    if [[ "$name" == monitoring ]]; then
        # Not an overlay of the base: the Prometheus Operator's objects and the dashboard.
        expect "$file" '^kind: PrometheusRule' "the PrometheusRule"
        expect "$file" '^kind: PodMonitor' "the PodMonitors"
        expect "$file" 'grafana_dashboard: "1"' "the dashboard ConfigMap's sidecar label"
        # The rule as Prometheus loads it, and its alerts' unit tests (alerts_test.yaml).
        python3 - "$file" "$out/rules.yaml" <<'PY'
import sys, yaml
rules = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d["kind"] == "PrometheusRule"]
yaml.safe_dump(rules[0]["spec"], open(sys.argv[2], "w"))
PY
        if command -v promtool >/dev/null; then
            cp "$dir/alerts_test.yaml" "$out/alerts_test.yaml"
            (cd "$out" && promtool check rules rules.yaml >/dev/null && promtool test rules alerts_test.yaml >/dev/null) \
                || { (cd "$out" && promtool check rules rules.yaml && promtool test rules alerts_test.yaml) >&2; exit 1; }
            echo "  promtool: the rules load and alerts_test.yaml passes"
        elif [[ -n "${SHAREDLB_REQUIRE_PROMTOOL:-}" ]]; then
            echo "manifests-render: promtool not found (.ci/run installs it: apt-get install prometheus)" >&2
            exit 1
        else
            echo "  promtool not installed: the alerts' unit tests were not run (apt-get install prometheus)"
        fi
        echo "manifests-render: $dir renders"
        continue
    fi
    expect "$file" '^kind: Namespace' "the Namespace"
    expect "$file" 'name: sharedlb-allocator' "the allocator"
    expect "$file" 'pod-security.kubernetes.io/enforce: restricted' "the namespace's Pod Security label"
    [[ $(grep -c '^kind: NetworkPolicy' "$file") == 2 ]] || { echo "manifests-render: $file: missing a NetworkPolicy" >&2; exit 1; }
    case "$name" in
        fail-closed)
            expect "$file" 'failurePolicy: Fail' "failurePolicy: Fail"
            expect "$file" 'matchConditions:' "matchConditions" ;;
        cert-manager)
            expect "$file" '^kind: Certificate' "the Certificate"
            expect "$file" '^kind: Issuer' "the Issuer"
            expect "$file" 'cert-manager.io/inject-ca-from: sharedlb-system/sharedlb-webhook' "the CA injection annotation"
            expect "$file" 'failurePolicy: Ignore' "failurePolicy: Ignore" ;;
        tenant-guard)
            expect "$file" '^kind: ValidatingAdmissionPolicy$' "a ValidatingAdmissionPolicy"
            expect "$file" '^kind: ValidatingAdmissionPolicyBinding$' "a ValidatingAdmissionPolicyBinding"
            for policy in sharedlb-pool-guard sharedlb-dedicated-guard; do
                expect "$file" "^  name: $policy\$" "the policy $policy"
                expect "$file" "^  policyName: $policy\$" "the binding of $policy"
            done
            expect "$file" 'validationActions:' "validationActions"
            expect "$file" 'failurePolicy: Ignore' "failurePolicy: Ignore" ;;
        *)
            expect "$file" 'failurePolicy: Ignore' "failurePolicy: Ignore" ;;
    esac
    echo "manifests-render: $dir renders"
done
