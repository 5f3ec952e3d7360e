fn main() -> std::process::ExitCode {
    fedora_ci::runtime::app::main("api", api::routes)
}
