use clap::Parser;

fn main() {
    let cli = esk::cli::Cli::parse();
    let code = match esk::commands::run(cli) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("esk: {err:#}");
            esk::error::exit_code(&err)
        }
    };
    std::process::exit(code);
}
