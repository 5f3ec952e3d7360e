fn main() -> std::process::ExitCode {
    fedora_ci::app::main("koji-finished", koji_finished::routes)
}
