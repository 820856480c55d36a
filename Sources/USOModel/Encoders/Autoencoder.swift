import TensorCore

/// The dimensions of the autoencoder (the VAE's role).
public struct AutoencoderConfig: Sendable, Codable, Equatable {
    public var imageSize: Int
    /// Spatial downsampling factor (8 at FLUX scale).
    public var factor: Int
    public var latentChannels: Int
    /// Width of the decoder's per-pixel MLP.
    public var decoderHidden: Int
    /// Latent normalisation: z = (e - shift) * scale (FLUX: 0.3611, 0.1159).
    public var scale: Float
    public var shift: Float

    public init(imageSize: Int, factor: Int, latentChannels: Int, decoderHidden: Int, scale: Float = 1, shift: Float = 0) {
        self.imageSize = imageSize; self.factor = factor; self.latentChannels = latentChannels
        self.decoderHidden = decoderHidden; self.scale = scale; self.shift = shift
    }

    /// Latent height and width.
    public var latentSize: Int { imageSize / factor }
    /// Image tokens after 2x2 packing.
    public var tokens: Int { (latentSize / 2) * (latentSize / 2) }
    /// Values per packed token (latent channels * 4).
    public var tokenWidth: Int { latentChannels * 4 }
}

/// An autoencoder small enough to fit and run on CPUs: the encoder maps each f x f patch of
/// the image to C latent channels (a stride-f convolution), the decoder maps each latent
/// pixel back through an MLP (Linear, SiLU, Linear) to its f x f patch. Latents are
/// normalised with (scale, shift) and packed into tokens by 2x2 patches, as FLUX does.
/// Decode has a backward with respect to its input (the style reward's gradient path).
public final class Autoencoder {
    public let config: AutoencoderConfig
    let encoderWeight: Parameter, encoderBias: Parameter  // (C, 3, f, f), (C)
    let decoderIn: Linear                                  // C -> hidden
    let decoderOut: Linear                                 // hidden -> 3 f^2

    public init(_ r: ParameterRegistry, config c: AutoencoderConfig) {
        config = c
        let pv = 3 * c.factor * c.factor
        let bound = 1 / Float(pv).squareRoot()
        encoderWeight = r.make("autoencoder.encoder.patch.weight", [c.latentChannels, 3, c.factor, c.factor],
                               group: .autoencoder, initializer: .uniform(bound: bound))
        encoderBias = r.make("autoencoder.encoder.patch.bias", [c.latentChannels], group: .autoencoder, initializer: .zeros)
        decoderIn = Linear(r, "autoencoder.decoder.fc1", in: c.latentChannels, out: c.decoderHidden, group: .autoencoder)
        decoderOut = Linear(r, "autoencoder.decoder.fc2", in: c.decoderHidden, out: pv, group: .autoencoder)
    }

    var patchValues: Int { 3 * config.factor * config.factor }
    var pixels: Int { config.latentSize * config.latentSize }

    /// Scratch and saved values of encode/decode.
    public final class Activations {
        let patches: Tensor   // (pixels, 3 f^2)
        let latentRows: Tensor   // (pixels, C)
        let h, g: Tensor      // (pixels, hidden)
        let dRows, dG, dH: Tensor
        init(_ m: Autoencoder) {
            patches = Tensor(zeros: [m.pixels, m.patchValues]); latentRows = Tensor(zeros: [m.pixels, m.config.latentChannels])
            h = Tensor(zeros: [m.pixels, m.config.decoderHidden]); g = Tensor(zeros: [m.pixels, m.config.decoderHidden])
            dRows = Tensor(zeros: [m.pixels, m.config.latentChannels]); dG = Tensor(zeros: [m.pixels, m.config.decoderHidden])
            dH = Tensor(zeros: [m.pixels, m.config.decoderHidden])
        }
    }

    public func makeActivations() -> Activations { Activations(self) }

    func patchify(_ image: UnsafePointer<Float>, into rows: UnsafeMutablePointer<Float>) {
        Patches.extract(image, size: config.imageSize, patch: config.factor, into: rows)
    }

    func unpatchify(_ rows: UnsafePointer<Float>, into image: UnsafeMutablePointer<Float>, accumulate: Bool) {
        Patches.scatter(rows, size: config.imageSize, patch: config.factor, into: image, accumulate: accumulate)
    }

    /// latent (C, h, w), normalised, from image (3, S, S).
    public func encode(image: UnsafePointer<Float>, latent: UnsafeMutablePointer<Float>, _ a: Activations) {
        let c = config.latentChannels
        patchify(image, into: a.patches.data)
        Gemm.multiply(transA: false, transB: true, m: pixels, n: c, k: patchValues, a: a.patches.data, lda: patchValues,
                      b: encoderWeight.data, ldb: patchValues, beta: 0, c: a.latentRows.data, ldc: c)
        for p in 0..<pixels {
            for ch in 0..<c {
                latent[ch * pixels + p] = (a.latentRows.data[p * c + ch] + encoderBias.data[ch] - config.shift) * config.scale
            }
        }
    }

