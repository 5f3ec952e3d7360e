use std::process::ExitCode;

fn main() -> ExitCode {
    if let Some(arg) = std::env::args().nth(1) {
        if arg == "--help" || arg == "-h" {
            println!("usage: fedmsg-bridge\n\nConfiguration comes from environment variables (see README.md).");
            return ExitCode::SUCCESS;
        }
        eprintln!("fedmsg-bridge: unknown argument '{arg}'; try --help");
        return ExitCode::from(2);
    }
    let config = match fedmsg_bridge::BridgeConfig::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("fedmsg-bridge: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fedmsg-bridge: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let secrets = [config.amqp.url.clone()];
    let telemetry = match runtime
        .block_on(async { fedora_ci::telemetry::init(fedmsg_bridge::NAME, &config.telemetry, &secrets) })
    {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("fedmsg-bridge: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match runtime.block_on(fedmsg_bridge::run(config, fedora_ci::runtime::serve::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "exiting");
            eprintln!("fedmsg-bridge: {e}");
            ExitCode::FAILURE
        }
    };
    // Flushes queued Sentry events and spans while the runtime can still send them.
    drop(telemetry);
    code
}
