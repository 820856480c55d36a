import TripletData
/// The built-in world's prompts: a small grammar over the subject's phrase, its layout and
/// the style's name. Every word is in the text encoder's vocabulary.
public enum PromptGrammar {
    static let kinds = ["painting", "drawing", "picture", "image"]

    /// "small red striped box at the top left, tilted" from a subject and its layout.
    public static func subjectPhrase(_ s: Subject, _ l: Layout) -> String {
        var words: [String] = []
        if l.scale < 0.35 { words.append("small") } else if l.scale > 0.55 { words.append("large") }
        words.append(s.phrase)
        let h = l.center.x < -0.25 ? "left" : l.center.x > 0.25 ? "right" : ""
        let v = l.center.y < -0.25 ? "top" : l.center.y > 0.25 ? "bottom" : ""
        let place = [v, h].filter { !$0.isEmpty }.joined(separator: " ")
        words.append(place.isEmpty ? "in the center" : "at the \(place)")
        if abs(l.angle) > 0.5 { words.append("tilted") }
        return words.joined(separator: " ")
    }

    /// A stylised image's prompt; `choice` picks the template.
    public static func stylized(_ s: Subject, _ l: Layout, _ style: Style, choice: Int) -> String {
        let subject = subjectPhrase(s, l), name = style.name
        switch choice % 3 {
        case 0: return "a \(subject) in \(name) style"
        case 1: return "a \(name) style \(kinds[(choice / 3) % kinds.count]) of a \(subject)"
        default: return "\(name) style, a \(subject)"
        }
    }

    /// A neutral image's prompt.
    public static func photo(_ s: Subject, _ l: Layout) -> String { "a photo of a \(subjectPhrase(s, l))" }
}
