fn main() -> std::process::ExitCode {
    fedora_ci::app::main("pr-opened", pr_opened::routes)
}
