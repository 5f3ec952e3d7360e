//! Kerberos (GSSAPI/SPNEGO) client side, as the koji CLI logs in to Fedora's hub.
//!
//! INTERFACE PLACEHOLDER: the implementation on the system GSSAPI library lands
//! with the Kerberos work of the pr-opened issue.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum KerberosError {
    #[error("Kerberos is not available in this build")]
    Unavailable,
}

/// Credentials for the SPNEGO handshake: a client keytab (`KRB5_CLIENT_KTNAME`) and
/// optionally the principal to use from it.
#[derive(Debug, Clone)]
pub struct Kerberos {
    pub keytab: Option<PathBuf>,
    pub principal: Option<String>,
}

impl Kerberos {
    /// The base64 SPNEGO token for `Authorization: Negotiate <token>` to the
    /// service `HTTP@<host>`.
    pub fn negotiate_token(&self, _host: &str) -> Result<String, KerberosError> {
        Err(KerberosError::Unavailable)
    }
}
