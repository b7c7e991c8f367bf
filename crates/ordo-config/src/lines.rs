//! Where each field of a YAML document is, so that a problem found after
//! parsing (by validation) can still name its line.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// The line and column of every field and list item of a document, by
/// path (`listeners[0].routes[1].cluster`).
#[derive(Debug, Default, Clone)]
pub struct LineMap {
    positions: HashMap<String, (usize, usize)>,
}

impl LineMap {
    /// Maps `text`; a document that does not parse maps nothing (the
    /// parser's own error then says where).
    pub fn of(text: &str) -> LineMap {
        let mut builder = Builder::default();
        let mut parser = Parser::new_from_str(text);
        if parser.load(&mut builder, false).is_err() {
            return LineMap::default();
        }
        LineMap {
            positions: builder.positions,
        }
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
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    positions: HashMap<String, (usize, usize)>,
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
            Some(Frame::Map { path, key }) => match key.take() {
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
                let path = self.value_path(mark);
                self.stack.push(Frame::Map { path, key: None });
            }
            Event::SequenceStart(..) => {
                let path = self.value_path(mark);
                self.stack.push(Frame::Seq { path, index: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Scalar(value, ..) => {
                if let Some(Frame::Map { path, key }) = self.stack.last_mut()
                    && key.is_none()
                {
                    let field = join(path, &value);
                    self.positions
                        .entry(field)
                        .or_insert((mark.line(), mark.col() + 1));
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
        assert_eq!(m.find("list[0]").map(|p| p.0), Some(3));
        assert_eq!(m.find("list[0].inner.deep").map(|p| p.0), Some(5));
        assert_eq!(m.find("list[1].name").map(|p| p.0), Some(6));
        assert_eq!(m.find("list[1].missing").map(|p| p.0), Some(6));
        assert_eq!(m.find("flow.k").map(|p| p.0), Some(7));
        assert_eq!(m.find("nothing"), None);
    }
}
