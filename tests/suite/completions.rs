//! `esk completions SHELL` and `esk man`: scripts a shell accepts, naming every subcommand,
//! and a roff man page; no cluster or cloud needed.

use crate::common::*;

const SUBCOMMANDS: &[&str] = &[
    "render",
    "create",
    "delete",
    "credentials",
    "resize",
    "doctor",
    "completions",
    "man",
];

fn generated(bed: &TestBed, args: &[&str]) -> String {
    // Only esk on PATH: generating needs no other program.
    let out = esk_with_only(bed, &[], args);
    assert!(out.status.success(), "{args:?}: {}", text(&out));
    assert!(out.stderr.is_empty(), "{args:?}: {}", text(&out));
    stdout(&out)
}

#[test]
fn bash_completion_parses_and_completes_subcommands_and_flags() {
    let bed = TestBed::start();
    let script = generated(&bed, &["completions", "bash"]);
    let file = bed.dir().join("esk.bash");
    std::fs::write(&file, &script).unwrap();
    let check = bed.run("bash", &["-n", file.to_str().unwrap()], None);
    assert!(check.status.success(), "bash -n: {check:?}");
    for word in SUBCOMMANDS
        .iter()
        .chain(&["--keep-disks", "--dry-run", "--zone"])
    {
        assert!(script.contains(word), "bash completion lacks {word}");
    }
    // Sourcing it registers the completion for esk.
    let probe = format!("source {} && complete -p esk", file.display());
    let run = bed.run("bash", &["-c", &probe], None);
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("esk"),
        "{run:?}"
    );
}

#[test]
fn zsh_fish_and_powershell_scripts_name_every_subcommand() {
    let bed = TestBed::start();
    for shell in ["zsh", "fish", "powershell"] {
        let script = generated(&bed, &["completions", shell]);
        assert!(!script.trim().is_empty(), "{shell}");
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    let zsh = generated(&bed, &["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef esk"), "{zsh}");
    let out = esk(&bed, &["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn the_man_page_is_roff_for_esk() {
    let bed = TestBed::start();
    let page = generated(&bed, &["man"]);
    assert!(page.contains(".TH esk"), "{page}");
    assert!(page.contains(".SH NAME"), "{page}");
    for sub in SUBCOMMANDS {
        assert!(page.contains(sub), "man page lacks {sub}");
    }
}
