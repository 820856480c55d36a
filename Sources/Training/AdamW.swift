import Config
import Foundation
import TensorCore
import USOModel

/// AdamW (Loshchilov & Hutter) over a store's trainable parameters, with global-norm
/// clipping: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; p -= lr (m_hat / (sqrt(v_hat) + eps)
/// + wd p). Its moments are flat in the gradients' order, so they save and shard like them.
/// Clipping scales the gradients as the update reads them (one pass over the state per step,
/// where clip, check and update once made four).
///
/// It updates the elements `owned` of the flat trainable vector: all of them, or (ZeRO-1,
/// `optim.shard_state`) one trainer's slice, whose moments are all it allocates and whose
/// reduced gradients it reads from `gradients` (element i of `owned` at offset
/// `i - owned.lowerBound`).
public final class AdamW {
    public struct Hyperparameters: Sendable, Equatable {
        public var beta1: Float, beta2: Float, eps: Float, weightDecay: Float
        public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01) {
            self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        }
    }

    public let store: ParameterStore
    public let hyper: Hyperparameters
    /// The elements of the flat trainable vector this optimizer updates and keeps moments for.
    public let owned: Range<Int>
    /// The reduced gradients of the owned elements (the store's own gradients when it owns all).
    public let gradients: TensorStorage
    /// First and second moments of the owned elements, flat in gradient order.
    public let m: TensorStorage, v: TensorStorage
    /// Every trainable parameter's first element in the flat vector.
    public let offsets: [Int]
    /// Updates taken so far (the bias correction's t).
    public internal(set) var step = 0
    /// The clipping factor `clip` set for the next update, and the one the update under way
    /// applies (the gradients are scaled as the update reads them, not in a pass of their own).
    private var pendingScale: Float = 1, updateScale: Float = 1

    /// An optimizer of every trainable element (`owned` nil), or of `owned` with its reduced
    /// gradients in `gradients`.
    public init(store: ParameterStore, hyper: Hyperparameters, owned: Range<Int>? = nil, gradients: TensorStorage? = nil) {
        self.store = store
        self.hyper = hyper
        let all = 0..<store.trainableCount
        self.owned = owned ?? all
        precondition(self.owned.clamped(to: all) == self.owned, "owned \(self.owned) outside the \(store.trainableCount) trainable elements")
        self.gradients = gradients ?? store.gradients
        precondition(self.gradients.count >= self.owned.count)
        m = TensorStorage(count: self.owned.count)
        v = TensorStorage(count: self.owned.count)
        var offsets: [Int] = [], offset = 0
        for p in store.trainable {
            offsets.append(offset)
            offset += p.count
        }
        self.offsets = offsets
    }

    /// Whether this optimizer owns every trainable element.
    public var ownsAll: Bool { owned.count == store.trainableCount }

    /// Bytes of optimizer state this trainer holds (both moments).
    public var stateBytes: Int { 2 * owned.count * MemoryLayout<Float>.size }

    /// Calls `body` with every trainable parameter's part of `span` (flat elements), as the
    /// parameter's index in `store.trainable`, the flat range, and the offset in the parameter.
    public func forEachPiece(of span: Range<Int>, _ body: (_ index: Int, _ flat: Range<Int>, _ inParameter: Int) throws -> Void) rethrows {
        for (i, p) in store.trainable.enumerated() {
            let whole = offsets[i]..<(offsets[i] + p.count)
            let piece = whole.clamped(to: span)
            if !piece.isEmpty { try body(i, piece, piece.lowerBound - offsets[i]) }
        }
    }

    /// The sum of squares of the owned gradients (in Double).
    public func localSumOfSquares() -> Double {
        withExtendedLifetime(gradients) { ElementwiseKernels.sumOfSquares(owned.count, gradients.base) }
    }

    /// The flat index of the first non-finite owned gradient, if any (a pass over the
    /// gradients: call it only when `localSumOfSquares()` is not finite, which it is exactly
    /// when some gradient is not).
    public func firstNonFiniteGradient() -> Int? {
        withExtendedLifetime(gradients) {
            let g = gradients.base
            guard !ElementwiseKernels.allFinite(owned.count, g) else { return nil }
            return (0..<owned.count).first { !g[$0].isFinite }.map { owned.lowerBound + $0 }
        }
    }

    /// The global L2 norm of the gradients, when this optimizer owns them all.
    public func gradientNorm() -> Double {
        precondition(ownsAll, "a sharded optimizer sees only its slice; sum localSumOfSquares() over trainers")
        return localSumOfSquares().squareRoot()
    }

    /// Makes the next update use the owned gradients scaled so that a global norm of `norm`
    /// becomes at most `maxNorm` (0: no clipping). The gradients themselves are not changed.
    public func clip(norm: Double, maxNorm: Double) {
        pendingScale = maxNorm > 0 && norm > maxNorm ? Float(maxNorm / (norm + 1e-6)) : 1
    }

    /// Clips by the global norm (this optimizer owning every gradient); returns the norm before clipping.
    @discardableResult
    public func clip(maxNorm: Double) -> Double {
        let norm = gradientNorm()
        clip(norm: norm, maxNorm: maxNorm)
        return norm
    }

    /// One update at learning rate `lr` of every owned element.
    public func update(lr: Double) {
        beginUpdate()
        update(lr: lr, span: owned)
    }

    /// Counts an update (the bias correction's t) and takes the clipping `clip` set;
    /// `update(lr:span:)` then updates its parts.
    public func beginUpdate() {
        step += 1
        updateScale = pendingScale
        pendingScale = 1
    }

    /// Updates the owned elements of `span` at learning rate `lr` (after `beginUpdate`).
    public func update(lr: Double, span: Range<Int>) {
        let b1 = hyper.beta1, b2 = hyper.beta2
        let c1 = Float(1 - pow(Double(b1), Double(step))), c2 = Float(1 - pow(Double(b2), Double(step)))
        let rate = Float(lr), decay = Float(lr) * hyper.weightDecay, eps = hyper.eps
        let lower = owned.lowerBound
        withExtendedLifetime((gradients, m, v)) {
            forEachPiece(of: span.clamped(to: owned)) { i, flat, inParameter in
                let p = store.trainable[i]
                withExtendedLifetime(p.value) {
                    let k = flat.lowerBound - lower
                    ElementwiseKernels.adamW(flat.count, weights: p.data + inParameter, gradients: gradients.base + k, gradientScale: updateScale,
                                             m: m.base + k, v: v.base + k,
                                             beta1: b1, beta2: b2, correction1: c1, correction2: c2, rate: rate, decay: decay, eps: eps)
                }
            }
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
