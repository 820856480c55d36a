import Foundation
import TensorCore

/// Rectified-flow training as UNO trains FLUX: x_t = (1 - t) x0 + t noise, the target
/// velocity v = noise - x0, and a plain mean squared error. t and the noise of a sample are
/// drawn from streams keyed by (seed, sample id, epoch), never by rank.
public struct FlowMatching: Sendable {
    public enum Timesteps: Sendable, Equatable {
        /// Uniform on the 1000-point grid i/1000 (i = 1 ... 1000), remapped by FLUX's shift
        /// t' = e^mu / (e^mu + (1/t - 1)), mu = 0.5 + (0.65 / 3840) (L - 256).
        case shifted
        /// sigmoid(N(mean, std)).
        case logitNormal(mean: Double, std: Double)
    }

    public let seed: UInt64
    public let timesteps: Timesteps

    public init(seed: UInt64, timesteps: Timesteps) {
        self.seed = seed
        self.timesteps = timesteps
    }

    /// FLUX's shift parameter for L latent tokens.
    public static func mu(tokens: Int) -> Double { 0.5 + (0.65 / 3840) * Double(tokens - 256) }

    /// The shifted value of t for `tokens` latent tokens.
    public static func shift(_ t: Double, tokens: Int) -> Double {
        let e = exp(mu(tokens: tokens))
        return e / (e + (1 / t - 1))
    }

    static func key(_ sampleID: Int64, _ epoch: Int) -> UInt64 { UInt64(sampleID) << 16 | UInt64(epoch & 0xFFFF) }

    /// t in (0, 1] for a sample in an epoch.
    public func t(sampleID: Int64, epoch: Int, tokens: Int) -> Float {
        var rng = RandomStream(seed: seed, purpose: .timestep, id: Self.key(sampleID, epoch))
        switch timesteps {
        case .shifted:
            let i = 1 + rng.nextInt(below: 1000)
            return Float(Self.shift(Double(i) / 1000, tokens: tokens))
        case .logitNormal(let mean, let std):
            let z = Double(rng.nextNormal()) * std + mean
            return Float(min(max(1 / (1 + exp(-z)), 1e-4), 1 - 1e-4))
        }
    }

    /// Fills `noise` with the sample's standard normal noise.
    public func noise(sampleID: Int64, epoch: Int, into noise: UnsafeMutableBufferPointer<Float>) {
        var rng = RandomStream(seed: seed, purpose: .noise, id: Self.key(sampleID, epoch))
        rng.fillNormal(noise)
    }

    /// x_t = (1 - t) x0 + t noise and v = noise - x0, over n values.
    public static func interpolate(_ n: Int, x0: UnsafePointer<Float>, noise: UnsafePointer<Float>, t: Float,
                                   xt: UnsafeMutablePointer<Float>, velocity: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            xt[i] = (1 - t) * x0[i] + t * noise[i]
            velocity[i] = noise[i] - x0[i]
        }
    }

    /// mean((vhat - v)^2) over n values, and its gradient times `scale` written to `dvhat`.
    public static func loss(_ n: Int, vhat: UnsafePointer<Float>, target: UnsafePointer<Float>, scale: Float,
                            dvhat: UnsafeMutablePointer<Float>) -> Double {
        var sum = 0.0
        let g = 2 * scale / Float(n)
        for i in 0..<n {
            let e = vhat[i] - target[i]
            sum += Double(e) * Double(e)
            dvhat[i] = g * e
        }
        return sum / Double(n)
    }
}
