import FlightRecorder
import Foundation

/// `uso diag report`'s two forms of a `RunReport`: the text summary, and one self-contained
/// HTML page (no network: inline CSS and SVG) with its charts: loss and reward, the step-time
/// split per rank, busbw against bucket size with the allreduce curve, the reward latency
/// histogram and a swimlane of the last steps. Every chart is a `<figure class="chart"
/// id="...">` holding one `<svg>`.
extension RunReport {
    static func ms(_ s: Double) -> String { String(format: "%.2f", s * 1e3) }

    public func summary() -> String {
        var out = "uso diag report: \(run)\n\nStep time per rank (mean ms per step: compute, exposed sync, data wait, reward wait)\n"
        out += TextTable(header: ["rank", "role", "steps", "step", "compute", "sync", "data", "reward", "sync %"],
                         rows: splits.map { s in
                             [String(s.rank), s.role, String(s.steps), Self.ms(s.step), Self.ms(s.compute), Self.ms(s.sync), Self.ms(s.data), Self.ms(s.reward),
                              String(format: "%.1f", 100 * s.sync / max(s.step, 1e-12))]
                         }).text
        out += "\nGradient buckets (in flight from the call to completion, overlapped with the backward)\n"
        out += TextTable(header: ["bytes", "calls", "in flight ms", "algbw GB/s", "busbw GB/s", "curve busbw GB/s"],
                         rows: buckets.map { b in
                             [ByteSize.format(b.bytes), String(b.count), Self.ms(b.seconds), String(format: "%.2f", b.algbw), String(format: "%.2f", b.busbw),
                              b.curveBusbw.map { String(format: "%.2f", $0) } ?? "-"]
                         }).text
        if curve.isEmpty { out += "(no allreduce curve: give --curve FILE from uso bench allreduce --json FILE, or put it at RUN/diag/allreduce.json)\n" }
        out += "\nStragglers: \(collectivesCompared) collectives of the trainers compared by arrival\n"
        out += TextTable(header: ["rank", "last to arrive", "mean lateness ms"],
                         rows: lastArrivals.map { [String($0.rank), String($0.times), Self.ms($0.meanLate)] }).text
        out += TextTable(header: ["collective", "step", "last rank", "late ms", "its span at arrival"],
                         rows: stragglers.map { ["\($0.operation) #\($0.sequence)", String($0.step), String($0.lastRank), Self.ms($0.late), $0.previous] }).text
        if !rewardRanks.isEmpty {
            out += "\nReward ranks\n" + TextTable(header: ["rank", "requests", "busy %", "mean serve ms"],
                rows: rewardRanks.map { [String($0.rank), String($0.requests), String(format: "%.1f", 100 * $0.busyFraction), Self.ms($0.meanServe)] }).text
            let sorted = rewardLatencies.sorted()
            if !sorted.isEmpty {
                out += String(format: "request to reply: median %.2f ms, p95 %.2f ms, max %.2f ms over %d replies\n",
                              sorted[sorted.count / 2] * 1e3, sorted[min(sorted.count - 1, sorted.count * 95 / 100)] * 1e3, sorted.last! * 1e3, sorted.count)
            }
        }
        out += "\nSkipped steps: \(skipped.count)\n" + skipped.map { "  step \($0.step): \($0.why)\n" }.joined()
        out += "Stalls: \(stalls.count)\n" + stalls.map { "  " + $0.report.replacingOccurrences(of: "\n", with: "\n  ") + "\n" }.joined()
        return out
    }

