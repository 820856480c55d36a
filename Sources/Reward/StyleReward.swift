import Foundation
import TensorCore
import USOModel

/// The Auxiliary Style Reward's score: r = cosine of the CSD style embeddings of an image and
/// of a style reference (both L2-normalised, so r is their dot product), and dr/dimage by a
/// CSD backward. Reference embeddings are cached by the reference's id.
public final class StyleReward {
    public let csd: CSDModel
    let imageActs: CSDModel.Activations, refActs: CSDModel.Activations
    private var cache: [Int64: [Float]] = [:]
    private var order: [Int64] = []
    public let cacheLimit: Int
    public private(set) var cacheHits = 0

    /// `csd` must be allocated (weights loaded); its gradients are not needed.
    public init(csd: CSDModel, cacheLimit: Int = 4096) {
        self.csd = csd
        self.cacheLimit = cacheLimit
        imageActs = csd.makeActivations()
        refActs = csd.makeActivations()
    }

    /// Pixels per image: 3 * S * S at the CSD's input size.
    public var imageCount: Int { 3 * csd.config.imageSize * csd.config.imageSize }

    /// The reward of `image` against style reference `styleID` (whose pixels are `styleImage`,
    /// used when its embedding is not cached). Writes dr/dimage into `gradient` when given.
    public func reward(image: UnsafePointer<Float>, styleImage: UnsafePointer<Float>, styleID: Int64,
                       gradient: UnsafeMutablePointer<Float>?) -> Float {
        let reference: [Float]
        if let cached = cache[styleID] {
            reference = cached
            cacheHits += 1
        } else {
            csd.forward(image: styleImage, refActs)
            reference = refActs.embedding.toArray()
            cache[styleID] = reference
            order.append(styleID)
            if order.count > cacheLimit { cache[order.removeFirst()] = nil }
        }
        csd.forward(image: image, imageActs)
        let r = reference.withUnsafeBufferPointer { Float(ElementwiseKernels.dot(csd.embedding, imageActs.embedding.data, $0.baseAddress!)) }
        if let gradient {
            gradient.initialize(repeating: 0, count: imageCount)
            reference.withUnsafeBufferPointer { csd.backward(dEmbedding: $0.baseAddress!, dImage: gradient, imageActs) }
        }
        return r
    }
}

/// How a reward becomes a loss: omega(r).
public enum RewardLoss: Sendable, Equatable {
    /// omega = 1 - r.
    case oneMinus
    /// omega = max(0, tau - r).
    case hinge(tau: Float)

    public func loss(_ r: Float) -> Float {
        switch self {
        case .oneMinus: return 1 - r
        case .hinge(let tau): return max(0, tau - r)
        }
    }

    /// d omega / d r.
    public func derivative(_ r: Float) -> Float {
        switch self {
        case .oneMinus: return -1
        case .hinge(let tau): return r < tau ? -1 : 0
        }
    }
}

extension StyleReward {
    /// The reply to `request`: r and dr/dimage (through `gradient`, imageCount floats of
    /// scratch), with the seconds it took. `from` names the sender in the error for an image
    /// of the wrong size.
    public func answer(_ request: RewardRequest, from sender: String, gradient: UnsafeMutablePointer<Float>) throws(RewardError) -> RewardReply {
        let t0 = DispatchTime.now().uptimeNanoseconds
        guard request.image.count == imageCount else {
            throw RewardError("\(sender) sent a \(request.size)x\(request.size) image; the CSD model takes \(csd.config.imageSize)")
        }
        let r = request.image.withUnsafeBufferPointer { img in
            request.styleImage.withUnsafeBufferPointer { ref in
                reward(image: img.baseAddress!, styleImage: ref.baseAddress!, styleID: request.styleID, gradient: gradient)
            }
        }
        return RewardReply(requestID: request.requestID, reward: r, serviceSeconds: Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9,
                           gradient: Array(UnsafeBufferPointer(start: gradient, count: imageCount)))
    }
}
