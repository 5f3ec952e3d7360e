fn main() -> std::process::ExitCode {
    fedora_ci::runtime::app::main("tf-finished", tf_finished::routes)
}
