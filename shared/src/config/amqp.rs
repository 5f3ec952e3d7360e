//! How every Fedora CI process reaches an AMQP broker: the fedmsg-bridge to
//! consume, the publishing functions to send Fedora CI messages (`clients::bus`).
//! Fedora's broker (`amqps://rabbitmq.fedoraproject.org/%2Fpubsub`) wants TLS with
//! its CA and a client certificate whose CN is the user (SASL EXTERNAL); a local
//! broker takes a plain `amqp://user:password@…` URL. One reader of the variables
//! means the bridge and the publishers cannot drift apart in what they accept.
//!
//! Variables: `AMQP_URL` (or `AMQP_URL_FILE`; may hold a password, so it is a
//! [`Secret`] and only its credential-free form [`AmqpSettings::source`] is ever
//! printed), and the PEM paths `AMQP_CA_CERT`, `AMQP_CERT`, `AMQP_KEY` (the
//! `[tls]` section of a fedora-messaging config).

use std::path::PathBuf;
use std::time::Duration;

use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::uri::{AMQPScheme, AMQPUri, SASLMechanism};
use lapin::{Connection, ConnectionProperties};
use url::Url;

use super::env::{ConfigError, Env, Source};
use super::secret::Secret;

/// A connection attempt that hangs (a black-holed address) must not stall a
/// reconnect loop or a request handler.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum AmqpError {
    /// A TLS file became unreadable after start (e.g. a rotated secret mid-write).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// lapin's message names the host and the failure; the URL is cut out of it.
    #[error("cannot connect to {broker}: {reason}")]
    Connect { broker: String, reason: String },
}

/// Where and how to connect, validated at start so a bad deployment fails with one
/// line naming the variable instead of on the first message.
#[derive(Debug, Clone)]
pub struct AmqpSettings {
    /// `AMQP_URL`; may contain the password.
    pub url: Secret,
    /// The URL without credentials or query: the only form that may be logged
    /// (and the bridge's CloudEvent `source`).
    pub source: String,
    pub tls: TlsFiles,
}

impl AmqpSettings {
    /// `None` when `AMQP_URL` is unset (a function that then publishes nothing); TLS
    /// files without a URL are refused, since they show the operator meant to publish.
    pub fn from_source(source: &dyn Source) -> Result<Option<Self>, ConfigError> {
        let env = Env(source);
        let Some(url) = env.secret("AMQP_URL")? else {
            if let Some(var) = TLS_VARIABLES.into_iter().find(|v| env.opt(v).is_some()) {
                return Err(ConfigError::new("AMQP_URL", format!("required when {var} is set")));
            }
            return Ok(None);
        };
        let uri = parse_amqp_url(url.expose())?;
        let source_uri = redact(url.expose())?;
        let tls = TlsFiles {
            ca_cert: env.opt("AMQP_CA_CERT").map(PathBuf::from),
            cert: env.opt("AMQP_CERT").map(PathBuf::from),
            key: env.opt("AMQP_KEY").map(PathBuf::from),
        };
        match (&tls.cert, &tls.key) {
            (Some(_), None) => return Err(ConfigError::new("AMQP_KEY", "required when AMQP_CERT is set")),
            (None, Some(_)) => return Err(ConfigError::new("AMQP_CERT", "required when AMQP_KEY is set")),
            _ => {}
        }
        if (tls.ca_cert.is_some() || tls.client_certificate()) && uri.scheme != AMQPScheme::AMQPS {
            let var = if tls.ca_cert.is_some() { "AMQP_CA_CERT" } else { "AMQP_CERT" };
            return Err(ConfigError::new(var, "TLS files need an amqps:// AMQP_URL"));
        }
        tls.load()?;
        Ok(Some(Self { url, source: source_uri, tls }))
    }

    /// For a process that is useless without a broker (the bridge).
    pub fn required(source: &dyn Source) -> Result<Self, ConfigError> {
        Self::from_source(source)?
            .ok_or_else(|| ConfigError::new("AMQP_URL", "required; set AMQP_URL or AMQP_URL_FILE"))
    }

