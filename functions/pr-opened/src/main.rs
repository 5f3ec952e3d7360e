fn main() -> std::process::ExitCode {
    fedora_ci::runtime::app::main("pr-opened", pr_opened::routes)
}
