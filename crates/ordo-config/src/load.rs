//! Reading a config file: YAML into the typed config, then validation,
//! every problem reported with its file, line and field.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::error::{ConfigErrors, ConfigIssue};
use crate::lines::LineMap;

/// Config files larger than this are refused unread.
pub const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// A parsed config with the positions of its fields, so that later checks
/// (by the runtime that builds from it) can report lines too.
#[derive(Debug, Clone)]
pub struct Document<T> {
    /// The typed config.
    pub config: T,
    /// The file name used in errors.
    pub file: String,
    lines: LineMap,
}

impl<T> Document<T> {
    /// An issue at the field `path`, positioned by the document's lines.
    pub fn issue(&self, path: &str, message: impl Into<String>) -> ConfigIssue {
        let pos = self.lines.find(path);
        ConfigIssue {
            file: self.file.clone(),
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            field: path.to_owned(),
            message: message.into(),
        }
    }

    /// Issues for every `(path, message)`, sorted by line.
    pub fn issues(&self, problems: Vec<(String, String)>) -> ConfigErrors {
        let mut list: Vec<ConfigIssue> = problems
            .into_iter()
            .map(|(path, msg)| self.issue(&path, msg))
            .collect();
        list.sort_by_key(|i| (i.line.unwrap_or(usize::MAX), i.column));
        ConfigErrors(list)
    }
}

/// Something that can list its own problems after parsing.
pub trait Validate {
    /// `(field path, message)` for every problem; empty when valid.
    fn problems(&self) -> Vec<(String, String)>;
}

impl Validate for crate::proxy::ProxyConfig {
    fn problems(&self) -> Vec<(String, String)> {
        crate::proxy::ProxyConfig::problems(self)
    }
}

/// Reads, parses and validates the file at `path`.
pub fn load<T: DeserializeOwned + Validate>(path: &Path) -> Result<Document<T>, ConfigErrors> {
    let file = path.display().to_string();
    let whole = |message: String| {
        ConfigErrors(vec![ConfigIssue {
            file: file.clone(),
            line: None,
            column: None,
            field: String::new(),
            message,
        }])
    };
    let meta = std::fs::metadata(path).map_err(|e| whole(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(whole("is not a file".to_owned()));
    }
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(whole(format!(
            "is {} bytes; config files are limited to {MAX_CONFIG_BYTES}",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| whole(format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        whole(format!(
            "is not UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ))
    })?;
    parse(&text, &file)
}

/// Parses and validates `text`, naming it `file` in errors.
pub fn parse<T: DeserializeOwned + Validate>(
    text: &str,
    file: &str,
) -> Result<Document<T>, ConfigErrors> {
    let lines = LineMap::of(text);
    let doc = |config| Document {
        config,
        file: file.to_owned(),
        lines: lines.clone(),
    };
    if text.trim().is_empty() {
        return Err(ConfigErrors(vec![ConfigIssue {
            file: file.to_owned(),
            line: None,
            column: None,
            field: String::new(),
            message: "is empty".to_owned(),
        }]));
    }
    let de = serde_norway::Deserializer::from_str(text);
    let config: T = match serde_path_to_error::deserialize(de) {
        Ok(c) => c,
        Err(e) => {
            let field = e.path().to_string();
            let field = if field == "." { String::new() } else { field };
            let inner = e.into_inner();
            let loc = inner.location();
            let message = strip_location(&inner.to_string(), &field);
            let pos = loc
                .map(|l| (l.line(), l.column()))
                .or_else(|| lines.find(&field));
            return Err(ConfigErrors(vec![ConfigIssue {
                file: file.to_owned(),
                line: pos.map(|p| p.0),
                column: pos.map(|p| p.1),
                field,
                message,
            }]));
        }
    };
    let problems = config.problems();
    let document = doc(config);
    if problems.is_empty() {
        Ok(document)
    } else {
        Err(document.issues(problems))
    }
}

/// serde_norway puts the path and the position in its message; both are
/// reported separately, so take them out.
fn strip_location(message: &str, field: &str) -> String {
    let mut m = message;
    if let Some(rest) = m.strip_prefix(field).and_then(|r| r.strip_prefix(": ")) {
        m = rest;
    }
    let m = match m.rfind(" at line ") {
        Some(i) => &m[..i],
        None => m,
    };
    m.trim().to_owned()
}
