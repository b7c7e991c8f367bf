//! Collecting every problem of a config, each at the path of its field.

/// Problems found so far, and the path to the field being checked.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    prefix: Vec<String>,
    list: Vec<(String, String)>,
}

impl Problems {
    /// Checks the fields under `segment` (`clusters[2]`, `policy`).
    pub(crate) fn at(&mut self, segment: &str, f: impl FnOnce(&mut Problems)) {
        self.prefix.push(segment.to_owned());
        f(self);
        self.prefix.pop();
    }

    /// Records a problem with `field` under the current path.
    pub(crate) fn push(&mut self, field: &str, message: impl Into<String>) {
        let mut path = self.prefix.join(".");
        if !field.is_empty() {
            if !path.is_empty() && !field.starts_with('[') {
                path.push('.');
            }
            path.push_str(field);
        }
        self.list.push((path, message.into()));
    }

    /// Records `message` at `field` unless `ok`.
    pub(crate) fn check(&mut self, ok: bool, field: &str, message: impl FnOnce() -> String) {
        if !ok {
            self.push(field, message());
        }
    }

    pub(crate) fn into_list(self) -> Vec<(String, String)> {
        self.list
    }
}
