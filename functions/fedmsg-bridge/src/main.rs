fn main() -> std::process::ExitCode {
    fedora_ci::app::main_without_database("fedmsg-bridge", || {
        fedmsg_bridge::routes(fedora_ci::messages::Topics::new("org.fedoraproject.prod."))
    })
}
