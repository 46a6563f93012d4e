/// A path into a legacy JSON object: `user.id`, `events[0].type`, `$.meta.ip`,
/// `headers["X-Forwarded-For"]`, `steps[-1].name` (negative indices count from the end).
///
/// Grammar: an optional `$`, then segments. A segment is `.name` (the first may omit the dot),
/// `[n]` / `[-n]` for an array element, or `["any key"]` / `['any key']` for a key with other
/// characters (`\"`, `\'` and `\\` escape inside the quotes). A name is letters, digits, `_` and `-`.
package struct LegacyPath: Sendable, Hashable, CustomStringConvertible {
    /// One step of a path.
    package enum Component: Sendable, Hashable {
        case key(String)
        /// An array index; negative counts from the end (`-1` is the last element).
        case index(Int)
    }

    package var components: [Component]

    /// A path made of these components.
    package init(_ components: [Component]) {
        self.components = components
    }

    /// Parses `text`; the error says what is wrong and where.
    package init(parsing text: String) throws(LegacyPathError) {
        let chars = Array(text.unicodeScalars)
        var i = 0
        var components: [Component] = []
        func fail(_ message: String) -> LegacyPathError { LegacyPathError(path: text, message: message) }
        if i < chars.count, chars[i] == "$" { i += 1 }
        var first = true
        while i < chars.count {
            let c = chars[i]
            if c == "." {
                i += 1
                let name = Self.scanName(chars, &i)
                guard !name.isEmpty else { throw fail("expected a name after '.' at character \(i + 1)") }
                components.append(.key(name))
            } else if c == "[" {
                i += 1
                guard i < chars.count else { throw fail("unterminated '['") }
                if chars[i] == "\"" || chars[i] == "'" {
                    let quote = chars[i]
                    i += 1
                    var key = String.UnicodeScalarView()
                    var closed = false
                    while i < chars.count {
                        if chars[i] == "\\", i + 1 < chars.count, chars[i + 1] == quote || chars[i + 1] == "\\" {
                            key.append(chars[i + 1])
                            i += 2
                        } else if chars[i] == quote {
                            i += 1
                            closed = true
                            break
                        } else {
                            key.append(chars[i])
                            i += 1
                        }
                    }
                    guard closed else { throw fail("unterminated quoted key") }
                    guard i < chars.count, chars[i] == "]" else { throw fail("expected ']' after the quoted key at character \(i + 1)") }
                    i += 1
                    components.append(.key(String(key)))
                } else {
                    var digits = ""
                    if chars[i] == "-" { digits.append("-"); i += 1 }
                    while i < chars.count, ("0"..."9").contains(chars[i]) {
                        digits.unicodeScalars.append(chars[i])
                        i += 1
                    }
                    guard i < chars.count, chars[i] == "]", let index = Int(digits) else {
                        throw fail("expected an integer index or a quoted key inside '[...]' at character \(i + 1)")
                    }
                    i += 1
                    components.append(.index(index))
                }
            } else if first, chars.first != "$" {
                let name = Self.scanName(chars, &i)
                guard !name.isEmpty else { throw fail("unexpected character '\(c)' at character \(i + 1)") }
                components.append(.key(name))
            } else {
                throw fail("unexpected character '\(c)' at character \(i + 1); quote keys with other characters: [\"\(c)...\"]")
            }
            first = false
        }
        guard !components.isEmpty else { throw fail("the path is empty; name a field such as `user.id`") }
        self.components = components
    }

    private static func scanName(_ chars: [Unicode.Scalar], _ i: inout Int) -> String {
        var name = String.UnicodeScalarView()
        while i < chars.count, isNameCharacter(chars[i]) {
            name.append(chars[i])
            i += 1
        }
        return String(name)
    }

    static func isNameCharacter(_ c: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_" || c == "-"
    }

    /// The path in its shortest form, without `$`: `user.id`, `events[0].type`, `headers["a.b"]`.
    /// Flattened metadata keys use this form.
    package var description: String {
        var out = ""
        for component in components {
            switch component {
            case .key(let key):
                if !key.isEmpty, key.unicodeScalars.allSatisfy(Self.isNameCharacter) {
                    if !out.isEmpty { out += "." }
                    out += key
                } else {
                    out += "[" + LegacyJSONWriter.string(key) + "]"
                }
            case .index(let index):
                out += "[\(index)]"
            }
        }
        return out
    }

    /// The path with this component appended.
    package func appending(_ component: Component) -> LegacyPath {
        LegacyPath(components + [component])
    }

    /// The value at this path, or nil when a step is missing (absent key, index out of range, or a
    /// step into something that is not an object/array). Also returns the concrete path, with
    /// negative indices resolved.
    package func resolve(in root: LegacyJSON) -> (value: LegacyJSON, concrete: LegacyPath)? {
        var current = root
        var concrete: [Component] = []
        concrete.reserveCapacity(components.count)
        for component in components {
            switch (component, current) {
            case (.key(let key), .object(let object)):
                guard let next = object[key] else { return nil }
                current = next
                concrete.append(.key(key))
            case (.index(let index), .array(let items)):
                let actual = index < 0 ? items.count + index : index
                guard actual >= 0, actual < items.count else { return nil }
                current = items[actual]
                concrete.append(.index(actual))
            default:
                return nil
            }
        }
        return (current, LegacyPath(concrete))
    }

    /// Whether this path is `other` or lies inside it.
    package func hasPrefix(_ other: LegacyPath) -> Bool {
        other.components.count <= components.count && zip(other.components, components).allSatisfy { $0 == $1 }
    }
}

/// A path that does not parse.
package struct LegacyPathError: Error, Sendable, Hashable, CustomStringConvertible {
    package var path: String
    package var message: String
    package var description: String { "invalid path `\(path)`: \(message)" }
}
