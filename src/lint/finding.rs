//! A finding: which rule, on which object, from which file, and its one-line text form.

use std::fmt;

use super::catalog::{rule_by_id, Severity};

/// Which object a finding is about.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Object {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{ns}/{}", self.kind, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub object: Object,
    /// Where the object came from: a file, `-`, or a template name.
    pub file: String,
    pub message: String,
    pub fix: String,
}

impl Finding {
    /// A finding of `rule` (its severity and usual fix from [`RULES`]).
    pub(super) fn new(rule: &'static str, object: &Object, file: &str, message: String) -> Finding {
        let known = rule_by_id(rule);
        debug_assert!(known.is_some(), "unknown rule {rule}");
        Finding {
            rule,
            severity: known.map_or(Severity::Error, |r| r.severity),
            object: object.clone(),
            file: file.to_string(),
            message,
            fix: known.map_or("", |r| r.fix).to_string(),
        }
    }
}

impl Finding {
    /// The same finding with a fix for this object rather than the rule's usual one.
    pub(super) fn with_fix(mut self, fix: String) -> Finding {
        self.fix = fix;
        self
    }
}

/// Input text shown on one line: control characters (a newline in a name) escaped.
fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// `FILE: SEVERITY RULE KIND/NS/NAME: MESSAGE; fix: FIX`, always one line.
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} {} {}: {}; fix: {}",
            one_line(&self.file),
            self.severity,
            self.rule,
            one_line(&self.object.to_string()),
            one_line(&self.message),
            one_line(&self.fix)
        )
    }
}
