fn main() -> std::process::ExitCode {
    fedora_ci::app::main("tf-finished", tf_finished::routes)
}