    /// The report's figures as JSON (`--json`): what the summary prints, for scripts.
    public func json() throws -> Data {
        let o: [String: Any] = [
            "run": run, "trainers": trainers,
            "steps": splits.map { ["rank": $0.rank, "role": $0.role, "steps": $0.steps, "step_s": $0.step, "compute_s": $0.compute,
                                   "sync_s": $0.sync, "data_wait_s": $0.data, "reward_wait_s": $0.reward] },
            "buckets": buckets.map { b -> [String: Any] in
                var d: [String: Any] = ["bytes": b.bytes, "calls": b.count, "in_flight_s": b.seconds, "algbw_gbs": b.algbw, "busbw_gbs": b.busbw]
                if let c = b.curveBusbw { d["curve_busbw_gbs"] = c }
                return d
            },
            "collectives_compared": collectivesCompared,
            "last_arrivals": lastArrivals.map { ["rank": $0.rank, "times": $0.times, "mean_late_s": $0.meanLate] },
            "stragglers": stragglers.map { ["operation": $0.operation, "seq": $0.sequence, "step": $0.step, "last_rank": $0.lastRank,
                                            "late_s": $0.late, "span": $0.previous] },
            "reward_ranks": rewardRanks.map { ["rank": $0.rank, "requests": $0.requests, "busy_fraction": $0.busyFraction, "mean_serve_s": $0.meanServe] },
            "reward_latencies": rewardLatencies.count,
            "skipped": skipped.map { ["step": $0.step, "why": $0.why] },
            "stalls": stalls.map { ["rank": $0.rank, "report": $0.report] },
        ]
        return try JSONSerialization.data(withJSONObject: o, options: [.prettyPrinted, .sortedKeys])
    }

    static func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static let colours: [String: String] = ["step": "#dde3ea", "data wait": "#e8a33d", "micro-batch": "#9db8d6", "forward": "#4a7fb5", "backward": "#2f5f8f", "bucket ready": "#8e6bbf",
                                            "optimizer": "#5aa469", "sync wait": "#d9534f", "reward send": "#c97fb0", "reward receive": "#b04a8f",
                                            "reward serve": "#7a3b69", "checkpoint copy": "#777", "checkpoint write": "#999"]

    static func colour(_ name: String) -> String { name.hasPrefix("MPI_") ? (name.hasPrefix("MPI_I") ? "#f0c05a" : "#d9534f") : colours[name] ?? "#aaa" }

