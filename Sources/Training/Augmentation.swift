import Anatomy
import Foundation
import NeuralEngine

/// Seeded on-the-fly augmentation of one slice: a small rotation and scaling about the slice
/// centre, a shift (image bilinear, targets nearest, outside the slice 0), a left-right flip where
/// the anatomy allows it, and an intensity gain and offset.
///
/// The shift keeps the network from tying anatomy to a place in the window: phantom limbs (and
/// many real single-limb scans) sit in the middle of the slice, but inference gives the network
/// the whole profile slice, where a limb of a bilateral scan sits off centre.
///
/// Flips: thigh and calf only. Sides are not classes there (docs/formats.md), so a mirrored
/// right thigh is a plausible left thigh with the same labels. Never the abdomen: mirroring swaps
/// the left and right kidney, the liver and the spleen, which are distinct classes. Input x is the
/// profile grid's first axis (canonical R), so the flip mirrors x.
public struct Augmentation: Codable, Sendable, Equatable {
    /// Master switch.
    public var enabled = true
    /// Rotation drawn uniformly in ±this many degrees.
    public var maxRotationDegrees = 10.0
    /// Scale drawn uniformly in 1 ± this.
    public var maxScaleChange = 0.1
    /// Probability of a left-right flip, for the regions in `flipRegions`.
    public var flipProbability = 0.5
    public var flipRegions: [Region] = [.thigh, .calf]
    /// Gain drawn in 1 ± this, offset in ± half of it; the result is clipped to [0, 1] like the
    /// normalised input.
    public var intensityJitter = 0.1
    /// Shift drawn uniformly in ± this fraction of the window's width (x) and height (y).
    public var maxShiftFraction = 0.2

    public init() {}

    enum CodingKeys: String, CodingKey {
        case enabled, maxRotationDegrees, maxScaleChange, flipProbability, flipRegions, intensityJitter, maxShiftFraction
    }

    /// Run states written before the shift existed have no `maxShiftFraction`: 0, so a resumed
    /// run goes on augmenting as it began.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decode(Bool.self, forKey: .enabled)
        maxRotationDegrees = try c.decode(Double.self, forKey: .maxRotationDegrees)
        maxScaleChange = try c.decode(Double.self, forKey: .maxScaleChange)
        flipProbability = try c.decode(Double.self, forKey: .flipProbability)
        flipRegions = try c.decode([Region].self, forKey: .flipRegions)
        intensityJitter = try c.decode(Double.self, forKey: .intensityJitter)
        maxShiftFraction = try c.decodeIfPresent(Double.self, forKey: .maxShiftFraction) ?? 0
    }

    /// No augmentation.
    public static var none: Augmentation {
        var a = Augmentation()
        a.enabled = false
        return a
    }

    /// Writes the augmented slice. image/target: (H, W) inputs; outImage/outTarget: (H, W).
    func apply(image: UnsafePointer<Float>, target: UnsafePointer<Int32>, outImage: UnsafeMutablePointer<Float>,
               outTarget: UnsafeMutablePointer<Int32>, height h: Int, width w: Int, region: Region,
               rng: inout SeededGenerator) {
        guard enabled else {
            outImage.update(from: image, count: h * w)
            outTarget.update(from: target, count: h * w)
            return
        }
        let theta = Double(rng.nextUnitFloat() * 2 - 1) * maxRotationDegrees * .pi / 180
        let scale = 1 + Double(rng.nextUnitFloat() * 2 - 1) * maxScaleChange
        let flip = flipRegions.contains(region) && Double(rng.nextUnitFloat()) < flipProbability
        let gain = Float(1 + Double(rng.nextUnitFloat() * 2 - 1) * intensityJitter)
        let offset = Float(Double(rng.nextUnitFloat() * 2 - 1) * intensityJitter / 2)
        // Drawn last, so the draws above are what they were before the shift existed.
        let shiftX = Double(rng.nextUnitFloat() * 2 - 1) * maxShiftFraction * Double(w)
        let shiftY = Double(rng.nextUnitFloat() * 2 - 1) * maxShiftFraction * Double(h)
        // Output pixel p maps to source c + R(-θ)(p - t - c)/scale, x mirrored first when
        // flipping (t = the shift).
        let cx = Double(w - 1) / 2, cy = Double(h - 1) / 2
        let cosT = cos(theta) / scale, sinT = sin(theta) / scale
        for y in 0..<h {
            let dy = Double(y) - shiftY - cy
            for x in 0..<w {
                let dx = (flip ? Double(w - 1 - x) : Double(x)) - shiftX - cx
                let sx = cx + cosT * dx + sinT * dy
                let sy = cy - sinT * dx + cosT * dy
                let o = y * w + x
                // targets: nearest
                let nx = Int((sx + 0.5).rounded(.down)), ny = Int((sy + 0.5).rounded(.down))
                outTarget[o] = (nx >= 0 && nx < w && ny >= 0 && ny < h) ? target[ny * w + nx] : 0
                // image: bilinear, 0 outside
                let x0 = Int(sx.rounded(.down)), y0 = Int(sy.rounded(.down))
                let fx = Float(sx - Double(x0)), fy = Float(sy - Double(y0))
                func at(_ i: Int, _ j: Int) -> Float { (i >= 0 && i < w && j >= 0 && j < h) ? image[j * w + i] : 0 }
                let v = (at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx) * (1 - fy) + (at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx) * fy
                outImage[o] = min(max(v * gain + offset, 0), 1)
            }
        }
    }
}
