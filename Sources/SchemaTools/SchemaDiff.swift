package import AvroCodec

/// One difference between two schemas.
package struct SchemaChange: Sendable, Hashable, Codable {
    /// What changed.
    package enum Kind: String, Sendable, Hashable, Codable {
        /// A field only the new schema has.
        case fieldAdded = "field_added"
        /// A field only the old schema has.
        case fieldRemoved = "field_removed"
        /// A field the new schema declares under a new name with the old name in `aliases`.
        case fieldRenamed = "field_renamed"
        /// A field's (or array item's, map value's) type changed.
        case typeChanged = "type_changed"
        /// A field gained a default.
        case defaultAdded = "default_added"
        /// A field lost its default.
        case defaultRemoved = "default_removed"
        /// A field's default changed.
        case defaultChanged = "default_changed"
        /// A named type (record, enum, fixed) has a new full name.
        case nameChanged = "name_changed"
        /// Enum symbols were added.
        case enumSymbolsAdded = "enum_symbols_added"
        /// Enum symbols were removed.
        case enumSymbolsRemoved = "enum_symbols_removed"
        /// An enum's default symbol changed.
        case enumDefaultChanged = "enum_default_changed"
        /// A fixed type's size changed.
        case fixedSizeChanged = "fixed_size_changed"
    }

    /// What changed.
    package var kind: Kind
    /// The field path (`region`, `address.city`, `tags[]`); empty for the top-level type.
    package var path: String
    /// The old side (a type, a default, symbols), when there is one.
    package var old: String?
    /// The new side, when there is one.
    package var new: String?
    /// One line for a human, e.g. "+ field `region`: string, default \"eu\"".
    package var summary: String

    /// Creates a change.
    package init(kind: Kind, path: String, old: String?, new: String?, summary: String) {
        self.kind = kind
        self.path = path
        self.old = old
        self.new = new
        self.summary = summary
    }
}

