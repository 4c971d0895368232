/// Net2WiderNet (Chen, Goodfellow & Shlens, "Net2Net", ICLR 2016) for segvol's U-Net: a trained
/// checkpoint of base width w becomes one of base width W > w (same depth, input channels and
/// classes) that computes the same function, so training a wider network can start where the
/// narrow one stopped instead of from random weights.
///
/// Every channel group a layer produces (conv + batch norm, or the transposed conv of an up
/// step) gets a map g: new channel j copies old channel g(j) — g(j) = j for j < w, a random old
/// channel for the others. The producer's weights, bias and batch-norm parameters and running
/// statistics are copied along g; every consumer's input weights for channel j are the old ones
/// for g(j) divided by the number of copies of g(j). Copies of a channel are then identical
/// (also under training-mode batch norm, whose batch statistics they share) and their consumers
/// sum them back to the old contribution. In the decoder the consumer reads [skip, up] side by
/// side, each half with its own map.
///
/// Identical copies would stay identical under any optimiser (their gradients are equal), so
/// `noise` > 0 adds Gaussian noise of `noise` × (the tensor's standard deviation) to the
/// incoming weights of the added copies: the function changes by about that fraction in those
/// channels, and the copies can learn different features.
public enum UNetWidening {
    /// The base width of a U-Net checkpoint (output channels of `enc.0.0.weight`), or nil when
    /// the file is not one.
    public static func baseWidth(of file: SafeTensorsFile) -> Int? {
        guard let t = file.tensors["enc.0.0.weight"], t.shape.count == 4 else { return nil }
        return t.shape[0]
    }