    /// image (3, S, S) from latent (C, h, w); saves what `decodeBackward` needs.
    public func decode(latent: UnsafePointer<Float>, image: UnsafeMutablePointer<Float>, _ a: Activations) {
        let c = config.latentChannels
        for p in 0..<pixels {
            for ch in 0..<c { a.latentRows.data[p * c + ch] = latent[ch * pixels + p] / config.scale + config.shift }
        }
        decoderIn.forward(a.latentRows.data, rows: pixels, a.h.data, cache: nil)
        ActivationKernels.siluForward(pixels * config.decoderHidden, a.h.data, a.g.data)
        decoderOut.forward(a.g.data, rows: pixels, a.patches.data, cache: nil)
        unpatchify(a.patches.data, into: image, accumulate: false)
    }

    /// dLatent (C, h, w) = decode'(latent)^T dImage, using the values saved by the last `decode`.
    /// (Decoder weights get gradients too when they have gradient buffers.)
    public func decodeBackward(dImage: UnsafePointer<Float>, dLatent: UnsafeMutablePointer<Float>, _ a: Activations) {
        let c = config.latentChannels
        patchify(dImage, into: a.patches.data)   // the decoded patches are no longer needed
        a.dG.fill(0)
        decoderOut.backward(a.g.data, rows: pixels, dy: a.patches.data, dx: a.dG.data, cache: nil)
        a.dH.fill(0)
        ActivationKernels.siluBackwardAccumulate(pixels * config.decoderHidden, a.h.data, a.dG.data, a.dH.data)
        a.dRows.fill(0)
        decoderIn.backward(a.latentRows.data, rows: pixels, dy: a.dH.data, dx: a.dRows.data, cache: nil)
        for p in 0..<pixels {
            for ch in 0..<c { dLatent[ch * pixels + p] = a.dRows.data[p * c + ch] / config.scale }
        }
    }

    /// Encoder weight gradients from dLatent (C, h, w), using the patches of the last `encode`
    /// (so call it before any later `decode` reuses that scratch). Training the autoencoder only.
    public func encodeBackward(dLatent: UnsafePointer<Float>, image: UnsafePointer<Float>, _ a: Activations) {
        let c = config.latentChannels
        patchify(image, into: a.patches.data)
        for p in 0..<pixels {
            for ch in 0..<c { a.dRows.data[p * c + ch] = dLatent[ch * pixels + p] * config.scale }
        }
        if let dw = encoderWeight.gradData {
            Gemm.multiply(transA: true, transB: false, m: c, n: patchValues, k: pixels, a: a.dRows.data, lda: c,
                          b: a.patches.data, ldb: patchValues, beta: 1, c: dw, ldc: patchValues)
        }
        if let db = encoderBias.gradData { ElementwiseKernels.sumRowsAccumulate(rows: pixels, cols: c, a.dRows.data, into: db) }
    }

    public func decodeFLOPs() -> Double {
        Gemm.flops(m: pixels, n: config.decoderHidden, k: config.latentChannels)
            + Gemm.flops(m: pixels, n: patchValues, k: config.decoderHidden)
    }

    /// Packs latent (C, h, w) into tokens (h/2 * w/2, 4C), each token's values in (c, ph, pw) order.
    public func pack(latent: UnsafePointer<Float>, tokens: UnsafeMutablePointer<Float>) {
        Self.pack(latent, channels: config.latentChannels, size: config.latentSize, into: tokens)
    }

    public static func pack(_ latent: UnsafePointer<Float>, channels c: Int, size g: Int, into tokens: UnsafeMutablePointer<Float>) {
        let half = g / 2
        for ty in 0..<half {
            for tx in 0..<half {
                let row = tokens + (ty * half + tx) * 4 * c
                for ch in 0..<c {
                    for py in 0..<2 {
                        for px in 0..<2 {
                            row[ch * 4 + py * 2 + px] = latent[ch * g * g + (2 * ty + py) * g + 2 * tx + px]
                        }
                    }
                }
            }
        }
    }

    /// The inverse of `pack`.
    public static func unpack(_ tokens: UnsafePointer<Float>, channels c: Int, size g: Int, into latent: UnsafeMutablePointer<Float>) {
        let half = g / 2
        for ty in 0..<half {
            for tx in 0..<half {
                let row = tokens + (ty * half + tx) * 4 * c
                for ch in 0..<c {
                    for py in 0..<2 {
                        for px in 0..<2 {
                            latent[ch * g * g + (2 * ty + py) * g + 2 * tx + px] = row[ch * 4 + py * 2 + px]
                        }
                    }
                }
            }
        }
    }
}
