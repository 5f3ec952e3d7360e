//! Kerberos (GSSAPI/SPNEGO) client side, as the koji CLI logs in to Fedora's hub.
//!
//! The koji CLI points MIT Kerberos at its keytab through `KRB5_CLIENT_KTNAME` and
//! `KRB5CCNAME`. A function cannot: it is one multi-threaded process, where changing
//! the environment races with every other thread (`set_var` is `unsafe` in Rust 2024)
//! and would leak one caller's keytab into another's login. So credentials are
//! acquired with `gss_acquire_cred_from` and an explicit credential store
//! (`client_keytab`, plus a `ccache` private to this process), which MIT Kerberos
//! supports since 1.11; the environment is only consulted when no keytab is given.

//!
//! The one module of the library that may use `unsafe` (the workspace denies it
//! elsewhere): the GSSAPI calls `libgssapi` has no safe wrapper for.
#![allow(unsafe_code)]

use std::{
    ffi::{CStr, CString, c_void},
    fs::File,
    hash::{DefaultHasher, Hash, Hasher},
    os::unix::ffi::OsStrExt,
    path::PathBuf,
    ptr,
};

use base64::Engine as _;
use libgssapi::{
    context::{ClientCtx, CtxFlags},
    credential::{Cred, CredUsage},
    error::{Error as GssError, MajorFlags},
    name::Name,
    oid::{GSS_MECH_KRB5, GSS_MECH_SPNEGO, GSS_NT_HOSTBASED_SERVICE, GSS_NT_KRB5_PRINCIPAL, Oid},
    util::Buf,
};
use libgssapi_sys as sys;

/// Why a Negotiate token could not be made. Messages name paths, principals and
/// the Kerberos library's own explanation; they never contain key material (the
/// library's messages do not either).
#[derive(Debug, thiserror::Error)]
pub enum KerberosError {
    #[error(
        "no Kerberos keytab configured (set KOJI_KEYTAB) and no default credentials \
         (KRB5CCNAME / KRB5_CLIENT_KTNAME): {detail}"
    )]
    NoKeytab { detail: String },
    #[error("Kerberos keytab {} is unreadable: {reason}", .path.display())]
    KeytabUnreadable { path: PathBuf, reason: String },
    #[error(
        "no Kerberos credentials for {principal} from {source_desc} (is the principal in it, \
         with keys the KDC still has?): {detail}"
    )]
    NoCredentials { principal: String, source_desc: String, detail: String },
    #[error("cannot reach a Kerberos KDC: {detail}")]
    KdcUnreachable { detail: String },
    #[error("the Kerberos KDC does not know the service {service} (is the hub host name right?): {detail}")]
    UnknownService { service: String, detail: String },
    #[error("GSSAPI failed while {step}: {message} (major {major:#010x}, minor {minor})")]
    Gss { step: &'static str, message: String, major: u32, minor: u32 },
}

/// Credentials for the SPNEGO handshake: a client keytab (`KRB5_CLIENT_KTNAME`) and
/// optionally the principal to use from it.
#[derive(Debug, Clone)]
pub struct Kerberos {
    /// `None`: the default credentials of the process, as the koji CLI would use.
    pub keytab: Option<PathBuf>,
    /// `None`: the first principal in the keytab (or the default ccache's).
    pub principal: Option<String>,
}

impl Kerberos {
    /// The base64 SPNEGO token for `Authorization: Negotiate <token>` to the
    /// service `HTTP@<host>`.
    ///
    /// Blocking: the Kerberos library reads the keytab and talks to the KDC
    /// synchronously, so async callers run this in `tokio::task::spawn_blocking`.
    /// The ticket-granting ticket is kept in a process-private memory cache per
    /// keytab and principal, so later logins only ask the KDC for a service ticket.
    pub fn negotiate_token(&self, host: &str) -> Result<String, KerberosError> {
        let service = format!("HTTP@{host}");
        let store = self.store()?;
        match self.initial_token(&store, &service, &GSS_MECH_SPNEGO) {
            Ok(token) => Ok(base64::engine::general_purpose::STANDARD.encode(&*token)),
            Err(spnego_failure) => {
                // SPNEGO reports every Kerberos failure (wrong key, unknown principal,
                // no KDC) as "cannot find mechanisms to negotiate". The same steps with
                // the Kerberos mechanism alone say what actually went wrong.
                let failure = self.initial_token(&store, &service, &GSS_MECH_KRB5).err().unwrap_or(spnego_failure);
                Err(self.classify(failure, &service))
            }
        }
    }

