//! curl config files (`curl -K FILE`), which esk's in-cluster Jobs read their requests from so
//! that no credential is ever on a command line: the quoting of one value.

/// A value inside a double-quoted curl config string: `"` and `\` escaped.
pub fn quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // A line break would end the config line: curl reads these escapes in quotes.
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_and_backslashes_are_escaped() {
        assert_eq!(super::quoted(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(super::quoted("a\nb"), r#""a\nb""#);
    }
}
