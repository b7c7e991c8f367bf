//! serde's and the YAML parser's messages reworded for someone editing a
//! config file: YAML words instead of Rust types, the field named once in
//! the path (a missing or repeated field included), and a suggestion for a
//! misspelt field or value.

/// A deserialisation error as `parse` reports it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Reworded {
    /// The path of the field the message is about.
    pub(crate) field: String,
    /// What is wrong.
    pub(crate) message: String,
    /// The field is given twice; it is best shown where it is repeated.
    pub(crate) repeated: bool,
    /// The field is missing; it is best shown where its parent is.
    pub(crate) missing: bool,
}

/// Rewords `message`, which serde_norway gave for the value at `field`.
pub(crate) fn reword(field: &str, message: &str) -> Reworded {
    let message = strip_parent_path(message, field);
    let plain = |message: String| Reworded {
        field: field.to_owned(),
        message,
        repeated: false,
        missing: false,
    };
    if let Some(name) = quoted_after(message, "missing field ") {
        return Reworded {
            field: join(field, name),
            message: "is required".to_owned(),
            repeated: false,
            missing: true,
        };
    }
    if let Some(name) = quoted_after(message, "duplicate field ") {
        return Reworded {
            field: join(field, name),
            message: "is given twice".to_owned(),
            repeated: true,
            missing: false,
        };
    }
    for what in ["unknown field ", "unknown variant "] {
        if message.starts_with(what) {
            return plain(suggest(message));
        }
    }
    if let Some(shape) = variant_shape(message) {
        return plain(shape.to_owned());
    }
    if message.starts_with("deserializing from YAML containing more than one document") {
        return plain(
            "holds more than one YAML document (a `---` line between settings); \
             put the whole config in one"
                .to_owned(),
        );
    }
    let mut message = yaml_words(message);
    if message.starts_with("invalid type: list, expected a string") {
        message.push_str(" (quote a value that starts with `[`, e.g. `\"[::1]:8080\"`)");
    }
    plain(message)
}

/// serde_norway starts a message with the path of the mapping it was
/// reading, which is `field` or its parent: the path is reported apart.
fn strip_parent_path<'a>(message: &'a str, field: &str) -> &'a str {
    let Some((head, rest)) = message.split_once(": ") else {
        return message;
    };
    let parent = field == head
        || field
            .strip_prefix(head)
            .is_some_and(|r| r.starts_with(['.', '[']));
    if parent { rest } else { message }
}

/// `x` in "`prefix``x`` ...".
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    rest.split_once('`').map(|(name, _)| name)
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

/// "unknown field `adress`, expected one of `name`, `address`" becomes
/// "unknown field `adress`; did you mean `address`?" when one name is
/// close; otherwise the list stays.
fn suggest(message: &str) -> String {
    // Backticks alternate: the given name, then the expected ones.
    let mut quoted = message.split('`').skip(1).step_by(2);
    let Some(given) = quoted.next() else {
        return message.to_owned();
    };
    let best = quoted
        .map(|candidate| {
            let d = distance(&given.to_lowercase(), &candidate.to_lowercase());
            (d, candidate)
        })
        .min_by_key(|&(d, _)| d);
    match best {
        Some((d, candidate)) if d <= (given.len().max(candidate.len()) / 3).max(1) => {
            let what = message.split('`').next().unwrap_or_default();
            format!("{what}`{given}`; did you mean `{candidate}`?")
        }
        _ => message.to_owned(),
    }
}

/// Levenshtein distance, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

/// A choice (an enum) written in the wrong shape.
fn variant_shape(message: &str) -> Option<&'static str> {
    let m = message;
    Some(if m.starts_with("invalid type: enum") {
        "YAML tags (`!name`) are not used: write the choice as a one-key mapping, `{name: value}`"
    } else if m.starts_with("invalid value: map, expected map with a single key") {
        "give exactly one choice, as a mapping with one key"
    } else if m.starts_with("invalid type: unit variant") {
        "this choice needs settings: write it as a one-key mapping, `{name: value}`"
    } else if m.starts_with("invalid type: map, expected unit variant") {
        "this choice takes no settings: write just its name"
    } else {
        return None;
    })
}

