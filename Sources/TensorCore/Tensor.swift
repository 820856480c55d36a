/// Contiguous Float32 memory, 64-byte aligned and zero-initialised, shared by the tensors
/// that view it. Allocate once (parameters, gradients, activations) and reuse: a training
/// step never allocates.
public final class TensorStorage: @unchecked Sendable {
    public let count: Int
    public let base: UnsafeMutablePointer<Float>

    public init(count: Int) {
        precondition(count >= 0, "TensorStorage count must not be negative (got \(count))")
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        base.initialize(repeating: 0, count: count)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }
}

/// A contiguous row-major Float32 tensor: a shape over a range of a `TensorStorage`.
///
/// Tensors are cheap views; several may share one storage (all trainable gradients live in
/// one flat storage, so a gradient bucket is a range of it). Create views when building a
/// model, not inside a step: a shape is a Swift array.
public struct Tensor: @unchecked Sendable {
    public let storage: TensorStorage
    /// Offset of the first element in `storage`.
    public let offset: Int
    public let shape: [Int]
    /// The number of elements (the product of `shape`).
    public let count: Int

    /// A new zero tensor of `shape`, with its own storage.
    public init(zeros shape: [Int]) {
        let n = Tensor.elementCount(shape)
        self.init(storage: TensorStorage(count: n), offset: 0, shape: shape)
    }

    /// A new tensor holding `values` in row-major order.
    public init(shape: [Int], values: [Float]) {
        precondition(Tensor.elementCount(shape) == values.count,
                     "shape \(shape) holds \(Tensor.elementCount(shape)) elements, got \(values.count)")
        self.init(zeros: shape)
        values.withUnsafeBufferPointer { data.update(from: $0.baseAddress!, count: values.count) }
    }

    /// A view of `storage[offset ..< offset + product(shape)]`.
    public init(storage: TensorStorage, offset: Int, shape: [Int]) {
        let n = Tensor.elementCount(shape)
        precondition(offset >= 0 && offset + n <= storage.count,
                     "view of \(n) elements at \(offset) exceeds storage of \(storage.count)")
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.count = n
    }

    public static func elementCount(_ shape: [Int]) -> Int {
        shape.reduce(1) { a, d in
            precondition(d >= 0, "negative dimension in \(shape)")
            return a * d
        }
    }

    /// The first element.
    @inlinable public var data: UnsafeMutablePointer<Float> { storage.base + offset }

    /// All elements.
    @inlinable public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: data, count: count) }

    public var rank: Int { shape.count }

    /// Flat element access (bounds-checked).
    public subscript(index: Int) -> Float {
        get {
            precondition(index >= 0 && index < count, "index \(index) out of 0..<\(count)")
            return data[index]
        }
        nonmutating set {
            precondition(index >= 0 && index < count, "index \(index) out of 0..<\(count)")
            data[index] = newValue
        }
    }

    /// The same elements under another shape of equal size.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        precondition(Tensor.elementCount(newShape) == count, "cannot reshape \(shape) to \(newShape)")
        return Tensor(storage: storage, offset: offset, shape: newShape)
    }

    /// Rows `range` of the first dimension, as a view.
    public func rows(_ range: Range<Int>) -> Tensor {
        precondition(!shape.isEmpty && range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "rows \(range) out of \(shape)")
        let rowSize = shape.isEmpty ? 1 : count / max(shape[0], 1)
        return Tensor(storage: storage, offset: offset + range.lowerBound * rowSize,
                      shape: [range.count] + shape.dropFirst())
    }

    /// A copy of the elements.
    public func toArray() -> [Float] { Array(buffer) }

    /// Sets every element to `value`.
    public func fill(_ value: Float) { ElementwiseKernels.fill(buffer, with: value) }

    /// Copies `other`'s elements (same count) into this tensor.
    public func copy(from other: Tensor) {
        precondition(other.count == count, "copy of \(other.count) elements into \(count)")
        data.update(from: other.data, count: count)
    }

    /// Copies `values` (same count) into this tensor.
    public func assign(_ values: [Float]) {
        precondition(values.count == count, "assigning \(values.count) values to \(count) elements")
        values.withUnsafeBufferPointer { if let p = $0.baseAddress { data.update(from: p, count: count) } }
    }
}
