//! `${NAME}` expansion in commands, arguments and environment values.
//!
//! The forms are the ones people know from shells and Compose files:
//!
//! | text | becomes |
//! |---|---|
//! | `${NAME}` | the value of `NAME`; an error when it is not set |
//! | `${NAME:-default}` | the value of `NAME`, or `default` when it is unset or empty |
//! | `$$` | a literal `$` |
//! | `$` before anything else | itself (so `$1` reaches a shell untouched) |
//!
//! The default is taken literally (no nested expansion).

use std::fmt;

/// Why a string could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ExpandError {
    /// `${NAME}` with no default, and `NAME` is not set.
    Unset(String),
    /// `${` without its `}`.
    Unterminated,
    /// `${...}` whose name is not `[A-Za-z_][A-Za-z0-9_]*`.
    BadName(String),
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpandError::Unset(name) => write!(
                f,
                "${{{name}}} is not set (give a default with ${{{name}:-value}}, or write $$ for a literal $)"
            ),
            ExpandError::Unterminated => f.write_str("`${` has no closing `}`"),
            ExpandError::BadName(name) => write!(
                f,
                "`${{{name}}}`: a variable name is letters, digits and `_`, not starting with a digit"
            ),
        }
    }
}

/// Expands `input`, looking names up with `lookup`.
pub(crate) fn expand(
    input: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or(ExpandError::Unterminated)?;
            out.push_str(&substitute(&body[..end], &lookup)?);
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of one `${...}` body: `NAME` or `NAME:-default`.
fn substitute(body: &str, lookup: &impl Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let (name, default) = match body.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (body, None),
    };
    if !valid_name(name) {
        return Err(ExpandError::BadName(body.to_owned()));
    }
    match (lookup(name), default) {
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_owned()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(ExpandError::Unset(name.to_owned())),
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("4100".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_names_and_defaults() {
        assert_eq!(expand("127.0.0.1:${PORT}", env).unwrap(), "127.0.0.1:4100");
        assert_eq!(expand("${PORT}${PORT}", env).unwrap(), "41004100");
        assert_eq!(expand("${NOPE:-x y}", env).unwrap(), "x y");
        assert_eq!(expand("${PORT:-1}", env).unwrap(), "4100");
        assert_eq!(expand("${EMPTY:-fallback}", env).unwrap(), "fallback");
        assert_eq!(expand("${EMPTY}", env).unwrap(), "");
        assert_eq!(expand("${NOPE:-}", env).unwrap(), "");
    }

    #[test]
    fn dollars_that_are_not_expansions_stay() {
        assert_eq!(expand("$$", env).unwrap(), "$");
        assert_eq!(expand("$${PORT}", env).unwrap(), "${PORT}");
        assert_eq!(expand("echo $1 $! $", env).unwrap(), "echo $1 $! $");
        assert_eq!(expand("no dollars", env).unwrap(), "no dollars");
        assert_eq!(expand("prix: 5€ ${PORT}", env).unwrap(), "prix: 5€ 4100");
    }

    #[test]
    fn problems_are_errors_with_a_clear_message() {
        let err = expand("--token=${TOKEN}", env).unwrap_err();
        assert_eq!(err, ExpandError::Unset("TOKEN".into()));
        assert_eq!(
            err.to_string(),
            "${TOKEN} is not set (give a default with ${TOKEN:-value}, or write $$ for a literal $)"
        );
        assert_eq!(
            expand("${PORT", env).unwrap_err(),
            ExpandError::Unterminated
        );
        assert_eq!(
            expand("${}", env).unwrap_err(),
            ExpandError::BadName(String::new())
        );
        assert_eq!(
            expand("${1X}", env).unwrap_err(),
            ExpandError::BadName("1X".into())
        );
        assert_eq!(
            expand("${A-B}", env).unwrap_err(),
            ExpandError::BadName("A-B".into())
        );
    }
}
