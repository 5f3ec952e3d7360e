//! The dependencies a workflow step runs with: configuration, the pool, the
//! outbound clients and the bus. Below the workflows and the dispatcher, above
//! the clients and the store, so no layer has to import the HTTP runtime to get it.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::clients::Clients;
use crate::clients::bus::Bus;
use crate::config::Config;
use crate::messages::Topics;
use crate::store::build_lookup::BuildLookup;

/// Shared, cheap-to-clone state handed to a function's router.
#[derive(Clone)]
pub struct Context {
    /// The function's name: the `consumer` in `processed_events` and the log field.
    pub function: &'static str,
    pub config: Arc<Config>,
    pub pool: PgPool,
    pub topics: Topics,
    pub clients: Clients,
    /// The AMQP publisher for Fedora CI messages, when `AMQP_URL` is set.
    pub bus: Option<Arc<Bus>>,
    /// Koji task → our build, batched across concurrent messages.
    pub builds_by_task: BuildLookup,
    /// The ELN package lists while fresh (`lookups::is_eln_package`).
    pub eln_packages: Arc<crate::store::cache::Memo<std::collections::BTreeSet<String>>>,
}

impl Context {
    /// Fails only if the TLS backend cannot be initialised.
    pub fn new(function: &'static str, config: Config, pool: PgPool) -> Result<Self, reqwest::Error> {
        let topics = Topics::new(config.topic_prefix.clone());
        let clients = Clients::from_config(&config)?;
        let bus = config.amqp.clone().map(|amqp| Arc::new(Bus::new(amqp, config.messages_exchange.clone())));
        let builds_by_task = BuildLookup::new(pool.clone());
        let eln_packages = Arc::default();
        Ok(Self { function, config: Arc::new(config), pool, topics, clients, bus, builds_by_task, eln_packages })
    }
}

impl FromRef<Context> for Topics {
    fn from_ref(ctx: &Context) -> Self {
        ctx.topics.clone()
    }
}
