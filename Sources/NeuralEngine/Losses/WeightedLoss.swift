/// A weighted sum of losses, L = Σ_i a_i L_i, with dL/dlogits = Σ_i a_i dL_i/dlogits.
/// Built by hand or parsed from a config string (`LossExpression.parse`).
public struct WeightedLoss: SegmentationLoss, Sendable {
    /// One term: its name (as written in the config string, or any label), weight and loss.
    public struct Term: Sendable {
        public var name: String
        public var weight: Double
        public var loss: any SegmentationLoss & Sendable
        public init(name: String, weight: Double, loss: any SegmentationLoss & Sendable) {
            self.name = name
            self.weight = weight
            self.loss = loss
        }
    }

    public var terms: [Term]
    public init(terms: [Term]) {
        precondition(!terms.isEmpty, "a weighted loss needs at least one term")
        self.terms = terms
    }

    /// The canonical text of the sum, e.g. `1*xent_plus + 0.1*dice_soft`.
    public var description: String { terms.map { "\(formatWeight($0.weight))*\($0.name)" }.joined(separator: " + ") }

    /// The total and each term's unweighted value (for progress lines), in `terms` order.
    public func evaluate(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> (total: Double, terms: [Double]) {
        if terms.count == 1 {
            let v = terms[0].loss.loss(logits: logits, target: target, info: info, shape: shape, dlogits: dlogits)
            let a = Float(terms[0].weight)
            for i in 0..<shape.count { dlogits[i] *= a }
            return (terms[0].weight * v, [v])
        }
        // scratch: (N, C, H, W), one term's gradient at a time
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: shape.count)
        defer { scratch.deallocate() }
        dlogits.update(repeating: 0, count: shape.count)
        var total = 0.0
        var values: [Double] = []
        for term in terms {
            let v = term.loss.loss(logits: logits, target: target, info: info, shape: shape, dlogits: scratch)
            values.append(v)
            total += term.weight * v
            let a = Float(term.weight)
            for i in 0..<shape.count { dlogits[i] += a * scratch[i] }
        }
        return (total, values)
    }

    public func loss(
        logits: UnsafePointer<Float>, target: UnsafePointer<Int32>, info: [ImageLabelInfo],
        shape: TensorShape, dlogits: UnsafeMutablePointer<Float>
    ) -> Double {
        evaluate(logits: logits, target: target, info: info, shape: shape, dlogits: dlogits).total
    }
}

/// A weight printed without a trailing ".0" (2, 0.1, 1e-05).
func formatWeight(_ w: Double) -> String {
    w == w.rounded() && abs(w) < 1e15 ? String(Int64(w)) : "\(w)"
}
