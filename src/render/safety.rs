//! What keeps a template's output well-formed whatever the values, and a hostile template
//! from crashing esk: the escaping formatter every `{{ value }}` goes through, and a bound on
//! the length of template expressions.

use minijinja::{AutoEscape, Output, State, Value as JValue};

use super::shown;
use crate::error::UsageError;

/// The longest `{{ … }}` or `{% … %}` block a template may have.
const MAX_EXPRESSION: usize = 1000;

/// minijinja guards its parser's recursion for brackets and statements, but not for chains
/// such as `- - - x`, `not not x`, `x.a.b.c…` or `x|f|g…`: a few thousand links overflow the
/// stack and abort the process. Bounding every block's length bounds those chains. The scan
/// follows minijinja's lexer: comments end at the first `#}`, and a `}}` in a string literal
/// does not end a block.
pub(super) fn check_expression_lengths(origin: &str, text: &str) -> Result<(), UsageError> {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'{', b'#') => {
                i = text[i + 2..].find("#}").map_or(b.len(), |e| i + 2 + e + 2);
            }
            (b'{', open @ (b'{' | b'%')) => {
                let close = if open == b'{' { b'}' } else { b'%' };
                let start = i;
                let mut quote = None;
                i += 2;
                while i < b.len() {
                    match (quote, b[i]) {
                        (Some(_), b'\\') => i += 1,
                        (Some(q), c) if c == q => quote = None,
                        (None, c @ (b'"' | b'\'')) => quote = Some(c),
                        (None, c) if c == close && b.get(i + 1) == Some(&b'}') => break,
                        _ => {}
                    }
                    i += 1;
                }
                if i - start > MAX_EXPRESSION {
                    let line = text[..start].matches('\n').count() + 1;
                    return Err(UsageError::new(format!(
                        "template {} line {line}: a block longer than {MAX_EXPRESSION} \
                         characters; split it (e.g. with {{% set %}})",
                        shown(origin)
                    )));
                }
                i += 2;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Prints an escaped value as JSON in pure ASCII, which YAML reads as the same scalar or
/// flow collection. serde_json leaves DEL, C1 controls, NEL, U+2028/9 and U+FFFE raw: YAML
/// refuses some and folds others into spaces, so every non-ASCII character becomes an escape
/// (`\uXXXX`, or YAML's `\UXXXXXXXX` beyond the BMP, where JSON's surrogate pairs are invalid).
pub(super) fn yaml_safe_formatter(
    out: &mut Output,
    state: &State,
    value: &JValue,
) -> Result<(), minijinja::Error> {
    if state.auto_escape() != AutoEscape::Json || value.is_safe() {
        return minijinja::escape_formatter(out, state, value);
    }
    let json = serde_json::to_string(value).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::BadSerialization,
            "cannot print the value as JSON",
        )
        .with_source(e)
    })?;
    out.write_str(&ascii_escaped(&json))
        .map_err(minijinja::Error::from)
}

/// `json` with every character outside printable ASCII as a YAML double-quoted escape. Such
/// characters only occur inside JSON strings, where the escapes mean the same character.
fn ascii_escaped(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match u32::from(c) {
            0x20..=0x7e => out.push(c),
            code @ 0..=0xffff => out.push_str(&format!("\\u{code:04x}")),
            code => out.push_str(&format!("\\U{code:08x}")),
        }
    }
    out
}

/// Runs a minijinja step over a user's template, turning a panic inside minijinja into an
/// error. minijinja 2.24 panics on some malformed templates: its parser takes any expression
/// as the name in `{% import "x" as NAME %}` (`parse_import` calls `parse_expr`), and its code
/// generator's `compile_assignment` reaches `unreachable!()` for one that is not a plain name,
/// e.g. `as a-h`. 2.24 is the newest 2.x and the bug is still there, so esk contains the panic
/// rather than pinning. The panic's message is kept off stderr: the caller reports one line.
pub(super) fn contained<T>(step: impl FnOnce() -> T) -> Result<T, String> {
    use std::cell::Cell;
    use std::panic::{self, AssertUnwindSafe};
    use std::sync::Once;

    thread_local!(static QUIET: Cell<bool> = const { Cell::new(false) });
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(step));
    QUIET.with(|q| q.set(false));
    result.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_becomes_yaml_escapes() {
        let escaped = ascii_escaped("\"a\u{7f}\u{85}é🌀\"");
        assert_eq!(escaped, "\"a\\u007f\\u0085\\u00e9\\U0001f300\"");
        let back: String = serde_yaml::from_str(&escaped).unwrap();
        assert_eq!(back, "a\u{7f}\u{85}é🌀");
    }

    #[test]
    fn long_blocks_are_found_past_strings_and_comments() {
        let long = "-".repeat(MAX_EXPRESSION);
        assert!(check_expression_lengths("t", &format!("{{# {long} #}}{{{{ x }}}}")).is_ok());
        let hidden = format!("a\n{{{{ '}}}}' ~ {long}x }}}}");
        let err = check_expression_lengths("t", &hidden)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("template t line 2: "), "{err}");
        assert!(check_expression_lengths("t", &format!("{{% if {long}")).is_err());
    }
}
