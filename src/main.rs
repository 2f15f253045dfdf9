fn main() {
    if let Err(error) = sturdy::cli::main() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
