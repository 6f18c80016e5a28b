import Foundation

/// Plain-text tables as `kubectl get` prints them: left-aligned columns three spaces apart.
public enum TextTable {
    /// `rows[0]` is the header; every row has as many cells as it.
    public static func render(_ rows: [[String]]) -> String {
        guard let header = rows.first else { return "" }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "   ")
                .trimmingCharacters(in: .whitespaces) + "\n"
        }.joined()
    }
}
