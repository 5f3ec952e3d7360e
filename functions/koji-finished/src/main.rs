fn main() -> std::process::ExitCode {
    fedora_ci::runtime::app::main("koji-finished", koji_finished::routes)
}