    /// The URL lapin connects with: SASL EXTERNAL when a client certificate is
    /// configured and the URL does not choose a mechanism itself.
    pub fn uri(&self) -> Result<AMQPUri, ConfigError> {
        let mut uri = parse_amqp_url(self.url.expose())?;
        if self.tls.client_certificate() && !self.url.expose().contains("auth_mechanism=") {
            uri.query.auth_mechanism = Some(SASLMechanism::External);
        }
        Ok(uri)
    }

    /// Opens a connection named `name` (shown in the broker's management UI). The
    /// TLS files are read again here, so a rotated certificate in a mounted secret
    /// is used from the next connect on.
    pub async fn connect(&self, name: &str) -> Result<Connection, AmqpError> {
        let uri = self.uri()?;
        let tls = self.tls.load()?;
        let tls = OwnedTLSConfig {
            identity: tls
                .identity
                .map(|(pem, key)| OwnedIdentity::PKCS8 { pem, key: key.expose().as_bytes().to_vec() }),
            cert_chain: tls.ca_cert.map(|pem| String::from_utf8_lossy(&pem).into_owned()),
        };
        let properties = ConnectionProperties::default()
            .with_connection_name(name.into())
            .with_client_property("app".into(), format!("Fedora CI {name}").as_str().into());
        let failed = |reason: String| AmqpError::Connect {
            broker: self.source.clone(),
            reason: reason.replace(self.url.expose(), "<AMQP_URL>"),
        };
        let runtime = lapin::runtime::default_runtime().map_err(|e| failed(e.to_string()))?;
        let attempt = Connection::connect_uri_with_config(uri, properties, tls, runtime);
        match tokio::time::timeout(CONNECT_TIMEOUT, attempt).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(failed(e.to_string())),
            Err(_) => Err(failed(format!("no answer within {}s", CONNECT_TIMEOUT.as_secs()))),
        }
    }
}

const TLS_VARIABLES: [&str; 3] = ["AMQP_CA_CERT", "AMQP_CERT", "AMQP_KEY"];

/// Paths of the PEM files. They are read at start (to fail fast) and again at
/// every connect.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    pub ca_cert: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl TlsFiles {
    /// A client certificate means the broker authenticates us by it (SASL EXTERNAL),
    /// as fedora-messaging does; the user in the URL is then only informative.
    pub fn client_certificate(&self) -> bool {
        self.cert.is_some() && self.key.is_some()
    }

    /// The contents, checked to look like PEM. Errors name the variable and the path,
    /// never the contents.
    pub fn load(&self) -> Result<LoadedTls, ConfigError> {
        let read = |var: &str, path: &PathBuf, marker: &str| -> Result<Vec<u8>, ConfigError> {
            let bytes = std::fs::read(path)
                .map_err(|e| ConfigError::new(var, format!("cannot read '{}': {e}", path.display())))?;
            if !bytes.windows(marker.len()).any(|w| w == marker.as_bytes()) {
                return Err(ConfigError::new(var, format!("'{}' is not a PEM file ({marker}…)", path.display())));
            }
            Ok(bytes)
        };
        let ca_cert = match &self.ca_cert {
            Some(p) => Some(read("AMQP_CA_CERT", p, "-----BEGIN CERTIFICATE")?),
            None => None,
        };
        let identity = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => Some((
                read("AMQP_CERT", cert, "-----BEGIN CERTIFICATE")?,
                Secret::new(String::from_utf8_lossy(&read("AMQP_KEY", key, "PRIVATE KEY-----")?)),
            )),
            _ => None,
        };
        Ok(LoadedTls { ca_cert, identity })
    }
}

/// PEM contents; the key stays a [`Secret`] so a `Debug` dump cannot show it.
#[derive(Debug)]
pub struct LoadedTls {
    pub ca_cert: Option<Vec<u8>>,
    pub identity: Option<(Vec<u8>, Secret)>,
}