    /// The credential store for [`acquire_cred_from`]: empty (the environment's
    /// default credentials) without a keytab.
    fn store(&self) -> Result<Vec<(&'static CStr, CString)>, KerberosError> {
        let Some(keytab) = &self.keytab else { return Ok(Vec::new()) };
        // Checked here because the library would only say "no credentials" for a
        // missing or unreadable file, which sends an operator looking at the KDC.
        let unreadable = |reason: String| KerberosError::KeytabUnreadable { path: keytab.clone(), reason };
        let file = File::open(keytab).map_err(|e| unreadable(e.to_string()))?;
        if file.metadata().map_err(|e| unreadable(e.to_string()))?.is_dir() {
            return Err(unreadable("it is a directory".into()));
        }
        // "FILE:" so that a path containing ':' is never taken for another keytab type.
        let mut name = b"FILE:".to_vec();
        name.extend_from_slice(keytab.as_os_str().as_bytes());
        let keytab_name = CString::new(name).map_err(|_| unreadable("the path contains a NUL byte".into()))?;
        Ok(vec![(c"client_keytab", keytab_name), (c"ccache", self.private_ccache())])
    }

    fn initial_token(
        &self,
        store: &[(&'static CStr, CString)],
        service: &str,
        mech: &'static Oid<'static>,
    ) -> Result<Buf, Failure> {
        let store: Vec<(&CStr, &CStr)> = store.iter().map(|(k, v)| (*k, v.as_c_str())).collect();
        let fail = |step, error| Failure { step, error };
        let cred = acquire(self.principal.as_deref(), CredUsage::Initiate, &store, mech)
            .map_err(|e| fail("acquiring credentials", e))?;
        let target = Name::new(service.as_bytes(), Some(GSS_NT_HOSTBASED_SERVICE))
            .map_err(|e| fail("importing the service name", e))?;
        // What koji's requests-gssapi asks for with mutual authentication disabled:
        // out-of-sequence detection only; the hub's reply token is never checked.
        let mut ctx = ClientCtx::new(Some(cred), target, CtxFlags::GSS_C_SEQUENCE_FLAG, Some(*mech));
        match ctx.step(None, None) {
            Ok(Some(token)) if !token.is_empty() => Ok(token),
            Ok(_) => Err(fail("creating the token", GssError { major: MajorFlags::GSS_S_FAILURE, minor: 0 })),
            Err(e) => Err(fail("creating the token", e)),
        }
    }

    /// One memory ccache per keytab and principal: reused so the TGT survives
    /// between logins (like the koji CLI's ccache), distinct so two keytabs never
    /// share tickets, and in memory so nothing is written to disk.
    fn private_ccache(&self) -> CString {
        let mut h = DefaultHasher::new();
        (&self.keytab, &self.principal).hash(&mut h);
        CString::new(format!("MEMORY:fedora-ci-{:016x}", h.finish())).expect("no NUL in a formatted hex string")
    }

    fn classify(&self, failure: Failure, service: &str) -> KerberosError {
        let Failure { step, error: e } = failure;
        let detail = message(&e);
        let principal = || self.principal.clone().unwrap_or_else(|| "the keytab's first principal".into());
        let source_desc = || match &self.keytab {
            Some(k) => format!("keytab {}", k.display()),
            None => "the default credentials".into(),
        };
        match e.minor {
            KRB5_KDC_UNREACH | KRB5_REALM_CANT_RESOLVE | KRB5_REALM_UNKNOWN => {
                return KerberosError::KdcUnreachable { detail };
            }
            KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN => {
                return KerberosError::UnknownService { service: service.into(), detail };
            }
            KRB5_KEYTAB_BADVNO | KRB5_KT_IOERR | KRB5_KT_BADNAME => {
                if let Some(path) = &self.keytab {
                    return KerberosError::KeytabUnreadable { path: path.clone(), reason: detail };
                }
            }
            KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN
            | KRB5KDC_ERR_PREAUTH_FAILED
            | KRB5_PREAUTH_FAILED
            | KRB5KRB_AP_ERR_BAD_INTEGRITY
            | KRB5KDC_ERR_CLIENT_REVOKED
            | KRB5KDC_ERR_KEY_EXP
            | KRB5_KT_NOTFOUND
            | KRB5_KT_KVNONOTFOUND => {
                return KerberosError::NoCredentials { principal: principal(), source_desc: source_desc(), detail };
            }
            _ => {}
        }
        if e.major.contains(MajorFlags::GSS_S_NO_CRED) {
            return match &self.keytab {
                None => KerberosError::NoKeytab { detail },
                Some(_) => KerberosError::NoCredentials { principal: principal(), source_desc: source_desc(), detail },
            };
        }
        KerberosError::Gss { step, message: detail, major: e.major.bits(), minor: e.minor }
    }
}

/// Where getting a token failed.
struct Failure {
    step: &'static str,
    error: GssError,
}

/// libgssapi's rendering keeps the C strings' terminating NULs.
fn message(e: &GssError) -> String {
    e.to_string().replace('\0', "")
}

// MIT Kerberos com_err codes (krb5/krb5.h), as GSSAPI reports them in the minor status.
const fn krb5_code(code: i32) -> u32 {
    code as u32
}
const KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN: u32 = krb5_code(-1765328378);
const KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN: u32 = krb5_code(-1765328377);
const KRB5KDC_ERR_CLIENT_REVOKED: u32 = krb5_code(-1765328366);
const KRB5KDC_ERR_KEY_EXP: u32 = krb5_code(-1765328361);
const KRB5KDC_ERR_PREAUTH_FAILED: u32 = krb5_code(-1765328360);
const KRB5KRB_AP_ERR_BAD_INTEGRITY: u32 = krb5_code(-1765328353);
const KRB5_REALM_UNKNOWN: u32 = krb5_code(-1765328230);
const KRB5_KDC_UNREACH: u32 = krb5_code(-1765328228);
const KRB5_KT_BADNAME: u32 = krb5_code(-1765328205);
const KRB5_KT_NOTFOUND: u32 = krb5_code(-1765328203);
const KRB5_KT_IOERR: u32 = krb5_code(-1765328200);
const KRB5_PREAUTH_FAILED: u32 = krb5_code(-1765328174);
const KRB5_KEYTAB_BADVNO: u32 = krb5_code(-1765328171);
const KRB5_REALM_CANT_RESOLVE: u32 = krb5_code(-1765328164);
const KRB5_KT_KVNONOTFOUND: u32 = krb5_code(-1765328154);

/// `gss_acquire_cred_from` for the SPNEGO mechanism: credentials for `principal`
/// (a Kerberos principal name; `None` for the store's default) taken from the given
/// credential store instead of the process environment. Store keys are MIT's
/// (`client_keytab`, `ccache`, `keytab`, `rcache`, see gssapi(7) "credential store
/// extensions"); an empty store means the default credentials.
///
/// libgssapi 0.11 has no binding for this call, hence the FFI. The sandbox Koji
/// hub's acceptor uses it too (`keytab=<service keytab>`).
///
/// Asking for SPNEGO specifically matters: a credential without a SPNEGO element
/// makes MIT's SPNEGO fall back to the default credentials, i.e. the environment.
pub fn acquire_cred_from(
    principal: Option<&str>,
    usage: CredUsage,
    store: &[(&CStr, &CStr)],
) -> Result<Cred, GssError> {
    acquire(principal, usage, store, &GSS_MECH_SPNEGO)
}

fn acquire(
    principal: Option<&str>,
    usage: CredUsage,
    store: &[(&CStr, &CStr)],
    mech: &'static Oid<'static>,
) -> Result<Cred, GssError> {
    let failed = |major: u32, minor: u32| GssError { major: MajorFlags::from_bits_retain(major), minor };
    let mut minor: sys::OM_uint32 = 0;

    let name = match principal {
        None => NameHandle(ptr::null_mut()),
        Some(p) => {
            let mut buf = sys::gss_buffer_desc { length: p.len(), value: p.as_ptr() as *mut c_void };
            let mut name_type = oid_desc(&GSS_NT_KRB5_PRINCIPAL);
            let mut name: sys::gss_name_t = ptr::null_mut();
            // SAFETY: `buf` and `name_type` point to live, correctly sized data for the
            // whole call; gss_import_name only reads them (it copies the name) and
            // writes a new name handle to `name`, which NameHandle releases.
            let major = unsafe { sys::gss_import_name(&mut minor, &mut buf, &mut name_type, &mut name) };
            if major != sys::GSS_S_COMPLETE {
                return Err(failed(major, minor));
            }
            NameHandle(name)
        }
    };

    let mut mech = oid_desc(mech);
    let mut mechs = sys::gss_OID_set_desc { count: 1, elements: &mut mech };
    let mut elements: Vec<sys::gss_key_value_element_desc> =
        store.iter().map(|(k, v)| sys::gss_key_value_element_desc { key: k.as_ptr(), value: v.as_ptr() }).collect();
    let store_set =
        sys::gss_key_value_set_desc { count: elements.len() as sys::OM_uint32, elements: elements.as_mut_ptr() };
    let store_ptr: sys::gss_const_key_value_set_t = if elements.is_empty() { ptr::null() } else { &store_set };
    let usage = match usage {
        CredUsage::Initiate => sys::GSS_C_INITIATE,
        CredUsage::Accept => sys::GSS_C_ACCEPT,
        CredUsage::Both => sys::GSS_C_BOTH,
    } as sys::gss_cred_usage_t;
    let mut cred: sys::gss_cred_id_t = ptr::null_mut();
    // SAFETY: every pointer argument refers to locals (or the `store` CStrs the caller
    // borrows to us) that outlive the call, and the library copies what it keeps
    // (mechanism OIDs, store values). `cred` receives a new handle that we hand to
    // `Cred`, its only owner, which releases it on drop. Output parameters we do not
    // need are null, which the API allows.
    let major = unsafe {
        sys::gss_acquire_cred_from(
            &mut minor,
            name.0,
            sys::_GSS_C_INDEFINITE,
            &mut mechs,
            usage,
            store_ptr,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if major != sys::GSS_S_COMPLETE {
        return Err(failed(major, minor));
    }
    // SAFETY: the call succeeded, so `cred` is a fresh handle nobody else owns.
    Ok(unsafe { Cred::from_c(cred) })
}

/// Releases an imported name on every return path.
struct NameHandle(sys::gss_name_t);

impl Drop for NameHandle {
    fn drop(&mut self) {
        if !self.0.is_null() {
            let mut minor = 0;
            // SAFETY: the handle came from gss_import_name and is released once, here.
            unsafe { sys::gss_release_name(&mut minor, &mut self.0) };
        }
    }
}

/// A C descriptor for one of libgssapi's OIDs, whose bytes are `'static`.
fn oid_desc(oid: &'static Oid<'static>) -> sys::gss_OID_desc {
    let bytes: &'static [u8] = oid;
    sys::gss_OID_desc { length: bytes.len() as sys::OM_uint32, elements: bytes.as_ptr() as *mut c_void }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_keytab_is_reported_before_asking_kerberos() {
        let k = Kerberos { keytab: Some("/nonexistent/koji.keytab".into()), principal: None };
        let err = k.negotiate_token("koji.example.org").unwrap_err();
        assert!(matches!(err, KerberosError::KeytabUnreadable { .. }), "{err:?}");
        assert!(err.to_string().contains("/nonexistent/koji.keytab"), "{err}");
    }

    #[test]
    fn keytabs_and_principals_get_distinct_private_caches() {
        let a = Kerberos { keytab: Some("/a".into()), principal: None };
        let b = Kerberos { keytab: Some("/b".into()), principal: None };
        let a2 = Kerberos { keytab: Some("/a".into()), principal: Some("x@R".into()) };
        assert_ne!(a.private_ccache(), b.private_ccache());
        assert_ne!(a.private_ccache(), a2.private_ccache());
        assert_eq!(a.private_ccache(), a.clone().private_ccache());
        assert!(a.private_ccache().to_bytes().starts_with(b"MEMORY:"));
    }
}
