import Config
import Foundation
import TensorCore
import USOModel

/// AdamW (Loshchilov & Hutter) over a store's trainable parameters, with global-norm
/// clipping: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr (m_hat / (sqrt(v_hat) + eps)
/// + wd p). Its moments are flat in the gradients' order, so they save and shard like them.
public final class AdamW {
    public struct Hyperparameters: Sendable, Equatable {
        public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
        public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
            self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        }
    }

    public let store: ParameterStore
    public let hyper: Hyperparameters
    /// First and second moments, flat in gradient order.
    public let m: TensorStorage, v: TensorStorage
    /// Updates taken so far (the bias correction's t).
    public internal(set) var step = 0

    public init(store: ParameterStore, hyper: Hyperparameters) {
        self.store = store
        self.hyper = hyper
        m = TensorStorage(count: store.trainableCount)
        v = TensorStorage(count: store.trainableCount)
    }

    /// The global L2 norm of the gradients (in Double).
    public func gradientNorm() -> Double {
        ElementwiseKernels.sumOfSquares(store.gradients.count, store.gradients.base).squareRoot()
    }

    /// Scales the gradients so their global norm is at most `maxNorm` (0: no clipping);
    /// returns the norm before clipping.
    @discardableResult
    public func clip(maxNorm: Double) -> Double {
        let norm = gradientNorm()
        if maxNorm > 0 && norm > maxNorm {
            let s = Float(maxNorm / (norm + 1e-6))
            ElementwiseKernels.scale(store.gradients.count, store.gradients.base, by: s, into: store.gradients.base)
        }
        return norm
    }

    /// One update at learning rate `lr`.
    public func update(lr: Double) {
        step += 1
        let b1 = hyper.beta1, b2 = hyper.beta2
        let c1 = Float(1 - pow(Double(b1), Double(step))), c2 = Float(1 - pow(Double(b2), Double(step)))
        let rate = Float(lr), decay = Float(lr) * hyper.weightDecay, eps = hyper.eps
        var offset = 0
        for p in store.trainable {
            let n = p.count, w = p.data, g = p.grad!.data
            ElementwiseKernels.adamW(n, weights: w, gradients: g, m: m.base + offset, v: v.base + offset, beta1: b1, beta2: b2,
                                     correction1: c1, correction2: c2, rate: rate, decay: decay, eps: eps)
            offset += n
        }
    }
}

/// The learning rate at a step: linear warm-up, then constant or cosine decay to `minLR`.
public struct LearningRateSchedule: Sendable, Equatable {
    public let peak: Double, minLR: Double, warmup: Int, total: Int, kind: LRSchedule

    public init(peak: Double, minLR: Double = 0, warmup: Int = 0, total: Int, kind: LRSchedule) {
        self.peak = peak; self.minLR = minLR; self.warmup = warmup; self.total = total; self.kind = kind
    }

    /// The rate for 0-based step `s`.
    public func rate(at s: Int) -> Double {
        if s < warmup { return peak * Double(s + 1) / Double(warmup) }
        switch kind {
        case .constant: return peak
        case .cosine:
            let span = max(1, total - warmup - 1)
            let progress = min(1, Double(s - warmup) / Double(span))
            return minLR + (peak - minLR) * 0.5 * (1 + cos(Double.pi * progress))
        }
    }
}
