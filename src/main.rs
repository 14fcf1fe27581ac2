use clap::Parser;

fn main() {
    let cli = esk::cli::Cli::parse();
    esk::signals::install();
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
