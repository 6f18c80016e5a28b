/// The Services `sharedlb-demo` creates: ordinary LoadBalancer Services, as users write them.
/// `manifests/examples/demo-services.yaml` is this text (CI checks they agree).
public enum DemoExamples {
    public static let services = """
        # Ordinary LoadBalancer Services, in two namespaces, as users write them.
        # `sharedlb-demo` creates exactly these (see `sharedlb-demo --print-examples`).
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          namespace: team-a
        spec:
          type: LoadBalancer
          selector: {app: web}
          ports:
          - {name: http, port: 80, targetPort: 8080}
          - {name: https, port: 443, targetPort: 8443}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: postgres
          namespace: team-a
        spec:
          type: LoadBalancer
          selector: {app: postgres}
          ports:
          - {name: pg, port: 5432}
        ---
        # Another team, another port: shares the first load balancer.
        apiVersion: v1
        kind: Service
        metadata:
          name: redis
          namespace: team-b
        spec:
          type: LoadBalancer
          selector: {app: redis}
          ports:
          - {name: redis, port: 6379}
        ---
        # Port 80 again: it cannot share the first load balancer, so it gets another.
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          namespace: team-b
        spec:
          type: LoadBalancer
          selector: {app: web}
          ports:
          - {name: http, port: 80, targetPort: 8080}
        ---
        # UDP: never mixed with TCP on one load balancer (older API servers refuse it).
        apiVersion: v1
        kind: Service
        metadata:
          name: dns
          namespace: team-b
        spec:
          type: LoadBalancer
          selector: {app: dns}
          ports:
          - {name: dns, port: 53, protocol: UDP}
        ---
        # Restricted to an office network: a pool of its own.
        apiVersion: v1
        kind: Service
        metadata:
          name: admin
          namespace: team-b
        spec:
          type: LoadBalancer
          selector: {app: admin}
          loadBalancerSourceRanges: [198.51.100.0/24]
          ports:
          - {name: https, port: 8443}

        """
}
