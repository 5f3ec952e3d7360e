fn main() -> std::process::ExitCode {
    fedora_ci::runtime::app::main_with_schedule("result-poller", result_poller::routes, |ctx, cron| {
        Box::pin(result_poller::schedule(ctx, cron))
    })
}
