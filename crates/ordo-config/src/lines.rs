//! Where each field of a YAML document is, so that a problem found after
//! parsing (by validation) can still name its line.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// The line and column of every field and list item of a document, by
/// path (`listeners[0].routes[1].cluster`).
#[derive(Debug, Default, Clone)]
pub struct LineMap {
    positions: HashMap<String, (usize, usize)>,
    /// Where a key given twice in one mapping is given the second time.
    repeats: HashMap<String, (usize, usize)>,
    complete: bool,
}

impl LineMap {
    /// Maps `text`. Where the document does not parse, what comes before
    /// the error is still mapped: this parser is stricter than the one
    /// that reads the config in a few corners, and a problem found later
    /// may still be on one of those lines.
    pub fn of(text: &str) -> LineMap {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        let complete = parser.load(&mut builder, false).is_ok();
        LineMap {
            positions: builder.positions,
            repeats: builder.repeats,
            complete,
        }
    }

    /// The whole document parsed; when not, the YAML is broken and the
    /// parser's own position is the one to report.
    pub(crate) fn complete(&self) -> bool {
        self.complete
    }

    /// The line and column of `path` itself, if the document has it.
    pub(crate) fn exact(&self, path: &str) -> Option<(usize, usize)> {
        self.positions.get(path).copied()
    }

    /// The paths of fields given twice.
    pub(crate) fn repeated(&self) -> impl Iterator<Item = &str> {
        self.repeats.keys().map(String::as_str)
    }

    /// Where the field `path`, given twice, is given the second time.
    pub(crate) fn repeat(&self, path: &str) -> Option<(usize, usize)> {
        self.repeats.get(path).copied()
    }

    /// The 1-based line and column of `path`, or of its nearest parent
    /// that the document has (a missing field is reported where its
    /// parent is).
    pub fn find(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(&pos) = self.positions.get(p) {
                return Some(pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
            if p.is_empty() {
                return None;
            }
        }
    }
}

enum Frame {
    Map {
        path: String,
        key: Option<String>,
        /// A list item whose position is its first key's (the parser
        /// marks a block mapping where its first `:` is).
        item: bool,
    },
    Seq {
        path: String,
        index: usize,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    positions: HashMap<String, (usize, usize)>,
    repeats: HashMap<String, (usize, usize)>,
}

fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

impl Builder {
    /// The path of the value starting at `mark`, recorded if new.
    fn value_path(&mut self, mark: Marker) -> String {
        match self.stack.last_mut() {
            None => String::new(),
            Some(Frame::Map { path, key, .. }) => match key.take() {
                Some(k) => join(path, &k),
                None => path.clone(),
            },
            Some(Frame::Seq { path, index }) => {
                let p = format!("{path}[{index}]");
                *index += 1;
                self.positions
                    .entry(p.clone())
                    .or_insert((mark.line(), mark.col() + 1));
                p
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::MappingStart(..) => {
                let item = matches!(self.stack.last(), Some(Frame::Seq { .. }));
                let path = self.value_path(mark);
                self.stack.push(Frame::Map {
                    path,
                    key: None,
                    item,
                });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(mark);
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { path, key, item }) = self.stack.last_mut()
                    && key.is_none()
                {
                    let field = join(path, &value);
                    let here = (mark.line(), mark.col() + 1);
                    if std::mem::take(item) {
                        self.positions.insert(path.clone(), here);
                    }
                    match self.positions.entry(field) {
                        Entry::Occupied(seen) => {
                            self.repeats.entry(seen.key().clone()).or_insert(here);
                        }
                        Entry::Vacant(new) => {
                            new.insert(here);
                        }
                    }
                    *key = Some(value);
                } else {
                    self.value_path(mark);
                }
            }
            Event::Alias(_) => {
                self.value_path(mark);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_and_items_by_path() {
        let text = "a: 1\nlist:\n  - name: x\n    inner:\n      deep: true\n  - name: y\nflow: {k: [1, 2]}\n";
        let m = LineMap::of(text);
        assert_eq!(m.find("a").map(|p| p.0), Some(1));
        assert_eq!(m.find("list").map(|p| p.0), Some(2));
        assert_eq!(m.find("list[0]"), Some((3, 5)));
        assert_eq!(m.find("list[0].inner.deep").map(|p| p.0), Some(5));
        assert_eq!(m.find("list[1].name").map(|p| p.0), Some(6));
        assert_eq!(m.find("list[1].missing").map(|p| p.0), Some(6));
        assert_eq!(m.find("flow.k").map(|p| p.0), Some(7));
        assert_eq!(m.find("nothing"), None);
    }

    #[test]
    fn remembers_where_a_key_is_given_again() {
        let m = LineMap::of("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n");
        assert_eq!(m.find("a"), Some((1, 1)));
        assert_eq!(m.repeat("a"), Some((5, 1)));
        assert_eq!(m.repeat("b.c"), Some((4, 3)));
        assert_eq!(m.repeat("b"), None);
    }
}
