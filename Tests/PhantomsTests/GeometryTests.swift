import Testing
@testable import Phantoms

/// The exact-area integrator against shapes whose areas are known in closed form.
@Suite struct GeometryTests {
    @Test func rayAreasMatchClosedForms() {
        // A Fourier disk has area π(c0² + ½ Σ (a_k² + b_k²)); an ellipse πab.
        let disk = Radius(50, a1: 4, b1: -6, a2: 3, b2: 1, a3: -1, b3: 0.5)
        var s = CrossSection()
        s.paint(.disk(disk), label: 1)
        s.paint(.ellipse(SIMD2(18, -7), 11, 6, angle: 0.7), label: 2)
        s.paint(.wedge(beta: 2.0, width: 0.9, gamma: 0.01, inner: 0, outer: Radius(20)), label: 3)
        s.reach = disk.maximum + 1
        var area = [Double](repeating: 0, count: 256)
        s.labelAreas(rays: 4096, into: &area)
        let diskArea = Double.pi * (50 * 50 + 0.5 * (16 + 36 + 9 + 1 + 1 + 0.25))
        let ellipse = Double.pi * 11 * 6
        // A twisted wedge of a disk r < 20 keeps the angular width at every radius: ½ w r².
        let wedge = 0.5 * 0.9 * 400
        #expect(abs(area[2] - ellipse) / ellipse < 1e-4)
        #expect(abs(area[3] - wedge) / wedge < 1e-4)
        #expect(abs(area[1] + area[2] + area[3] - diskArea) / diskArea < 1e-9)
    }

    @Test func pointSamplingAgreesWithTheRays() {
        // The fraction of a fine grid inside the ellipse approaches the ray area.
        var s = CrossSection()
        s.paint(.disk(Radius(30)), label: 1)
        s.paint(.ellipse(SIMD2(5, 3), 9, 4, angle: 0.3), label: 2)
        s.reach = 31
        var area = [Double](repeating: 0, count: 256)
        s.labelAreas(rays: 2048, into: &area)
        var inside = 0
        let h = 0.05
        for a in 0..<1200 {
            for b in 0..<1200 {
                if s.sample(SIMD2(-30 + (Double(a) + 0.5) * h, -30 + (Double(b) + 0.5) * h)).label == 2 { inside += 1 }
            }
        }
        #expect(abs(Double(inside) * h * h - area[2]) < 0.5)
    }

    @Test func randomStreamsAreStableAndIndependent() {
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
        #expect((0..<10).map { _ in a.next() } == (0..<10).map { _ in b.next() })
        // SplitMix64's published first output for seed 0.
        var z = SplitMix64(seed: 0)
        #expect(z.next() == 0xE220_A839_7B1D_CDAF)
        var s1 = SplitMix64(seed: 42, stream: 1), s2 = SplitMix64(seed: 42, stream: 2)
        #expect(s1.next() != s2.next())
        var u = SplitMix64(seed: 3)
        let xs = (0..<20000).map { _ in u.normal() }
        let mean = xs.reduce(0, +) / 20000, variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 20000
        #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.05)
    }
}
