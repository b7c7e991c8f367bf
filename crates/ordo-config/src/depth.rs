//! A guard against deeply nested flow collections (`[[[[...`): libyaml's
//! scanner takes time quadratic in their depth (40,000 brackets take
//! seconds), and the deserializer refuses them anyway, so they are
//! refused before the parser sees them.

/// Deeper than any config needs, below the deserializer's own limit.
pub(crate) const MAX_DEPTH: usize = 100;

/// The line and column where `[`/`{` nesting first goes past
/// [`MAX_DEPTH`], if it does. Brackets in comments and in quoted strings
/// are not counted; the count is a cheap upper bound, not a YAML parse.
pub(crate) fn too_deep(text: &str) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    let (mut line, mut column) = (1, 0);
    let mut chars = text.chars().peekable();
    // The character before, for where a comment or a quote may start.
    let mut before = '\n';
    while let Some(c) = chars.next() {
        column += 1;
        match c {
            '\n' => {
                line += 1;
                column = 0;
            }
            '#' if before.is_whitespace() => while chars.next_if(|&c| c != '\n').is_some() {},
            '"' | '\'' if before.is_whitespace() || matches!(before, '[' | '{' | ',' | ':') => {
                let mut escaped = false;
                for q in chars.by_ref() {
                    column += 1;
                    if q == '\n' {
                        line += 1;
                        column = 0;
                    }
                    if q == c && !escaped {
                        break;
                    }
                    escaped = c == '"' && q == '\\' && !escaped;
                }
            }
            '[' | '{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some((line, column));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        before = c;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_where_nesting_goes_too_deep() {
        let deep = format!("a:\n  b: {}", "[".repeat(MAX_DEPTH + 5));
        assert_eq!(too_deep(&deep), Some((2, 6 + MAX_DEPTH)));
        assert_eq!(too_deep(&"[]".repeat(10 * MAX_DEPTH)), None);
    }

    #[test]
    fn ignores_brackets_in_comments_and_quotes() {
        let opens = "[".repeat(2 * MAX_DEPTH);
        assert_eq!(too_deep(&format!("a: 1 # {opens}\nb: 2\n")), None);
        assert_eq!(too_deep(&format!("a: \"{opens}\"\n")), None);
        assert_eq!(too_deep(&format!("a: '{opens}'\n")), None);
        assert_eq!(too_deep(&format!("a: \"\\\"{opens}\"\n")), None);
        assert_eq!(
            too_deep(&format!("a: \"x\"\nb: {opens}")),
            Some((2, 4 + MAX_DEPTH))
        );
    }
}
