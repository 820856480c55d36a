import ImageIO

/// A contact sheet of a set's samples (`uso data sheet`): `count` samples spread evenly over
/// the set (of one split when given), each row its images (style reference, content
/// reference, target; or the one image) with the prompt, layout and split beneath.
public enum SetSheet {
    /// The sheet, and how many samples it shows.
    public static func render(manifestPath: String, count: Int, split: Split?, scale: Int) throws -> (image: RGBImage, samples: Int) {
        let manifest = try Manifest.read(manifestPath)
        let headers = manifest.kind == .triplets ? ["style ref", "content ref", "target"] : ["image"]
        var sheet = ContactSheet(headers: headers, scale: scale)
        var candidates: [(Int, Int)] = []   // (shard, row)
        var readers: [ShardReader] = []
        for i in manifest.shards.indices {
            let r = try manifest.openShard(i, manifestPath: manifestPath, verifyData: true)
            readers.append(r)
            for j in 0..<r.count where split == nil || r.splits[j] == split { candidates.append((i, j)) }
        }
        guard !candidates.isEmpty else {
            throw TripletDataError(file: manifestPath, dataset: split.map { _ in "split" }, "no samples" + (split.map { " in split \($0.name)" } ?? ""))
        }
        let n = min(count, candidates.count)
        let s = manifest.resolution
        for k in 0..<n {
            let (i, j) = candidates[k * candidates.count / n]
            let rec = try readers[i].record(j)
            let images = [rec.styleReference, rec.contentReference, rec.target].compactMap { $0 }
                .map { RGBImage(width: s, height: s, pixels: $0) }
            var caption = rec.prompt.isEmpty ? "(empty prompt)" : rec.prompt
            if manifest.kind == .triplets { caption += " [\(rec.layout == .shifted ? "shifted" : "preserved"), \(rec.split.name)]" }
            sheet.add(images, caption: caption)
        }
        return (sheet.render(), n)
    }
}