/// The choices of the enum `name` of the proxy's schema, as they are
/// written: "`a`, `b` or `{c: ...}`".
fn choices(name: &str) -> Option<String> {
    let schema = crate::proxy_schema();
    let branches = schema.get("$defs")?.get(name)?.get("oneOf")?.as_array()?;
    let written: Vec<String> = branches
        .iter()
        .filter_map(|b| {
            if let Some(c) = b.get("const").and_then(|c| c.as_str()) {
                return Some(format!("`{c}`"));
            }
            let (key, value) = b.get("properties")?.as_object()?.iter().next()?;
            let value = if value.get("properties").is_some() {
                "{...}"
            } else {
                "..."
            };
            Some(format!("`{{{key}: {value}}}`"))
        })
        .collect();
    let (last, rest) = written.split_last()?;
    Some(if rest.is_empty() {
        last.clone()
    } else {
        format!("{} or {last}", rest.join(", "))
    })
}

/// Rust's names for types, in YAML's words.
fn yaml_words(message: &str) -> String {
    let mut m = message.to_owned();
    if let Some(i) = m.find("expected enum ") {
        let name = &m[i + "expected enum ".len()..];
        if let Some(c) = choices(name.trim()) {
            m.replace_range(i.., &format!("expected {c}"));
        }
    }
    if let Some(i) = m.find("expected struct ") {
        m.replace_range(i.., "expected a mapping (`key: value` lines)");
    }
    for (rust, yaml) in [
        ("unit value", "null"),
        ("invalid type: sequence", "invalid type: list"),
        ("expected a sequence", "expected a list"),
        ("expected u16", "expected a whole number from 0 to 65535"),
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number from 0"),
        ("expected f64", "expected a number"),
    ] {
        m = m.replace(rust, yaml);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_missing_field_in_the_path() {
        let r = reword("listeners[0]", "missing field `address`");
        assert_eq!(r.field, "listeners[0].address");
        assert_eq!(r.message, "is required");
        assert_eq!(reword("", "missing field `listeners`").field, "listeners");
    }

    #[test]
    fn drops_the_parsers_own_path() {
        let r = reword(
            "listeners[0].adress",
            "listeners[0]: unknown field `adress`, expected `name` or `address`",
        );
        assert_eq!(r.message, "unknown field `adress`; did you mean `address`?");
        let r = reword("a", "b: invalid type");
        assert_eq!(r.message, "b: invalid type");
    }

    #[test]
    fn keeps_the_list_when_nothing_is_close() {
        let m = "unknown variant `cnt`, expected one of `count`, `time`";
        assert_eq!(reword("w.cnt", m).message, m);
        assert_eq!(
            reword("w", "unknown field `x`, there are no fields").message,
            "unknown field `x`, there are no fields"
        );
    }

    #[test]
    fn distances() {
        assert_eq!(distance("adress", "address"), 1);
        assert_eq!(distance("polcy", "policy"), 1);
        assert_eq!(distance("max-attempts", "max_attempts"), 1);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("kitten", "sitting"), 3);
    }

    #[test]
    fn lists_the_choices_of_an_enum() {
        assert_eq!(
            reword("p", "invalid type: integer `5`, expected enum PathMatch").message,
            "invalid type: integer `5`, expected `{exact: ...}`, `{prefix: ...}` or `{regex: ...}`"
        );
        assert_eq!(
            reword("p", "invalid type: integer `5`, expected enum LoadBalancer").message,
            "invalid type: integer `5`, expected `p2c_ewma`, `round_robin`, `least_request`, \
             `weighted` or `{consistent_hash: {...}}`"
        );
    }

    #[test]
    fn speaks_yaml() {
        assert_eq!(
            reword(
                "",
                "invalid type: string \"hello\", expected struct ProxyConfig"
            )
            .message,
            "invalid type: string \"hello\", expected a mapping (`key: value` lines)"
        );
        assert_eq!(
            reword("a", "invalid type: unit value, expected a string").message,
            "invalid type: null, expected a string"
        );
    }
}
