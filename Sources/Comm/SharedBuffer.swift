/// A fixed-size, 64-byte-aligned buffer of scalars that outlives any operation using it.
///
/// Non-blocking operations read or write their buffer after the call returns, so the
/// buffer must not be a Swift array (whose storage may move or be freed). A `Request`
/// keeps its `SharedBuffer` alive until the operation completes. Gradient buckets and
/// message buffers are allocated once and reused: never per step.
public final class SharedBuffer<Element: MPIScalar> {
    /// The number of elements.
    public let count: Int
    let base: UnsafeMutablePointer<Element>

    /// A buffer of `count` elements, each set to `value`.
    public init(count: Int, repeating value: Element = .zero) {
        precondition(count >= 0, "SharedBuffer count must not be negative (got \(count))")
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Element>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base = raw.bindMemory(to: Element.self, capacity: max(count, 1))
        base.initialize(repeating: value, count: count)
    }

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Element]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { source in
            if let s = source.baseAddress { base.update(from: s, count: values.count) }
        }
    }

    deinit {
        UnsafeMutableRawPointer(base).deallocate()
    }

    public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "index \(index) out of 0..<\(count)")
            return base[index]
        }
        set {
            precondition(index >= 0 && index < count, "index \(index) out of 0..<\(count)")
            base[index] = newValue
        }
    }

    /// The whole buffer as a pointer; valid while `self` is alive.
    public var unsafeMutableBufferPointer: UnsafeMutableBufferPointer<Element> {
        UnsafeMutableBufferPointer(start: base, count: count)
    }

    /// A copy of the elements in `range` (all of them by default).
    public func toArray(_ range: Range<Int>? = nil) -> [Element] {
        let r = range ?? 0..<count
        precondition(r.lowerBound >= 0 && r.upperBound <= count, "range \(r) out of 0..<\(count)")
        return Array(UnsafeBufferPointer(start: base + r.lowerBound, count: r.count))
    }

    /// Sets every element in `range` from `values` (which must have `range.count` elements).
    public func assign(_ values: [Element], at offset: Int = 0) {
        precondition(offset >= 0 && offset + values.count <= count,
                     "assigning \(values.count) elements at \(offset) overflows \(count)")
        values.withUnsafeBufferPointer { source in
            if let s = source.baseAddress { (base + offset).update(from: s, count: values.count) }
        }
    }
}
