use clap::Parser;

fn main() {
    let cli = esk::cli::Cli::parse();
    esk::signals::install(esk::signals::OnStop {
        kill_children: esk::adapters::process::children::kill_all,
        release_lock: esk::lock::release_active,
        progress: esk::execute::progress,
    });
    let result = esk::commands::run(cli);
    // An interrupt being handled ends the process with its own message and code.
    esk::signals::park_if_stopping();
    let code = match result {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("esk: {err:#}");
            esk::error::exit_code(&err)
        }
    };
    std::process::exit(code);
}
