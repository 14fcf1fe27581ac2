//! Label selectors (`a=b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, `a>1`, comma = AND)
//! and field selectors (`metadata.name=x`), as the API server parses them.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
enum Op {
    In(Vec<String>),
    NotIn(Vec<String>),
    Exists,
    DoesNotExist,
    Greater(i64),
    Less(i64),
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Eq,
    NotEq,
    Bang,
    Open,
    Close,
    Comma,
    Gt,
    Lt,
}

fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | ',' | '>' | '<' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    ',' => Token::Comma,
                    '>' => Token::Gt,
                    _ => Token::Lt,
                });
            }
            '=' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                }
                tokens.push(Token::Eq);
            }
            '!' => {
                chars.next();
                if chars.peek() == Some(&'=') {
                    chars.next();
                    tokens.push(Token::NotEq);
                } else {
                    tokens.push(Token::Bang);
                }
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "(),<>=!".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn word(&mut self, what: &str) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            other => Err(format!("expected {what}, found {other:?}")),
        }
    }

    /// A value may be empty (`a=` selects an empty value).
    fn value(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Token::Word(_)) => self.word("a value"),
            _ => Ok(String::new()),
        }
    }

    fn value_set(&mut self) -> Result<Vec<String>, String> {
        if self.next() != Some(Token::Open) {
            return Err("expected '(' after in/notin".into());
        }
        let mut values = Vec::new();
        loop {
            let v = self.value()?;
            check_value(&v)?;
            values.push(v);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::Close) => return Ok(values),
                other => return Err(format!("expected ',' or ')', found {other:?}")),
            }
        }
    }

    fn integer(&mut self) -> Result<i64, String> {
        let w = self.word("an integer")?;
        w.parse()
            .map_err(|_| format!("for 'Gt', 'Lt' operators, the value must be an integer: {w}"))
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        if self.peek() == Some(&Token::Bang) {
            self.next();
            let key = self.word("a key after '!'")?;
            check_key(&key)?;
            return Ok(Requirement {
                key,
                op: Op::DoesNotExist,
            });
        }
        let key = self.word("a key")?;
        check_key(&key)?;
        let op = match self.peek() {
            None | Some(Token::Comma) => Op::Exists,
            Some(Token::Eq) => {
                self.next();
                let v = self.value()?;
                check_value(&v)?;
                Op::In(vec![v])
            }
            Some(Token::NotEq) => {
                self.next();
                let v = self.value()?;
                check_value(&v)?;
                Op::NotIn(vec![v])
            }
            Some(Token::Gt) => {
                self.next();
                Op::Greater(self.integer()?)
            }
            Some(Token::Lt) => {
                self.next();
                Op::Less(self.integer()?)
            }
            Some(Token::Word(w)) if w == "in" => {
                self.next();
                Op::In(self.value_set()?)
            }
            Some(Token::Word(w)) if w == "notin" => {
                self.next();
                Op::NotIn(self.value_set()?)
            }
            Some(other) => return Err(format!("unexpected {other:?} after key {key:?}")),
        };
        Ok(Requirement { key, op })
    }
}

fn check_key(key: &str) -> Result<(), String> {
    super::validate::label_key_errors(key)
        .map_or(Ok(()), |e| Err(format!("invalid label key {key:?}: {e}")))
}

fn check_value(value: &str) -> Result<(), String> {
    super::validate::label_value_errors(value).map_or(Ok(()), |e| {
        Err(format!("invalid label value: {value:?}: {e}"))
    })
}

impl LabelSelector {
    /// Parses the `labelSelector` query parameter; errors read like the API server's.
    pub fn parse(input: &str) -> Result<LabelSelector, String> {
        let tokens = tokenize(input)?;
        if tokens.is_empty() {
            return Ok(LabelSelector::default());
        }
        let mut parser = Parser { tokens, pos: 0 };
        let mut requirements = Vec::new();
        loop {
            requirements.push(
                parser
                    .requirement()
                    .map_err(|e| format!("unable to parse requirement: {e}"))?,
            );
            match parser.next() {
                None => break,
                Some(Token::Comma) => continue,
                Some(other) => {
                    return Err(format!("unable to parse requirement: unexpected {other:?}"))
                }
            }
        }
        Ok(LabelSelector { requirements })
    }

