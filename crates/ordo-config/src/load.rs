//! Reading a config file: YAML into the typed config, then validation,
//! every problem reported with its file, line and field.

use std::path::Path;

use serde::de::DeserializeOwned;

use crate::depth::{MAX_DEPTH, too_deep};
use crate::error::{ConfigErrors, ConfigIssue};
use crate::explain::reword;
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
        sorted(
            problems
                .into_iter()
                .map(|(path, msg)| self.issue(&path, msg))
                .collect(),
        )
    }
}

/// Something that can list its own problems after parsing.
pub trait Validate {
    /// `(field path, message)` for every problem; empty when valid.
    fn problems(&self) -> Vec<(String, String)>;

    /// What an empty file is told.
    fn when_empty() -> &'static str {
        "is empty"
    }
}

impl Validate for crate::proxy::ProxyConfig {
    fn problems(&self) -> Vec<(String, String)> {
        crate::proxy::ProxyConfig::problems(self)
    }

    fn when_empty() -> &'static str {
        "is empty: a config needs at least `listeners`"
    }
}

impl<T: Validate> Document<T> {
    /// A document of a config built in code rather than read from a file
    /// (a sidecar's proxy, made from a manifest): validated the same way;
    /// its issues name `file` and the field, without lines.
    pub fn built(config: T, file: &str) -> Result<Document<T>, ConfigErrors> {
        let document = Document {
            config,
            file: file.to_owned(),
            lines: LineMap::default(),
        };
        let problems = document.config.problems();
        if problems.is_empty() {
            Ok(document)
        } else {
            Err(document.issues(problems))
        }
    }
}

/// A fault spec on its own (`ordo fault add --spec FILE`): checked without
/// a proxy's limits, which the proxy applies when the fault is added.
impl Validate for crate::fault::FaultSpec {
    fn problems(&self) -> Vec<(String, String)> {
        let mut p = crate::validate::Problems::default();
        self.check(&mut p, None);
        p.into_list()
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
    let text =
        String::from_utf8(bytes).map_err(|e| not_utf8(&file, e.as_bytes(), e.utf8_error()))?;
    parse(&text, &file)
}

/// Where the first byte that is not UTF-8 is, by line and column.
fn not_utf8(file: &str, bytes: &[u8], e: std::str::Utf8Error) -> ConfigErrors {
    let at = e.valid_up_to();
    let good = std::str::from_utf8(&bytes[..at]).expect("valid up to here");
    let line = good.matches('\n').count() + 1;
    let column = good.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
    ConfigErrors(vec![ConfigIssue {
        file: file.to_owned(),
        line: Some(line),
        column: Some(column),
        field: String::new(),
        message: format!(
            "is not UTF-8: byte 0x{:02X} (offset {at}) starts no character; save the file as UTF-8",
            bytes[at]
        ),
    }])
}

/// Parses and validates `text`, naming it `file` in errors.
pub fn parse<T: DeserializeOwned + Validate>(
    text: &str,
    file: &str,
) -> Result<Document<T>, ConfigErrors> {
    if is_blank(text) {
        return Err(ConfigErrors(vec![ConfigIssue {
            file: file.to_owned(),
            line: None,
            column: None,
            field: String::new(),
            message: T::when_empty().to_owned(),
        }]));
    }
    if let Some((line, column)) = too_deep(text) {
        return Err(ConfigErrors(vec![ConfigIssue {
            file: file.to_owned(),
            line: Some(line),
            column: Some(column),
            field: String::new(),
            message: format!("nests `[` and `{{` more than {MAX_DEPTH} deep"),
        }]));
    }
    let lines = LineMap::of(text);
    // Enums are written as one-key mappings (`path: {prefix: /api}`), as
    // the JSON Schema describes them, rather than as YAML tags (`!prefix`).
    let mut track = serde_path_to_error::Track::new();
    let de = serde_path_to_error::Deserializer::new(
        serde_norway::Deserializer::from_str(text),
        &mut track,
    );
    let config: T = match serde_norway::with::singleton_map_recursive::deserialize(de) {
        Ok(c) => c,
        Err(inner) => {
            let field = track.path().to_string();
            // The tracker writes `?` for what it could not follow.
            let field = field.trim_end_matches(".?").trim_end_matches('?');
            let field = if field == "." { "" } else { field };
            let at = inner.location().map(|l| (l.line(), l.column()));
            let r = reword(field, &strip_location(&inner.to_string()));
            // Where the field is (or its parent, when it is missing), as
            // validation reports it; the parser's position when the YAML
            // is broken.
            let mapped = if r.repeated {
                lines.repeat(&r.field)
            } else if r.missing {
                lines.find(&r.field)
            } else {
                lines.exact(&r.field)
            };
            let pos = if lines.complete() {
                mapped.or(at)
            } else {
                at.or(mapped)
            };
            let pos = pos.or_else(|| lines.find(&r.field));
            return Err(ConfigErrors(vec![ConfigIssue {
                file: file.to_owned(),
                line: pos.map(|p| p.0),
                column: pos.map(|p| p.1),
                field: r.field,
                message: r.message,
            }]));
        }
    };
    // serde refuses a struct field given twice, but a map (like fallback
    // headers) would silently keep the last value.
    let repeated: Vec<ConfigIssue> = lines
        .repeated()
        .map(|path| {
            let pos = lines.repeat(path);
            ConfigIssue {
                file: file.to_owned(),
                line: pos.map(|p| p.0),
                column: pos.map(|p| p.1),
                field: path.to_owned(),
                message: "is given twice".to_owned(),
            }
        })
        .collect();
    let problems = config.problems();
    let document = Document {
        config,
        file: file.to_owned(),
        lines,
    };
    let list: Vec<ConfigIssue> = problems
        .into_iter()
        .map(|(path, msg)| document.issue(&path, msg))
        .chain(repeated)
        .collect();
    if list.is_empty() {
        Ok(document)
    } else {
        Err(sorted(list))
    }
}

/// The issues in file order; those without a line last.
fn sorted(mut list: Vec<ConfigIssue>) -> ConfigErrors {
    list.sort_by_key(|i| (i.line.unwrap_or(usize::MAX), i.column));
    ConfigErrors(list)
}

/// Nothing but blank lines, comments and document markers.
fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---" || l == "..."
    })
}

/// serde_norway puts positions in its message, which are reported apart:
/// `problem at line 4 column 1[, context at line 3 column 14]` becomes
/// `problem (context from line 3 column 14)`.
fn strip_location(message: &str) -> String {
    let cut = [" at line ", " at position "]
        .iter()
        .filter_map(|m| message.find(m))
        .min();
    let Some(i) = cut else {
        return message.trim().to_owned();
    };
    let problem = message[..i].trim();
    match message[i..].split_once(", ") {
        Some((_, context)) => {
            let context = context.replacen(" at line ", " from line ", 1);
            format!("{problem} ({context})")
        }
        None => problem.to_owned(),
    }
}