    /// A line chart of (x, y) series on a 640 x 220 plot.
    static func lines(_ series: [(name: String, colour: String, points: [(Double, Double)])], xLabel: String, logX: Bool = false) -> String {
        let all = series.flatMap(\.points).filter { $0.0.isFinite && $0.1.isFinite }
        guard !all.isEmpty else { return "<svg width=\"640\" height=\"240\"><text x=\"20\" y=\"120\">no data</text></svg>" }
        let fx: (Double) -> Double = logX ? { log10(max($0, 1)) } : { $0 }
        let x0 = all.map { fx($0.0) }.min()!, x1 = max(all.map { fx($0.0) }.max()!, x0 + 1e-9)
        let y0 = min(0, all.map(\.1).min()!), y1 = max(all.map(\.1).max()!, y0 + 1e-9)
        func px(_ x: Double) -> Double { 50 + (fx(x) - x0) / (x1 - x0) * 570 }
        func py(_ y: Double) -> Double { 200 - (y - y0) / (y1 - y0) * 180 }
        var svg = "<svg width=\"640\" height=\"240\" xmlns=\"http://www.w3.org/2000/svg\">"
        svg += "<line x1=\"50\" y1=\"200\" x2=\"620\" y2=\"200\" stroke=\"#333\"/><line x1=\"50\" y1=\"20\" x2=\"50\" y2=\"200\" stroke=\"#333\"/>"
        svg += String(format: "<text x=\"4\" y=\"24\" font-size=\"11\">%.3g</text><text x=\"4\" y=\"200\" font-size=\"11\">%.3g</text>", y1, y0)
        let xl = logX ? ByteSize.format(Int(pow(10, x0))) : String(format: "%.0f", x0), xr = logX ? ByteSize.format(Int(pow(10, x1))) : String(format: "%.0f", x1)
        svg += "<text x=\"50\" y=\"216\" font-size=\"11\">\(xl)</text><text x=\"580\" y=\"216\" font-size=\"11\">\(xr)</text>"
        svg += "<text x=\"300\" y=\"234\" font-size=\"12\">\(esc(xLabel))</text>"
        for (k, s) in series.enumerated() {
            let pts = s.points.filter { $0.0.isFinite && $0.1.isFinite }
            if pts.count == 1 || s.name.hasSuffix("(points)") {
                for p in pts { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%@\"><title>%@</title></circle>", px(p.0), py(p.1), s.colour, esc("\(s.name): \(p.1)")) }
            } else {
                svg += "<polyline fill=\"none\" stroke=\"\(s.colour)\" stroke-width=\"1.5\" points=\"" + pts.map { String(format: "%.1f,%.1f", px($0.0), py($0.1)) }.joined(separator: " ") + "\"/>"
            }
            svg += "<text x=\"\(70 + 200 * k)\" y=\"14\" font-size=\"12\" fill=\"\(s.colour)\">\(esc(s.name))</text>"
        }
        return svg + "</svg>"
    }

    func stepChart() -> String {
        let parts: [(String, String, (StepSplit) -> Double)] = [("compute", "#4a7fb5", { $0.compute }), ("exposed sync", "#d9534f", { $0.sync }),
                                                                ("data wait", "#e8a33d", { $0.data }), ("reward wait", "#b04a8f", { $0.reward })]
        let longest = max(splits.map(\.step).max() ?? 0, 1e-12)
        var svg = "<svg width=\"640\" height=\"\(40 + 30 * splits.count)\" xmlns=\"http://www.w3.org/2000/svg\">"
        for (k, p) in parts.enumerated() { svg += "<rect x=\"\(90 + 130 * k)\" y=\"4\" width=\"12\" height=\"12\" fill=\"\(p.1)\"/><text x=\"\(106 + 130 * k)\" y=\"15\" font-size=\"12\">\(p.0)</text>" }
        for (i, s) in splits.enumerated() {
            var x = 90.0
            let y = 30 + 30 * i
            svg += "<text x=\"4\" y=\"\(y + 15)\" font-size=\"12\">rank \(s.rank)</text>"
            for p in parts {
                let w = p.2(s) / longest * 440
                svg += String(format: "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" fill=\"%@\"><title>%@ %@ ms</title></rect>", x, y, w, p.1, p.0, Self.ms(p.2(s)))
                x += w
            }
            svg += String(format: "<text x=\"%.1f\" y=\"%d\" font-size=\"11\">%@ ms</text>", x + 4, y + 15, Self.ms(s.step))
        }
        return svg + "</svg>"
    }

    func histogram() -> String {
        guard let top = rewardLatencies.max(), top > 0 else { return "<svg width=\"640\" height=\"60\"><text x=\"20\" y=\"30\">no reward replies in this run</text></svg>" }
        let bins = 30
        var counts = [Int](repeating: 0, count: bins)
        for l in rewardLatencies { counts[min(bins - 1, Int(l / top * Double(bins)))] += 1 }
        let most = Double(counts.max()!)
        var svg = "<svg width=\"640\" height=\"240\" xmlns=\"http://www.w3.org/2000/svg\"><line x1=\"40\" y1=\"200\" x2=\"620\" y2=\"200\" stroke=\"#333\"/>"
        for (k, c) in counts.enumerated() {
            let h = Double(c) / most * 180
            svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"17\" height=\"%.1f\" fill=\"#b04a8f\"><title>%d replies</title></rect>", 40 + Double(k) * 19, 200 - h, h, c)
        }
        svg += "<text x=\"40\" y=\"216\" font-size=\"11\">0</text><text x=\"570\" y=\"216\" font-size=\"11\">\(Self.ms(top)) ms</text>"
        return svg + "<text x=\"220\" y=\"234\" font-size=\"12\">request to reply (ms), \(rewardLatencies.count) replies</text></svg>"
    }

    func swimlane() -> String {
        let rows = lanes.count * SpanStream.allCases.count
        var svg = "<svg width=\"960\" height=\"\(30 + 14 * rows)\" xmlns=\"http://www.w3.org/2000/svg\">"
        let scale = 820 / max(laneSeconds, 1e-12)
        for (i, lane) in lanes.enumerated() {
            for stream in SpanStream.allCases {
                let y = 20 + 14 * (i * SpanStream.allCases.count + Int(stream.rawValue))
                svg += "<text x=\"2\" y=\"\(y + 10)\" font-size=\"10\">r\(lane.rank) \(stream.name)</text>"
                for s in lane.spans where s.stream == stream {
                    svg += String(format: "<rect x=\"%.2f\" y=\"%d\" width=\"%.2f\" height=\"12\" fill=\"%@\" opacity=\"%@\"><title>%@ %@ ms</title></rect>",
                                  130 + s.start * scale, y, max(0.5, (s.end - s.start) * scale), Self.colour(s.name), s.name == "step" ? "0.6" : "0.9",
                                  Self.esc(s.name), Self.ms(s.end - s.start))
                }
            }
        }
        return svg + String(format: "<text x=\"130\" y=\"12\" font-size=\"11\">the last steps: %@ ms (rank 0's clock)</text></svg>", Self.ms(laneSeconds))
    }

    /// The page.
    public func html() -> String {
        func figure(_ id: String, _ title: String, _ svg: String) -> String {
            "<figure class=\"chart\" id=\"\(id)\"><figcaption>\(Self.esc(title))</figcaption>\(svg)</figure>\n"
        }
        let loss = losses.map { (Double($0.step), $0.loss) }
        let rewards = losses.compactMap { l in l.reward.map { (Double(l.step), $0) } }
        var series: [(name: String, colour: String, points: [(Double, Double)])] = [("loss", "#4a7fb5", loss)]
        if !rewards.isEmpty { series.append(("style reward", "#b04a8f", rewards)) }
        var bw: [(name: String, colour: String, points: [(Double, Double)])] = [("buckets' busbw in flight (points)", "#d9534f", buckets.map { (Double($0.bytes), $0.busbw) })]
        if !curve.isEmpty { bw.append(("uso bench allreduce busbw", "#333", curve.map { (Double($0.bytes), $0.busbw) })) }
        func pre(_ s: String) -> String { "<pre>\(Self.esc(s))</pre>" }
        return """
            <!DOCTYPE html><html><head><meta charset="utf-8"><title>uso diag report: \(Self.esc(run))</title>
            <style>body{font-family:sans-serif;margin:20px;max-width:1000px} figure{border:1px solid #ccc;padding:8px;margin:12px 0}
            figcaption{font-weight:bold;margin-bottom:4px} pre{font-size:12px;background:#f6f6f6;padding:8px;overflow-x:auto}</style></head><body>
            <h1>uso diag report</h1><p>\(Self.esc(run)): \(trainers) trainer(s), \(rewardRanks.count) reward rank(s) serving, \(skipped.count) skipped step(s), \(stalls.count) stall report(s)</p>
            \(figure("chart-loss", "Loss" + (rewards.isEmpty ? "" : " and style reward") + " by step", Self.lines(series, xLabel: "step")))\
            \(figure("chart-steps", "Step time per rank: compute, exposed sync, data wait, reward wait (mean per step)", stepChart()))\
            \(figure("chart-busbw", "busbw against bucket size" + (curve.isEmpty ? " (no allreduce curve given)" : ", with the allreduce curve"), Self.lines(bw, xLabel: "bytes", logX: true)))\
            \(figure("chart-reward", "Reward latency histogram", histogram()))\
            \(figure("chart-swimlane", "Swimlane of the last steps, per rank and stream", swimlane()))\
            <h2>Summary</h2>\(pre(summary()))
            </body></html>
            """
    }
}
