fn main() -> std::process::ExitCode {
    fedora_ci::app::main("result-poller", result_poller::routes)
}
