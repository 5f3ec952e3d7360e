//! The Koji client's Kerberos login against a real MIT KDC: tokens from
//! `fedora_ci::clients::kerberos` checked by the sandbox hub's acceptor.
//!
//! Each test starts its own throwaway realm and runs its checks in a re-executed
//! copy of this binary whose environment names the realm; see
//! `fedora_ci_tests::realm` for why the environment is never changed in-process.
//! Without the MIT KDC tools the tests fail, naming `scripts/deps.sh`.

use std::path::Path;

use fedora_ci::clients::kerberos::{Kerberos, KerberosError};
use fedora_ci_tests::realm::{TestRealm, in_realm};
use fedora_ci_tests::sandbox::spnego;

fn keytab(path: impl AsRef<Path>, principal: Option<&str>) -> Kerberos {
    Kerberos { keytab: Some(path.as_ref().to_path_buf()), principal: principal.map(str::to_string) }
}

/// Fails if `err` (Display or Debug) carries any key of `keytabs`, whole or in part,
/// as hex, base64 or raw bytes.
fn assert_no_key_material(realm: &TestRealm, err: &KerberosError, keytabs: &[&Path]) {
    use base64::{Engine as _, engine::general_purpose::STANDARD};
    let text = format!("{err} {err:?}");
    let lower = text.to_ascii_lowercase();
    for keytab in keytabs {
        for key in realm.keytab_keys(keytab).expect("reading the keys back") {
            assert!(key.len() >= 16, "klist gave a short key: {key:?}");
            assert!(!lower.contains(&hex(&key)), "key of {} (hex) in: {text}", keytab.display());
            assert!(!text.contains(&STANDARD.encode(&key)), "key of {} (base64) in: {text}", keytab.display());
            for part in key.windows(8) {
                assert!(!lower.contains(&hex(part)), "part of a key of {} (hex) in: {text}", keytab.display());
                assert!(
                    !text.as_bytes().windows(8).any(|w| w == part),
                    "raw key bytes of {} in: {text}",
                    keytab.display()
                );
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn client_keytab_token_is_accepted_as_its_principal() {
    // The default client keytab names a file that does not exist, so only the
    // keytab handed to `Kerberos` can make these logins work.
    in_realm(
        |r| vec![("KRB5_CLIENT_KTNAME", r.dir().join("absent.keytab").into())],
        |realm| {
            let client = keytab(realm.client_keytab(), None);
            let token = client.negotiate_token("localhost").expect("token from the client keytab");
            assert_eq!(spnego::accept(&token, &realm.service_keytab()), Ok(realm.client_principal().to_string()));
            let replay = spnego::accept(&token, &realm.service_keytab()).expect_err("a replayed token was accepted");
            assert!(replay.contains("replay"), "{replay}");

            // Naming the principal, and a second login reusing the cached TGT.
            let named = keytab(realm.client_keytab(), Some(realm.client_principal()));
            for _ in 0..2 {
                let token = named.negotiate_token("localhost").expect("token for the named principal");
                assert_eq!(spnego::accept(&token, &realm.service_keytab()), Ok(realm.client_principal().to_string()));
            }

            // A good token for another service host: the hub's keytab cannot take it.
            let token = client.negotiate_token(realm.elsewhere_host()).expect("token for the other host");
            assert_eq!(
                spnego::accept(&token, &realm.elsewhere_keytab()),
                Ok(realm.client_principal().to_string()),
                "the token itself is valid for its own service"
            );
            let refused =
                spnego::accept(&token, &realm.service_keytab()).expect_err("accepted a token for another host");
            assert!(refused.contains("elsewhere"), "reason should name the service the token was for: {refused}");

            // Garbage is refused, not mistaken for a login.
            assert!(spnego::accept("bm90IGEgdG9rZW4=", &realm.service_keytab()).is_err());
            assert!(spnego::accept("%%%", &realm.service_keytab()).is_err());
            let token = client.negotiate_token("localhost").expect("token");
            let missing = realm.dir().join("absent-service.keytab");
            assert!(spnego::accept(&token, &missing).is_err(), "accepted without the service keys");
        },
    );
}

#[test]
fn wrong_or_missing_keytab_gives_a_clear_error_without_key_material() {
    in_realm(
        |_| vec![],
        |realm| {
            // Keys the KDC no longer has (the principal was re-keyed after export).
            let err = keytab(realm.other_keytab(), None).negotiate_token("localhost").expect_err("stale keytab worked");
            eprintln!("stale keytab: {err}\n{err:?}");
            assert!(matches!(err, KerberosError::NoCredentials { .. }), "{err:?}");
            let text = err.to_string();
            assert!(text.contains(&realm.other_keytab().display().to_string()), "names the keytab: {text}");
            assert!(text.contains("Preauthentication failed"), "says the KDC refused the key: {text}");
            assert_no_key_material(realm, &err, &[&realm.other_keytab(), &realm.client_keytab()]);
            let err = keytab(realm.other_keytab(), Some(realm.other_principal()))
                .negotiate_token("localhost")
                .expect_err("stale keytab worked");
            assert!(matches!(err, KerberosError::NoCredentials { .. }), "{err:?}");
            assert!(err.to_string().contains(realm.other_principal()), "names the principal: {err}");
            assert_no_key_material(realm, &err, &[&realm.other_keytab()]);

            // A principal the keytab has no keys for.
            let err = keytab(realm.client_keytab(), Some("someone-else@TEST.LOCAL"))
                .negotiate_token("localhost")
                .expect_err("a principal without keys worked");
            eprintln!("principal not in keytab: {err}\n{err:?}");
            assert!(matches!(err, KerberosError::NoCredentials { .. }), "{err:?}");
            assert!(err.to_string().contains("someone-else@TEST.LOCAL"), "names the principal: {err}");
            assert_no_key_material(realm, &err, &[&realm.client_keytab()]);

            // No such file, or not a file.
            let absent = realm.dir().join("no-such.keytab");
            let err = keytab(&absent, None).negotiate_token("localhost").expect_err("absent keytab worked");
            assert!(matches!(err, KerberosError::KeytabUnreadable { .. }), "{err:?}");
            assert!(err.to_string().contains(&absent.display().to_string()), "names the path: {err}");
            let err = keytab(realm.dir(), None).negotiate_token("localhost").expect_err("a directory worked");
            assert!(matches!(err, KerberosError::KeytabUnreadable { .. }), "{err:?}");

            // A service the KDC does not know.
            let err = keytab(realm.client_keytab(), None).negotiate_token("nowhere").expect_err("unknown service");
            eprintln!("unknown service: {err}\n{err:?}");
            assert!(matches!(err, KerberosError::UnknownService { .. }), "{err:?}");

            // No keytab and nothing in the environment.
            let err = Kerberos { keytab: None, principal: None }.negotiate_token("localhost").expect_err("no creds");
            eprintln!("no default credentials: {err}\n{err:?}");
            assert!(matches!(err, KerberosError::NoKeytab { .. }), "{err:?}");
        },
    );
}

#[test]
fn without_a_keytab_the_default_credentials_are_used() {
    in_realm(
        |r| vec![("KRB5_CLIENT_KTNAME", r.client_keytab().into()), ("KRB5CCNAME", "MEMORY:default-creds-test".into())],
        |realm| {
            let token = Kerberos { keytab: None, principal: None }
                .negotiate_token("localhost")
                .expect("token from KRB5_CLIENT_KTNAME");
            assert_eq!(spnego::accept(&token, &realm.service_keytab()), Ok(realm.client_principal().to_string()));
        },
    );
}

#[test]
fn an_unreachable_kdc_is_reported_as_such() {
    in_realm(
        |r| vec![("KRB5_CONFIG", r.krb5_config_unreachable_kdc().into())],
        |realm| {
            let err =
                keytab(realm.client_keytab(), None).negotiate_token("localhost").expect_err("no KDC, yet a token");
            eprintln!("unreachable KDC: {err}\n{err:?}");
            assert!(matches!(err, KerberosError::KdcUnreachable { .. }), "{err:?}");
        },
    );
}

/// The whole login as pr-opened does it: the real Koji client with a keytab, the
/// sandbox hub's `/ssllogin` checking the SPNEGO token with the real acceptor, then
/// an authenticated `build`. A stale keytab ends in a clear Kerberos error.
#[test]
fn koji_client_logs_in_to_the_hub_with_the_keytab() {
    in_realm(
        |_| vec![],
        |realm| {
            use fedora_ci::clients::koji::client::{Auth, KojiClient, KojiError};
            use fedora_ci_tests::sandbox::koji::KojiHub;

            let service_keytab = realm.service_keytab();
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let verifier: fedora_ci_tests::sandbox::koji::Verifier =
                    std::sync::Arc::new(move |token: &str| spnego::accept(token, &service_keytab));
                let hub = KojiHub::start_with_verifier(verifier).await;
                // The service principal is HTTP/localhost, so reach the hub by that name.
                let hub_url = hub.url().replace("127.0.0.1", "localhost").parse().unwrap();
                let web_url = hub.web_url().parse().unwrap();
                let http = reqwest::Client::new();
                let client = KojiClient::new(
                    http.clone(),
                    hub_url,
                    web_url,
                    Auth::Kerberos(keytab(realm.client_keytab(), None)),
                    None,
                );
                let task = client.build("git+https://src.example/rpms/hello.git#abc", "rawhide", true, None).await;
                let task = task.expect("authenticated build");
                let builds = hub.builds();
                assert_eq!(builds.len(), 1);
                assert_eq!(builds[0].task_id, task);
                assert_eq!(builds[0].owner, "packit-ci", "the hub saw the keytab's principal");
                assert_eq!(client.get_logged_in_user().await.unwrap().as_deref(), Some("packit-ci"));

                let stale = KojiClient::new(
                    http,
                    hub.url().replace("127.0.0.1", "localhost").parse().unwrap(),
                    hub.web_url().parse().unwrap(),
                    Auth::Kerberos(keytab(realm.other_keytab(), None)),
                    None,
                );
                let err = stale.build("git+https://src.example/rpms/hello.git#abc", "rawhide", true, None).await;
                match err {
                    Err(KojiError::Auth(message)) => {
                        assert!(message.starts_with("Kerberos authentication error: "), "{message}");
                        assert!(message.contains("Preauthentication failed"), "{message}");
                    }
                    other => panic!("expected a Kerberos error, got {other:?}"),
                }
                assert_eq!(hub.builds().len(), 1, "no build without a login");
            });
        },
    );
}

