//! The hub's side of the Kerberos login: what the sandbox Koji hub's `/ssllogin`
//! does with `Authorization: Negotiate <token>` (Fedora's hub does the same with
//! mod_auth_gssapi).

use std::{ffi::CString, os::unix::ffi::OsStrExt, path::Path};

use base64::Engine as _;
use fedora_ci::clients::kerberos::acquire_cred_from;
use libgssapi::{
    context::{SecurityContext, ServerCtx},
    credential::CredUsage,
    error::Error,
};

/// Verifies a base64 SPNEGO token against `service_keytab` and returns the client
/// principal (e.g. `packit-ci@TEST.LOCAL`), or why the token was refused.
///
/// The keytab goes in a GSSAPI credential store rather than `KRB5_KTNAME`, so the
/// sandbox never changes the environment of the multi-threaded test process. Any
/// service principal in the keytab is accepted, as a hub with one keytab would.
/// A replayed token is refused, as by the real hub; the replay cache is a file
/// next to the keytab (`<keytab>.rcache2`, in the realm's temporary directory)
/// rather than in /var/tmp, so tests leave nothing behind.
/// Blocking (reads the keytab): call it from `spawn_blocking` in async handlers.
/// `KRB5_CONFIG` must already name the realm (see [`crate::realm`]).
pub fn accept(token_b64: &str, service_keytab: &Path) -> Result<String, String> {
    let token = base64::engine::general_purpose::STANDARD
        .decode(token_b64.trim())
        .map_err(|e| format!("the Negotiate token is not base64: {e}"))?;
    let mut keytab = b"FILE:".to_vec();
    keytab.extend_from_slice(service_keytab.as_os_str().as_bytes());
    let mut rcache = b"file2:".to_vec();
    rcache.extend_from_slice(service_keytab.as_os_str().as_bytes());
    rcache.extend_from_slice(b".rcache2");
    let nul = |_| "the service keytab path contains a NUL byte".to_string();
    let keytab = CString::new(keytab).map_err(nul)?;
    let rcache = CString::new(rcache).map_err(nul)?;
    let cred = acquire_cred_from(None, CredUsage::Accept, &[(c"keytab", &keytab), (c"rcache", &rcache)])
        .map_err(|e| format!("no acceptor credentials from {}: {}", service_keytab.display(), message(&e)))?;
    let mut ctx = ServerCtx::new(Some(cred));
    ctx.step(&token, None).map_err(|e| format!("token refused: {}", message(&e)))?;
    if !ctx.is_complete() {
        // Kerberos inside SPNEGO finishes in one token when mutual auth is off;
        // a second round means the client picked another mechanism.
        return Err("token refused: SPNEGO wants another round trip (not a Kerberos token?)".into());
    }
    let client = ctx.source_name().map_err(|e| format!("no client name in the accepted context: {}", message(&e)))?;
    Ok(client.to_string())
}

/// libgssapi's rendering keeps the C strings' terminating NULs.
fn message(e: &Error) -> String {
    e.to_string().replace('\0', "")
}
