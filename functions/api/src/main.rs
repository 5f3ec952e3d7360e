fn main() -> std::process::ExitCode {
    fedora_ci::app::main("api", api::routes)
}
