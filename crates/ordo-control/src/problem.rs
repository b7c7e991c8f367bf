//! [`Problem`]: one thing wrong with a request, named by its field.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// One thing wrong with an input, with the field it concerns (`metadata.zone`,
/// `lease_ms`, `wait`). Validation returns every problem it finds, not only the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// The field's path in the input (`address`, `metadata.zone`), or the query
    /// parameter's name.
    pub field: String,
    /// What is wrong and what is expected.
    pub message: String,
}

impl Problem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// `problems` joined as `field: message; field: message`.
pub(crate) fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}