/// The differences between two schemas, field by field (fields matched by name, or by the new
/// field's aliases), descending into nested records, arrays, maps and unions.
package enum SchemaDiff {
    /// The changes from `old` to `new`, in schema order.
    package static func changes(from old: AvroSchema, to new: AvroSchema) -> [SchemaChange] {
        var walker = Walker(old: old, new: new)
        walker.compareTypes(old.root, new.root, path: "")
        return walker.changes
    }

    private struct Walker {
        let old: AvroSchema
        let new: AvroSchema
        var changes: [SchemaChange] = []
        var visited: Set<[Int]> = []

        init(old: AvroSchema, new: AvroSchema) {
            self.old = old
            self.new = new
        }

        func label(_ path: String) -> String { path.isEmpty ? "the top-level type" : "field `\(path)`" }

        mutating func add(_ kind: SchemaChange.Kind, _ path: String, old: String?, new: String?, _ summary: String) {
            changes.append(SchemaChange(kind: kind, path: path, old: old, new: new, summary: summary))
        }

        func fieldDescription(_ schema: AvroSchema, _ field: AvroSchema.Field) -> String {
            SchemaDescription.type(schema, field.type) + (field.defaultValue.map { ", default \(SchemaDescription.value($0))" } ?? ", no default")
        }

        mutating func compareRecords(_ o: AvroSchema.Record, _ n: AvroSchema.Record, path: String) {
            func child(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
            var matchedOld: Set<String> = []
            for nf in n.fields {
                var of = o.fieldIndex[nf.name].map { o.fields[$0] }
                if of == nil, let alias = nf.aliases.first(where: { o.fieldIndex[$0] != nil }) {
                    of = o.fields[o.fieldIndex[alias]!]
                    add(.fieldRenamed, child(nf.name), old: alias, new: nf.name, "~ field `\(child(alias))` renamed to `\(nf.name)` (old name kept in aliases)")
                }
                guard let of else {
                    add(.fieldAdded, child(nf.name), old: nil, new: fieldDescription(new, nf), "+ field `\(child(nf.name))`: \(fieldDescription(new, nf))")
                    continue
                }
                matchedOld.insert(of.name)
                compareDefaults(of, nf, path: child(nf.name))
                compareTypes(of.type, nf.type, path: child(nf.name))
            }
            for of in o.fields where !matchedOld.contains(of.name) {
                add(.fieldRemoved, child(of.name), old: fieldDescription(old, of), new: nil, "- field `\(child(of.name))`: \(fieldDescription(old, of))")
            }
        }

        mutating func compareDefaults(_ o: AvroSchema.Field, _ n: AvroSchema.Field, path: String) {
            switch (o.defaultValue, n.defaultValue) {
            case (nil, nil): break
            case (nil, let value?):
                add(.defaultAdded, path, old: nil, new: SchemaDescription.value(value), "~ field `\(path)`: default \(SchemaDescription.value(value)) added")
            case (let value?, nil):
                add(.defaultRemoved, path, old: SchemaDescription.value(value), new: nil, "~ field `\(path)`: default \(SchemaDescription.value(value)) removed")
            case (let a?, let b?):
                let (x, y) = (SchemaDescription.value(a), SchemaDescription.value(b))
                if x != y { add(.defaultChanged, path, old: x, new: y, "~ field `\(path)`: default \(x) → \(y)") }
            }
        }

        mutating func compareTypes(_ o: Int, _ n: Int, path: String) {
            guard visited.insert([o, n]).inserted else { return }
            let on = old.nodes[o]
            let nn = new.nodes[n]
            let oldType = SchemaDescription.type(old, o)
            let newType = SchemaDescription.type(new, n)
            switch (on.kind, nn.kind) {
            case (.record(let or), .record(let nr)):
                compareNames(on, nn, path: path)
                compareRecords(or, nr, path: path)
            case (.enumeration(let oe), .enumeration(let ne)):
                compareNames(on, nn, path: path)
                let added = ne.symbols.filter { oe.symbolIndex[$0] == nil }
                let removed = oe.symbols.filter { ne.symbolIndex[$0] == nil }
                let place = "enum `\(ne.fullName)`" + (path.isEmpty ? "" : " (field `\(path)`)")
                if !added.isEmpty {
                    add(.enumSymbolsAdded, path, old: nil, new: added.joined(separator: ", "), "~ \(place): symbols added: \(added.joined(separator: ", "))")
                }
                if !removed.isEmpty {
                    add(.enumSymbolsRemoved, path, old: removed.joined(separator: ", "), new: nil, "~ \(place): symbols removed: \(removed.joined(separator: ", "))")
                }
                if oe.defaultSymbol != ne.defaultSymbol {
                    add(.enumDefaultChanged, path, old: oe.defaultSymbol, new: ne.defaultSymbol, "~ \(place): default symbol \(oe.defaultSymbol ?? "(none)") → \(ne.defaultSymbol ?? "(none)")")
                }
            case (.fixed(let of), .fixed(let nf)):
                compareNames(on, nn, path: path)
                if of.size != nf.size {
                    add(.fixedSizeChanged, path, old: String(of.size), new: String(nf.size), "~ \(label(path)): fixed size \(of.size) → \(nf.size)")
                }
            case (.array(let oi), .array(let ni)):
                compareTypes(oi, ni, path: path + "[]")
            case (.map(let ov), .map(let nv)):
                compareTypes(ov, nv, path: path + "{}")
            case (.union(let ob), .union(let nb)):
                if oldType != newType {
                    add(.typeChanged, path, old: oldType, new: newType, "~ \(label(path)): type \(oldType) → \(newType)" + unionNote(ob, nb))
                }
                // Look inside branches both unions have (same named type, or same kind).
                for obranch in ob {
                    if let nbranch = nb.first(where: { sameBranch(obranch, $0) }) {
                        compareTypes(obranch, nbranch, path: path)
                    }
                }
            default:
                if oldType != newType {
                    var note = ""
                    if SchemaDescription.isPromotion(writer: on.kind, reader: nn.kind) {
                        note = " (a promotion: new readers can read old data; old readers cannot read new data)"
                    } else if SchemaDescription.isPromotion(writer: nn.kind, reader: on.kind) {
                        note = " (a narrowing: old readers can read new data; new readers cannot read old data)"
                    }
                    add(.typeChanged, path, old: oldType, new: newType, "~ \(label(path)): type \(oldType) → \(newType)\(note)")
                }
                // A type that became (or stopped being) a union: compare with the matching branch.
                if case .union(let nb) = nn.kind, let match = nb.first(where: { sameBranch(o, $0) }) {
                    compareTypes(o, match, path: path)
                } else if case .union(let ob) = on.kind, let match = ob.first(where: { sameBranch($0, n) }) {
                    compareTypes(match, n, path: path)
                }
            }
        }

        func unionNote(_ ob: [Int], _ nb: [Int]) -> String {
            let oldBranches = ob.map { SchemaDescription.type(old, $0) }
            let newBranches = nb.map { SchemaDescription.type(new, $0) }
            let added = newBranches.filter { !oldBranches.contains($0) }
            let removed = oldBranches.filter { !newBranches.contains($0) }
            var parts: [String] = []
            if !added.isEmpty { parts.append("branches added: " + added.joined(separator: ", ")) }
            if !removed.isEmpty { parts.append("branches removed: " + removed.joined(separator: ", ")) }
            return parts.isEmpty ? "" : " (" + parts.joined(separator: "; ") + ")"
        }

        func sameBranch(_ o: Int, _ n: Int) -> Bool {
            let on = old.nodes[o]
            let nn = new.nodes[n]
            if let a = on.fullName, let b = nn.fullName { return a == b || nn.aliases.contains(a) }
            switch (on.kind, nn.kind) {
            case (.array, .array), (.map, .map): return true
            default: return on.fullName == nil && nn.fullName == nil && on.typeName == nn.typeName
            }
        }

        mutating func compareNames(_ o: AvroSchema.Node, _ n: AvroSchema.Node, path: String) {
            guard let a = o.fullName, let b = n.fullName, a != b else { return }
            let aliased = n.aliases.contains(a) ? " (old name kept in aliases)" : ""
            add(.nameChanged, path, old: a, new: b, "~ \(label(path)): \(n.typeKeyword) renamed \(a) → \(b)\(aliased)")
        }
    }
}