    /// The checkpoint `file` of a U-Net `config` widened to base width `newWidth` (see the type).
    /// Throws `.mismatch` when the file is not a checkpoint of `config` or `newWidth` is not wider.
    public static func widen(_ file: SafeTensorsFile, config: UNetConfig, to newWidth: Int, seed: UInt64,
                             noise: Float = 0.01, source: String = "checkpoint") throws(EngineError) -> SafeTensorsFile {
        guard newWidth > config.baseWidth else {
            throw EngineError(.mismatch, input: source,
                              reason: "cannot widen base width \(config.baseWidth) to \(newWidth) (the new width must be larger)",
                              remedy: "give a plan whose base width is larger than the checkpoint's")
        }
        // The narrow network's own loader checks names, shapes and dtypes against `config`.
        let narrow = UNet(config: config, seed: 0)
        do { try narrow.load(stateDict: file, source: source) } catch let error as EngineError { throw error } catch {
            throw EngineError(.mismatch, input: source, reason: "\(error)", remedy: "use a checkpoint written by segvol")
        }
        var rng = SeededGenerator(seed: seed)
        var out = SafeTensorsFile()
        out.metadata = file.metadata
        let depth = config.depth
        func oldWidth(_ level: Int) -> Int { config.baseWidth << level }
        func newWidthAt(_ level: Int) -> Int { newWidth << level }
        func makeMap(level: Int) -> ChannelMap {
            ChannelMap(old: oldWidth(level), new: newWidthAt(level), rng: &rng)
        }

        // Producer maps, one per channel group.
        var encA: [ChannelMap] = [], encB: [ChannelMap] = [], up: [ChannelMap] = [], decA: [ChannelMap] = [], decB: [ChannelMap] = []
        for i in 0..<depth {
            encA.append(makeMap(level: i))
            encB.append(makeMap(level: i))
        }
        let botA = makeMap(level: depth), botB = makeMap(level: depth)
        for i in 0..<depth {
            up.append(makeMap(level: i))
            decA.append(makeMap(level: i))
            decB.append(makeMap(level: i))
        }
        let identityIn = ChannelMap(identity: config.inChannels)

        func tensor(_ name: String) -> SafeTensor { file.tensors[name]! }
        /// A double conv block `prefix` (.0 conv, .1 bn, .3 conv, .4 bn): input map, then its two outputs.
        func doubleConv(_ prefix: String, input: [ChannelMap], a: ChannelMap, b: ChannelMap) {
            conv(prefix + ".0", input: input, output: a)
            batchNorm(prefix + ".1", a)
            conv(prefix + ".3", input: [a], output: b)
            batchNorm(prefix + ".4", b)
        }
        /// A conv weight [O, I, kh, kw] and bias [O]: rows along `output`, columns along the
        /// concatenated `input` maps (divided by copy counts).
        func conv(_ name: String, input: [ChannelMap], output: ChannelMap) {
            let w = tensor(name + ".weight"), k = w.shape[2] * w.shape[3]
            let oldIn = input.reduce(0) { $0 + $1.old }, newIn = input.reduce(0) { $0 + $1.new }
            let values = w.floats, sd = standardDeviation(values)
            var result = [Float](repeating: 0, count: output.new * newIn * k)
            for o in 0..<output.new {
                let src = output.source[o]
                var newBase = 0, oldBase = 0
                for m in input {
                    for j in 0..<m.new {
                        let scale = 1 / Float(m.copies[m.source[j]])
                        let from = (src * oldIn + oldBase + m.source[j]) * k, to = (o * newIn + newBase + j) * k
                        for t in 0..<k {
                            var v = values[from + t] * scale
                            if o >= output.old { v += noise * sd * rng.nextGaussian() }
                            result[to + t] = v
                        }
                    }
                    newBase += m.new
                    oldBase += m.old
                }
            }
            out.set(name + ".weight", SafeTensor(floats: result, shape: [output.new, newIn, w.shape[2], w.shape[3]]))
            let bias = tensor(name + ".bias").floats
            out.set(name + ".bias", SafeTensor(floats: output.source.map { bias[$0] }, shape: [output.new]))
        }
        /// A transposed conv weight [I, O, kh, kw] and bias [O].
        func transposedConv(_ name: String, input: ChannelMap, output: ChannelMap) {
            let w = tensor(name + ".weight"), k = w.shape[2] * w.shape[3]
            let values = w.floats, sd = standardDeviation(values)
            var result = [Float](repeating: 0, count: input.new * output.new * k)
            for j in 0..<input.new {
                let scale = 1 / Float(input.copies[input.source[j]])
                for o in 0..<output.new {
                    let from = (input.source[j] * output.old + output.source[o]) * k, to = (j * output.new + o) * k
                    for t in 0..<k {
                        var v = values[from + t] * scale
                        if o >= output.old { v += noise * sd * rng.nextGaussian() }
                        result[to + t] = v
                    }
                }
            }
            out.set(name + ".weight", SafeTensor(floats: result, shape: [input.new, output.new, w.shape[2], w.shape[3]]))
            let bias = tensor(name + ".bias").floats
            out.set(name + ".bias", SafeTensor(floats: output.source.map { bias[$0] }, shape: [output.new]))
        }
        func batchNorm(_ name: String, _ map: ChannelMap) {
            for field in ["weight", "bias", "running_mean", "running_var"] {
                let v = tensor(name + "." + field).floats
                out.set(name + "." + field, SafeTensor(floats: map.source.map { v[$0] }, shape: [map.new]))
            }
            out.set(name + ".num_batches_tracked", tensor(name + ".num_batches_tracked"))
        }

        for i in 0..<depth {
            doubleConv("enc.\(i)", input: [i == 0 ? identityIn : encB[i - 1]], a: encA[i], b: encB[i])
        }
        doubleConv("bottleneck", input: [encB[depth - 1]], a: botA, b: botB)
        for i in 0..<depth {
            transposedConv("up.\(i)", input: i == depth - 1 ? botB : decB[i + 1], output: up[i])
        }
        for i in 0..<depth {
            doubleConv("dec.\(i)", input: [encB[i], up[i]], a: decA[i], b: decB[i])
        }
        conv("head", input: [decB[0]], output: ChannelMap(identity: config.classes))

        // PyTorch's state_dict order, as the wider network lists it.
        var wide = config
        wide.baseWidth = newWidth
        var ordered = SafeTensorsFile()
        ordered.metadata = out.metadata
        for e in UNet(config: wide, seed: 0).stateDictEntries {
            guard let t = out.tensors[e.name], t.shape == e.shape else {
                preconditionFailure("widening produced no or a wrongly shaped \(e.name)")
            }
            ordered.set(e.name, t)
        }
        return ordered
    }

    private static func standardDeviation(_ v: [Float]) -> Float {
        guard v.count > 1 else { return 0 }
        let mean = v.reduce(0, +) / Float(v.count)
        let s = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (s / Float(v.count - 1)).squareRoot()
    }
}

/// Which old channel each new channel copies, and how many copies each old channel has.
struct ChannelMap {
    let old: Int, new: Int
    let source: [Int]
    let copies: [Int]

    init(old: Int, new: Int, rng: inout SeededGenerator) {
        self.old = old
        self.new = new
        let source = (0..<new).map { $0 < old ? $0 : Int(rng.next() % UInt64(old)) }
        self.source = source
        var copies = [Int](repeating: 0, count: old)
        for s in source { copies[s] += 1 }
        self.copies = copies
    }

    init(identity n: Int) {
        old = n
        new = n
        source = Array(0..<n)
        copies = [Int](repeating: 1, count: n)
    }
}