    /// The selector of a `{matchLabels, matchExpressions}` object (Deployment, PDB, ...);
    /// `None` when there is none.
    pub fn from_spec(spec: &Value) -> Option<Result<LabelSelector, String>> {
        let spec = spec.as_object()?;
        Some(from_spec_object(spec))
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object's `metadata.labels` satisfy every requirement.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        let get = |key: &str| labels.and_then(|l| l.get(key)).and_then(Value::as_str);
        self.requirements.iter().all(|r| {
            let value = get(&r.key);
            match &r.op {
                Op::In(values) => value.is_some_and(|v| values.iter().any(|x| x == v)),
                Op::NotIn(values) => value.is_none_or(|v| values.iter().all(|x| x != v)),
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::Greater(n) => value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                Op::Less(n) => value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

fn from_spec_object(spec: &Map<String, Value>) -> Result<LabelSelector, String> {
    let mut requirements = Vec::new();
    for (key, value) in spec
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let value = value.as_str().ok_or("matchLabels values must be strings")?;
        check_key(key)?;
        check_value(value)?;
        requirements.push(Requirement {
            key: key.clone(),
            op: Op::In(vec![value.to_string()]),
        });
    }
    for expr in spec
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = expr["key"]
            .as_str()
            .ok_or("matchExpressions[].key is required")?;
        check_key(key)?;
        let values: Vec<String> = expr["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let op =
            match expr["operator"].as_str() {
                Some("In") if !values.is_empty() => Op::In(values),
                Some("NotIn") if !values.is_empty() => Op::NotIn(values),
                Some("In" | "NotIn") => return Err(
                    "values: Required value: must be specified when `operator` is 'In' or 'NotIn'"
                        .into(),
                ),
                Some("Exists") => Op::Exists,
                Some("DoesNotExist") => Op::DoesNotExist,
                other => {
                    return Err(format!(
                        "operator: Invalid value: {other:?}: not a valid selector operator"
                    ))
                }
            };
        requirements.push(Requirement {
            key: key.to_string(),
            op,
        });
    }
    Ok(LabelSelector { requirements })
}

/// A parsed field selector: `path=value` / `path!=value` terms, ANDed.
#[derive(Debug, Clone, Default)]
pub struct FieldSelector {
    terms: Vec<(String, bool, String)>,
}

impl FieldSelector {
    pub fn parse(input: &str) -> Result<FieldSelector, String> {
        let mut terms = Vec::new();
        for term in input.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = term.split_once('=') {
                (p, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{input}'; can't understand '{term}'"
                ));
            };
            terms.push((path.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(FieldSelector { terms })
    }

    /// Compares the dotted path's value (missing = empty string) with each term.
    pub fn matches(&self, object: &Value) -> bool {
        self.terms.iter().all(|(path, equal, wanted)| {
            let actual = path
                .split('.')
                .try_fold(object, |v, part| v.get(part))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (actual == *wanted) == *equal
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(selector: &str, labels: Value) -> bool {
        let sel = LabelSelector::parse(selector).expect("parses");
        sel.matches(labels.as_object())
    }

    #[test]
    fn equality_and_sets() {
        let l = json!({"app": "es", "node": "2", "tier": "db"});
        assert!(matches("app=es", l.clone()));
        assert!(matches("app==es,node=2", l.clone()));
        assert!(!matches("app!=es", l.clone()));
        assert!(matches("missing!=x", l.clone()));
        assert!(matches("node in (2,3)", l.clone()));
        assert!(matches("node in ( 1 , 2 )", l.clone()));
        assert!(!matches("node notin (2)", l.clone()));
        assert!(matches("missing notin (2)", l.clone()));
        assert!(matches("tier,!missing", l.clone()));
        assert!(!matches("!tier", l.clone()));
        assert!(matches("node>1,node<3", l.clone()));
        assert!(matches("", l));
    }

    #[test]
    fn rejects_garbage() {
        assert!(LabelSelector::parse("a in 1").is_err());
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("a=b c").is_err());
        assert!(LabelSelector::parse("Bad Key=1").is_err());
    }

    #[test]
    fn field_selectors() {
        let obj = json!({"metadata": {"name": "a", "namespace": "ns"}});
        let sel = FieldSelector::parse("metadata.name=a,metadata.namespace!=x").expect("parses");
        assert!(sel.matches(&obj));
        assert!(!FieldSelector::parse("metadata.name=b")
            .expect("parses")
            .matches(&obj));
    }
}
