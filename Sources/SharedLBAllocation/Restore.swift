public import SharedLBCore

/// `sharedlb restore`, the way out: a member becomes the LoadBalancer Service it asked for.
public enum Restore {
    /// The merge patch that turns a managed Service back into its own LoadBalancer: `type`
    /// and every LB-only field from `sharedlb.io/requested` (ports stay as they are now, node
    /// ports are allocated afresh), SharedLB's label and annotations removed, and
    /// `sharedlb.io/dedicated: "true"` so a webhook that is still installed leaves it alone.
    /// Nil for a Service that is not managed, and for one that is no longer a ClusterIP
    /// Service (someone made it a NodePort or ExternalName Service since: it is theirs now).
    public static func patch(for service: KubeService) -> JSONValue? {
        guard service.metadata.labels?[SharedLBNames.managedLabel] != nil,
            (service.spec?.type ?? "ClusterIP") == "ClusterIP"
        else { return nil }
        var spec = JSONObject([("type", .string("LoadBalancer"))])
        var annotations = JSONObject()
        if let text = service.metadata.annotations?[SharedLBNames.requestedAnnotation],
            case .object(let requested)? = try? JSONParser.parse(Array(text.utf8))
        {
            for member in requested.members where member.key != "ports" && !member.value.isNull {
                if member.key == "annotations" {
                    // LB-only annotations go back where the user wrote them.
                    for annotation in member.value.objectValue?.members ?? [] where annotation.value.stringValue != nil
                    {
                        annotations[annotation.key] = annotation.value
                    }
                } else {
                    spec[member.key] = member.value
                }
            }
        }
        for annotation in SharedLBNames.memberAnnotations where service.metadata.annotations?[annotation] != nil {
            annotations[annotation] = .null
        }
        annotations[SharedLBNames.dedicatedAnnotation] = .string("true")
        return .object(
            JSONObject([
                (
                    "metadata",
                    .object(
                        JSONObject([
                            ("labels", .object(JSONObject([(SharedLBNames.managedLabel, .null)]))),
                            ("annotations", .object(annotations)),
                        ]))
                ),
                ("spec", .object(spec)),
            ]))
    }
}
