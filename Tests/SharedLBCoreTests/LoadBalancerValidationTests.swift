import SharedLBCore
import Testing

@Suite("What kube-apiserver refuses on a LoadBalancer but not on a ClusterIP Service")
struct LoadBalancerValidationTests {
    static let cases: [(spec: String, annotations: String?, problem: String?)] = [
        (#"{"type":"LoadBalancer","ports":[{"port":80}]}"#, nil, nil),
        (#"{"ports":[{"port":10250,"protocol":"UDP"}]}"#, nil, "port 10250 is refused on one before Kubernetes 1.33"),
        (#"{"clusterIP":"None","ports":[{"port":80}]}"#, nil, "clusterIP None (headless) is not valid on one"),
        (#"{"clusterIPs":["None"],"ports":[{"port":80}]}"#, nil, "clusterIP None (headless) is not valid on one"),
        (#"{"loadBalancerSourceRanges":["10.0.0.0/8"," 192.168.0.0/16 ","2001:db8::/32"]}"#, nil, nil),
        (#"{"loadBalancerSourceRanges":["010.0.0.0/8"]}"#, nil, nil),
        (
            #"{"loadBalancerSourceRanges":["10.0.0.0/33"]}"#, nil,
            #"loadBalancerSourceRanges "10.0.0.0/33" is not a CIDR"#
        ),
        (#"{"loadBalancerSourceRanges":["10.0.0.1"]}"#, nil, #"loadBalancerSourceRanges "10.0.0.1" is not a CIDR"#),
        (#"{}"#, #"{"service.beta.kubernetes.io/load-balancer-source-ranges":"10.0.0.0/8, 192.168.0.0/16"}"#, nil),
        (#"{}"#, #"{"service.beta.kubernetes.io/load-balancer-source-ranges":""}"#, nil),
        (
            #"{}"#, #"{"service.beta.kubernetes.io/load-balancer-source-ranges":"nonsense"}"#,
            "annotation service.beta.kubernetes.io/load-balancer-source-ranges is not a list of CIDRs"
        ),
        (#"{"externalTrafficPolicy":"Local","healthCheckNodePort":30001}"#, nil, nil),
        (#"{"externalTrafficPolicy":"Foo"}"#, nil, #"externalTrafficPolicy "Foo" is not Cluster or Local"#),
        (
            #"{"externalTrafficPolicy":"Cluster","healthCheckNodePort":30001}"#, nil,
            "healthCheckNodePort needs externalTrafficPolicy Local"
        ),
        (#"{"ports":[{"port":80,"nodePort":0},{"port":81,"nodePort":30080}]}"#, nil, nil),
        (
            #"{"ports":[{"port":80,"nodePort":30080},{"port":81,"nodePort":30080}]}"#, nil,
            "nodePort 30080/TCP is used twice"
        ),
        (#"{"ports":[{"port":80,"nodePort":30080},{"port":80,"protocol":"UDP","nodePort":30080}]}"#, nil, nil),
        (#"{"ports":[{"port":80,"nodePort":70000}]}"#, nil, "nodePort 70000 is not a port number"),
    ]

    @Test("each rule, with what kube-apiserver accepts beside it", arguments: cases.indices)
    func rules(index: Int) throws {
        let (spec, annotations, problem) = Self.cases[index]
        let problems = LoadBalancerValidation.problems(
            spec: try #require(try JSONParser.parse(Array(spec.utf8)).objectValue),
            annotations: try annotations.map { try #require(try JSONParser.parse(Array($0.utf8)).objectValue) })
        #expect(problems == (problem.map { [$0] } ?? []))
    }

    @Test("CIDRs as kube-apiserver parses them (netutils.ParseCIDRSloppy)")
    func cidrs() {
        for valid in [
            "0.0.0.0/0", "10.0.0.0/8", "10.1.2.3/32", "010.0.0.0/8", "::/0", "2001:db8::/32", "::ffff:10.0.0.1/128",
            "fe80::1:2:3:4:5:6/64",
        ] {
            #expect(CIDR(valid) != nil, "\(valid)")
        }
        for invalid in [
            "", "10.0.0.0", "10.0.0.0/", "10.0.0.0/33", "10.0.0/8", "256.0.0.0/8", "10.0.0.0/-1",
            "1:2:3:4:5:6:7:8:9/64", "1::2::3/64", "2001:db8::/129", "10.0.0.0/8/8", "::g/64", "1.2.3.4:80/8",
        ] {
            #expect(CIDR(invalid) == nil, "\(invalid)")
        }
        #expect(IPAddress.parse("::ffff:10.0.0.1") == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1])
        #expect(IPAddress.parse("2001:db8::1")?.count == 16)
    }
}