/// The parser's own message may quote the URL, so it is not passed on.
fn parse_amqp_url(raw: &str) -> Result<AMQPUri, ConfigError> {
    raw.parse::<AMQPUri>().map_err(|_| {
        ConfigError::new("AMQP_URL", "not an amqp:// or amqps:// URL (amqp[s]://user:password@host[:port]/vhost)")
    })
}

/// `amqps://user:pw@host/%2Fvhost?heartbeat=30` → `amqps://host/%2Fvhost`.
pub fn redact(raw: &str) -> Result<String, ConfigError> {
    let mut url = Url::parse(raw).map_err(|_| ConfigError::new("AMQP_URL", "not a URL"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::new("AMQP_URL", "has no host"));
    }
    let cleared = url.set_username("").is_ok() && url.set_password(None).is_ok();
    if !cleared {
        return Err(ConfigError::new("AMQP_URL", "credentials cannot be separated from the URL"));
    }
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Option<AmqpSettings>, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        AmqpSettings::from_source(&move |k: &str| map.get(k).cloned())
    }

    /// PEM files in a fresh directory; removed when dropped.
    struct Pems(PathBuf);

    impl Pems {
        fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("amqp-settings-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("ca.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
                .unwrap();
            std::fs::write(
                dir.join("key.pem"),
                "-----BEGIN PRIVATE KEY-----\nkey-material\n-----END PRIVATE KEY-----\n",
            )
            .unwrap();
            std::fs::write(dir.join("not-pem.txt"), "hello").unwrap();
            Self(dir)
        }
        fn path(&self, name: &str) -> String {
            self.0.join(name).to_str().unwrap().to_owned()
        }
    }

    impl Drop for Pems {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const FEDORA: &str = "amqps://fedora-ci:@rabbitmq.fedoraproject.org/%2Fpubsub";

    #[test]
    fn unset_means_no_broker_but_stray_tls_files_are_refused() {
        assert!(load(&[]).unwrap().is_none());
        let err = load(&[("AMQP_CERT", "/x.pem")]).unwrap_err();
        assert_eq!(err.var, "AMQP_URL");
        assert!(err.to_string().contains("AMQP_CERT"), "{err}");
        assert_eq!(AmqpSettings::required(&|_: &str| None).unwrap_err().var, "AMQP_URL");
    }

    #[test]
    fn a_plain_url_needs_no_tls_and_keeps_its_mechanism() {
        let s = load(&[("AMQP_URL", "amqp://guest:s3cr3t@127.0.0.1:5672/%2f?heartbeat=30")]).unwrap().unwrap();
        assert_eq!(s.source, "amqp://127.0.0.1:5672/%2f");
        assert_eq!(s.uri().unwrap().scheme, AMQPScheme::AMQP);
        assert_eq!(s.uri().unwrap().query.auth_mechanism, None);
        assert!(!format!("{s:?}").contains("s3cr3t"));
    }

    #[test]
    fn client_certificate_over_amqps_uses_sasl_external() {
        let p = Pems::new("external");
        let vars = [
            ("AMQP_URL", FEDORA),
            ("AMQP_CA_CERT", &p.path("ca.pem")),
            ("AMQP_CERT", &p.path("ca.pem")),
            ("AMQP_KEY", &p.path("key.pem")),
        ];
        let s = load(&vars).unwrap().unwrap();
        assert_eq!(s.source, "amqps://rabbitmq.fedoraproject.org/%2Fpubsub");
        assert_eq!(s.uri().unwrap().scheme, AMQPScheme::AMQPS);
        assert_eq!(s.uri().unwrap().query.auth_mechanism, Some(SASLMechanism::External));
        let loaded = s.tls.load().unwrap();
        assert!(loaded.ca_cert.is_some() && loaded.identity.is_some());
        assert!(!format!("{loaded:?}").contains("key-material"));
        // A mechanism the URL names wins.
        let plain = format!("{FEDORA}?auth_mechanism=plain");
        let mut vars = vars;
        vars[0].1 = &plain;
        assert_eq!(load(&vars).unwrap().unwrap().uri().unwrap().query.auth_mechanism, Some(SASLMechanism::Plain));
    }

    #[test]
    fn tls_variables_come_in_pairs_and_need_amqps() {
        let p = Pems::new("pairs");
        let (ca, key) = (p.path("ca.pem"), p.path("key.pem"));
        let cases: [(&[(&str, &str)], &str); 6] = [
            (&[("AMQP_URL", FEDORA), ("AMQP_CERT", &ca)], "AMQP_KEY"),
            (&[("AMQP_URL", FEDORA), ("AMQP_KEY", &key)], "AMQP_CERT"),
            (&[("AMQP_URL", "amqp://u:p@host/%2f"), ("AMQP_CA_CERT", &ca)], "AMQP_CA_CERT"),
            (&[("AMQP_URL", "amqp://u:p@host/%2f"), ("AMQP_CERT", &ca), ("AMQP_KEY", &key)], "AMQP_CERT"),
            (&[("AMQP_URL", FEDORA), ("AMQP_CA_CERT", "/nonexistent.pem")], "AMQP_CA_CERT"),
            (&[("AMQP_URL", FEDORA), ("AMQP_CERT", &ca), ("AMQP_KEY", &p.path("not-pem.txt"))], "AMQP_KEY"),
        ];
        for (vars, var) in cases {
            let err = load(vars).unwrap_err();
            assert_eq!(err.var, var, "{vars:?}: {err}");
            assert_eq!(err.to_string().lines().count(), 1);
        }
    }

    #[test]
    fn the_password_is_in_no_error() {
        for bad in ["http://u:s3cr3t-pw@host/", "amqp://u:s3cr3t-pw@/x", "amqp://u:s3cr3t-pw@host:notaport/"] {
            let err = load(&[("AMQP_URL", bad)]).unwrap_err();
            assert_eq!(err.var, "AMQP_URL", "{bad}");
            assert!(!err.to_string().contains("s3cr3t-pw"), "{err}");
        }
    }

    #[test]
    fn the_url_can_come_from_a_file() {
        let p = Pems::new("file");
        let path = p.path("url");
        std::fs::write(&path, "amqp://u:s3cr3t@host/%2f\n").unwrap();
        let s = load(&[("AMQP_URL_FILE", &path)]).unwrap().unwrap();
        assert_eq!(s.source, "amqp://host/%2f");
        assert_eq!(load(&[("AMQP_URL_FILE", "/nonexistent")]).unwrap_err().var, "AMQP_URL_FILE");
    }

    #[tokio::test]
    async fn a_refused_connection_names_the_broker_not_the_password() {
        // Port 1 on loopback: nothing listens, the connect fails at once.
        let s = load(&[("AMQP_URL", "amqp://u:s3cr3t@127.0.0.1:1/%2f")]).unwrap().unwrap();
        let err = s.connect("test").await.unwrap_err().to_string();
        assert!(err.contains("amqp://127.0.0.1:1/%2f"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    /// The first bytes a client sends to a bare TCP listener: a TLS ClientHello
    /// (0x16 0x03) for `amqps://`, the `AMQP` protocol header for `amqp://`.
    async fn first_bytes(scheme: &str) -> [u8; 4] {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("{scheme}://u:p@localhost:{port}/%2f");
        let s = load(&[("AMQP_URL", &url)]).unwrap().unwrap();
        let client = tokio::spawn(async move { s.connect("test").await.map(|_| ()) });
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut head = [0u8; 4];
        socket.read_exact(&mut head).await.unwrap();
        drop(socket);
        assert!(client.await.unwrap().is_err(), "nobody answered, so the connect cannot succeed");
        head
    }

    #[tokio::test]
    async fn amqps_speaks_tls_and_amqp_does_not() {
        let tls = first_bytes("amqps").await;
        assert_eq!(tls[..2], [0x16, 0x03], "a TLS handshake record: {tls:?}");
        assert_eq!(&first_bytes("amqp").await, b"AMQP");
    }
}
