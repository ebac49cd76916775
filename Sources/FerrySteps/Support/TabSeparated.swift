/// The TabSeparated text both clients read (the `mariadb` client's batch mode, ClickHouse's
/// TabSeparated format): fields escape `\n`, `\t`, `\\` and `\0`, and ClickHouse also `\r`, `\b`
/// and `\f`. Pure.
enum TabSeparated {
    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = ""
        var escaping = false
        for c in s {
            if escaping {
                switch c {
                case "n": out += "\n"
                case "t": out += "\t"
                case "0": out += "\0"
                case "r": out += "\r"
                case "b": out += "\u{8}"
                case "f": out += "\u{c}"
                default: out.append(c)
                }
                escaping = false
            } else if c == "\\" {
                escaping = true
            } else {
                out.append(c)
            }
        }
        return out
    }
}
