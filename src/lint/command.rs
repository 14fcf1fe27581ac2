//! `esk lint [FILE|DIR|-]... [-o text|json]`: read manifests, print the findings, exit 5 when
//! any is an error. Bad input exits 2 with one line: unreadable or invalid files, an argument
//! with no Kubernetes object in it (an empty file or directory), a kustomization (lint its
//! build: `kubectl kustomize DIR | esk lint -`).

use std::io::Read;
use std::path::Path;

use anyhow::Result;
use serde_json::json;

use super::{kustomization, lint, parse, parse_json, Doc, Finding, Severity};
use crate::error::{LintErrors, UsageError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

pub fn run(files: &[String], output: &str) -> Result<()> {
    let format = match output {
        "text" => Format::Text,
        "json" => Format::Json,
        other => {
            return Err(UsageError::new(format!(
                "-o takes text or json, got \"{}\"",
                other.escape_debug()
            ))
            .into())
        }
    };
    let stdin = ["-".to_string()];
    let files = if files.is_empty() { &stdin[..] } else { files };
    let mut docs = Vec::new();
    for file in files {
        let read = read(file)?;
        if read.is_empty() {
            let shown = if file == "-" { "stdin" } else { file.as_str() };
            return Err(UsageError::new(format!(
                "no Kubernetes objects found in {}",
                shown.escape_debug()
            ))
            .into());
        }
        docs.extend(read);
    }
    let findings = lint(&docs);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    match format {
        Format::Text => {
            for f in &findings {
                println!("{f}");
            }
            println!(
                "esk lint: {errors} error(s), {warnings} warning(s) in {} object(s)",
                docs.len()
            );
        }
        Format::Json => {
            let report = json!({
                "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
                "errors": errors,
                "warnings": warnings,
                "objects": docs.len(),
            });
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
    }
    if errors > 0 {
        return Err(LintErrors::new(errors).into());
    }
    Ok(())
}

fn finding_json(f: &Finding) -> serde_json::Value {
    json!({
        "rule": f.rule,
        "severity": f.severity,
        "object": f.object.to_string(),
        "kind": f.object.kind,
        "namespace": f.object.namespace,
        "name": f.object.name,
        "message": f.message,
        "fix": f.fix,
        "file": f.file,
    })
}

const KUSTOMIZATIONS: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The documents of one argument: `-` is stdin, a directory means its `*.yaml`/`*.yml`/`*.json`
/// files in name order (what `esk render -o DIR` writes; kubectl reads JSON files too), not its
/// subdirectories. A kustomization (the file, or a directory holding one) is refused.
fn read(arg: &str) -> Result<Vec<Doc>, UsageError> {
    if arg == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| UsageError::new(format!("cannot read stdin: {e}")))?;
        return parse(&text, "-");
    }
    let path = Path::new(arg);
    if path.is_dir() {
        let entries = std::fs::read_dir(path)
            .map_err(|e| UsageError::new(format!("cannot read {arg}: {e}")))?;
        let mut files: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.extension()
                        .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            })
            .collect();
        files.sort();
        if let Some(k) = KUSTOMIZATIONS
            .iter()
            .map(|k| path.join(k))
            .find(|k| k.is_file())
        {
            return Err(kustomization(&k.display().to_string()));
        }
        let mut docs = Vec::new();
        for f in files {
            docs.extend(read_file(&f)?);
        }
        return Ok(docs);
    }
    read_file(path)
}

fn read_file(path: &Path) -> Result<Vec<Doc>, UsageError> {
    let shown = path.display().to_string();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if KUSTOMIZATIONS.contains(&name) {
        return Err(kustomization(&shown));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::new(format!("cannot read {shown}: {e}")))?;
    if path.extension().is_some_and(|x| x == "json") {
        return parse_json(&text, &shown);
    }
    parse(&text, &shown)
}
