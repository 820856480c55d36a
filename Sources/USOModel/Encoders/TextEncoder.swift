import Foundation
import TensorCore

/// The dimensions of the text encoder (T5's and CLIP's role).
public struct TextEncoderConfig: Sendable, Codable, Equatable {
    /// Token states per prompt at most (T5: 512).
    public var maxTokens: Int
    /// Width of the token states (the DiT's context dim).
    public var width: Int
    /// Width of the pooled vector (the DiT's vec dim).
    public var pooledWidth: Int
    /// Vocabulary size (the built-in vocabulary's, unless set larger for shape planning).
    public var vocabularySize: Int

    public init(maxTokens: Int, width: Int, pooledWidth: Int, vocabularySize: Int = Vocabulary.builtIn.count) {
        self.maxTokens = maxTokens; self.width = width; self.pooledWidth = pooledWidth; self.vocabularySize = vocabularySize
    }
}

/// A frozen text encoder: word tokens (lower-cased, split on anything not a letter or
/// digit) looked up in a token embedding, plus a fixed sinusoidal position signal, give the
/// token states; their mean through a Linear gives the pooled vector. Every prompt ends with
/// an end token, so an empty prompt (the 10% dropped during training) still has one state.
public final class TextEncoder {
    public let config: TextEncoderConfig
    public let vocabulary: Vocabulary
    let embedding: Parameter   // (V, width)
    let pool: Linear           // width -> pooledWidth
    private let meanScratch: Tensor

    public init(_ r: ParameterRegistry, config c: TextEncoderConfig, vocabulary: Vocabulary = .builtIn) {
        config = c
        self.vocabulary = vocabulary
        precondition(c.vocabularySize >= vocabulary.count, "vocabulary of \(vocabulary.count) words needs vocabulary_size >= that")
        embedding = r.make("text_encoder.token_embedding.weight", [c.vocabularySize, c.width], group: .textEncoder,
                           initializer: .normal(std: 1))
        pool = Linear(r, "text_encoder.pool", in: c.width, out: c.pooledWidth, group: .textEncoder)
        meanScratch = Tensor(zeros: [c.width])
    }

    /// Token ids of `prompt`: its words (unknown ones as <unk>), cut to maxTokens - 1, then <end>.
    public func tokenize(_ prompt: String) -> [Int] { Self.tokenize(prompt, vocabulary: vocabulary, maxTokens: config.maxTokens) }

    /// The same without an encoder (what the loader's cost estimate counts).
    public static func tokenize(_ prompt: String, vocabulary: Vocabulary, maxTokens: Int) -> [Int] {
        var ids = vocabulary.ids(for: prompt)
        if ids.count > maxTokens - 1 { ids.removeLast(ids.count - (maxTokens - 1)) }
        return ids + [Vocabulary.endID]
    }

    /// Writes the token states (count, width) and pooled vector (pooledWidth); returns count.
    @discardableResult
    public func encode(_ prompt: String, states: UnsafeMutablePointer<Float>, pooled: UnsafeMutablePointer<Float>) -> Int {
        let ids = tokenize(prompt)
        let w = config.width
        let mean = meanScratch.data
        meanScratch.fill(0)
        for (i, id) in ids.enumerated() {
            let row = states + i * w
            row.update(from: embedding.data + id * w, count: w)
            for k in 0..<(w / 2) {
                let angle = Double(i) / pow(10000, Double(2 * k) / Double(w))
                row[2 * k] += Float(0.5 * sin(angle))
                row[2 * k + 1] += Float(0.5 * cos(angle))
            }
            ElementwiseKernels.axpy(w, 1 / Float(ids.count), row, mean)
        }
        pool.forward(mean, rows: 1, pooled, cache: nil)
        return ids.count
    }
}

/// The words the text encoder knows: the built-in world's prompt vocabulary. Id 0 is
/// <pad>, 1 <unk>, 2 <end>; words follow in list order.
public struct Vocabulary: Sendable, Equatable {
    public static let padID = 0, unknownID = 1, endID = 2
    public let words: [String]
    private let index: [String: Int]

    public init(words: [String]) {
        var seen: [String: Int] = [:]
        var list = ["<pad>", "<unk>", "<end>"]
        for w in words where seen[w] == nil {
            seen[w] = list.count
            list.append(w)
        }
        self.words = list
        index = seen
    }

    public var count: Int { words.count }

    /// Ids of the words of `text`, lower-cased and split on everything but letters and digits.
    public func ids(for text: String) -> [Int] {
        let words = text.lowercased().split { (c: Character) -> Bool in !(c.isLetter || c.isNumber) }
        return words.map { (w: Substring) -> Int in index[String(w)] ?? Vocabulary.unknownID }
    }

    public static let builtIn = Vocabulary(words: """
        a an the of in on at with and by from to into over under near beside behind above below between
        photo picture painting drawing sketch image render illustration portrait scene view closeup shot
        style styled styles in-style done made rendered painted drawn inked printed carved woven stitched
        subject object thing figure character creature toy statue doll robot animal bird cat dog fish fox owl
        rabbit bear horse deer frog turtle snail bee butterfly dragon monster ghost alien knight wizard
        cup mug teapot vase bottle lamp chair clock kettle bowl jar can box ball cube sphere cone cylinder
        pyramid ring star heart moon sun cloud tree flower leaf house castle tower boat car truck train plane
        rocket kite hat shoe bag umbrella guitar drum book key crown shield sword
        red orange yellow green blue purple pink brown black white gray grey gold silver teal cyan magenta
        navy maroon olive beige cream dark light pale bright deep vivid muted pastel neon
        striped spotted dotted checkered plain patterned glossy matte shiny rough smooth soft hard fuzzy
        watercolor oil acrylic pencil charcoal ink crayon pastel chalk marker pixel mosaic stained glass
        woodcut linocut etching engraving lithograph screenprint collage origami paper clay
        impressionist expressionist cubist pointillist minimalist surreal abstract realistic photorealistic
        cartoon anime comic flat vector lowpoly isometric 3d 2d retro vintage modern futuristic
        bold thin thick heavy loose tight fine coarse textured grainy noisy clean crisp blurry sharp
        strokes stroke lines line outlines outline edges edge hatching crosshatching dots brush brushwork
        palette colors color tones tone shading shadows highlights gradient texture pattern grid
        left right top bottom center middle corner upper lower small large big tiny huge medium
        standing sitting lying flying running jumping walking facing turned tilted rotated upside down
        one two three four many several
        background foreground field sky sea beach forest desert city street room table floor wall window
        garden park mountain river lake snow rain night day sunset morning evening
        same another different new old young happy sad cute scary
        reference content target
        """.split { (c: Character) -> Bool in c.isWhitespace }.map(String.init))
}
