//! What the running command has done so far, in one line: kept up to date by the executor,
//! read by the interrupt handler (through `main`) when SIGINT or SIGTERM stops the run.

/// What the running command has done so far, for the interrupt handler.
static PROGRESS: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

pub(super) fn set_progress(text: String) {
    *PROGRESS.lock().unwrap_or_else(|e| e.into_inner()) = text;
}

/// What the running command has done so far, in one line ("nothing" before its first step).
pub fn progress() -> String {
    let p = PROGRESS.lock().unwrap_or_else(|e| e.into_inner());
    if p.is_empty() {
        "nothing".into()
    } else {
        p.clone()
    }
}
