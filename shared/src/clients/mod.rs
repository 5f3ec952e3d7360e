//! The outbound clients a function uses, built once from the config at start.

pub mod bus;
pub mod check;
pub mod fasjson;
pub mod forge;
mod forge_http;
pub mod forgejo;
pub mod kerberos;
pub mod koji;
pub mod log_detective;
pub mod pagure;
pub mod retry;
pub mod testing_farm;

use std::sync::Arc;
use std::time::Duration;

use crate::config::Config;
use fasjson::FasJsonClient;
use forge::Forges;
use forgejo::ForgejoClient;
use kerberos::Kerberos;
use koji::KojiClient;
use log_detective::LogDetectiveClient;
use pagure::PagureClient;
use testing_farm::TestingFarmClient;

#[derive(Clone)]
pub struct Clients {
    pub http: reqwest::Client,
    /// Shared so one Koji session (login) serves every request of a replica.
    pub koji: Arc<KojiClient>,
    /// One client per extra Koji instance, by instance name.
    pub koji_instances: Vec<(String, Arc<KojiClient>)>,
    /// Pagure and Forgejo: each PR's calls go to its own forge.
    pub forges: Forges,
    pub fasjson: FasJsonClient,
    pub testing_farm: TestingFarmClient,
    /// The Log Detective interface server (and the Koji log servers it is sent from).
    pub log_detective: LogDetectiveClient,
}

impl Clients {
    /// The client of the hub a build was submitted to; `None` for an instance no
    /// longer configured.
    pub fn koji_for(&self, instance: &str) -> Option<&Arc<KojiClient>> {
        if instance == crate::config::koji::PRIMARY {
            return Some(&self.koji);
        }
        self.koji_instances.iter().find(|(name, _)| name == instance).map(|(_, c)| c)
    }

    /// A build's Koji task page: the URL stored at submission, else (rows written
    /// before URLs were kept) built from the task id on the build's own hub —
    /// task ids are per hub, so never on the primary one for an extra hub's build.
    pub fn koji_task_url(&self, instance: &str, task_id: Option<&str>, stored: Option<&str>) -> Option<String> {
        if let Some(url) = stored {
            return Some(url.to_owned());
        }
        let task = task_id?.parse().ok()?;
        Some(self.koji_for(instance)?.task_url(task))
    }

    pub fn from_config(config: &Config) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("fedora-ci-functions/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .timeout(config.upstream_timeout)
            .build()?;
        Ok(Self {
            koji: Arc::new(KojiClient::from_config(http.clone(), &config.koji)),
            koji_instances: config
                .koji_instances
                .iter()
                .map(|i| (i.name.clone(), Arc::new(KojiClient::from_config(http.clone(), &i.koji))))
                .collect(),
            forges: Forges {
                pagure: PagureClient::new(http.clone(), config.distgit_url.clone(), config.pagure_token.clone()),
                forgejo: ForgejoClient::new(http.clone(), config.forgejo.url.clone(), config.forgejo.token.clone()),
                call_limit: config.upstream_timeout,
            },
            fasjson: FasJsonClient::new(
                http.clone(),
                config.fasjson_url.clone(),
                config
                    .koji
                    .keytab
                    .as_ref()
                    .map(|keytab| Kerberos { keytab: Some(keytab.clone()), principal: config.koji.principal.clone() }),
            ),
            testing_farm: TestingFarmClient::new(
                http.clone(),
                config.testing_farm.api_url.clone(),
                config.testing_farm.api_key.clone(),
            ),
            log_detective: LogDetectiveClient::new(
                http.clone(),
                config.log_detective.url.clone(),
                config.log_detective.token.clone(),
                config.upstream_timeout,
            ),
            http,
        })
    }
}
