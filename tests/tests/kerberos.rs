//! The Koji and FASJSON clients' Kerberos login against a real MIT KDC: tokens
//! from `fedora_ci::clients::kerberos` checked by the sandbox hub's acceptor, and
//! the FASJSON sandbox refusing what Fedora's FASJSON (mod_auth_gssapi) refuses.
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

/// The FASJSON sandbox is as strict as Fedora's (mod_auth_gssapi in front of
/// every `/v1/` path): no token, a valid ticket for another service, a replayed
/// or a made-up token all get 401 with `WWW-Authenticate: Negotiate` and FASJSON's
/// JSON body; the product's FASJSON client, logging in with the keytab, gets the
/// groups, and is refused (as an HTTP error, not as "no groups") when FASJSON
/// holds another service's keys.
#[test]
fn fasjson_answers_only_a_ticket_for_its_own_service() {
    in_realm(
        |_| Vec::new(),
        |realm| {
            use fedora_ci::clients::fasjson::{FasJsonClient, FasJsonError};
            use fedora_ci_tests::sandbox::fasjson::{FasJsonSandbox, UNAUTHORIZED};
            use reqwest::StatusCode;
            use serde_json::{Value, json};

            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async {
                let fas = FasJsonSandbox::start(Some(realm.service_keytab())).await;
                fas.set_groups("apackager", &["packager"]);
                // The service principal is HTTP/localhost, so FASJSON is reached by that name.
                let base = fas.url.replace("127.0.0.1", "localhost");
                let groups = format!("{base}/v1/users/apackager/groups/");
                let http = reqwest::Client::new();
                let get = |authorization: Option<String>| {
                    let mut request = http.get(&groups);
                    if let Some(a) = authorization {
                        request = request.header("Authorization", a);
                    }
                    async move {
                        let r = request.send().await.unwrap();
                        let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
                        (r.status(), challenge, r.json::<Value>().await.unwrap())
                    }
                };
                let refused =
                    (StatusCode::UNAUTHORIZED, Some("Negotiate".to_owned()), json!({ "message": UNAUTHORIZED }));
                let client = keytab(realm.client_keytab(), None);

                assert_eq!(get(None).await, refused, "anonymous");
                let elsewhere = client.negotiate_token(realm.elsewhere_host()).expect("a ticket for the other service");
                assert_eq!(get(Some(format!("Negotiate {elsewhere}"))).await, refused, "ticket for another service");
                assert_eq!(get(Some("Negotiate bm90IGEgdG9rZW4=".into())).await, refused, "not a token");
                assert_eq!(get(Some("Basic cGFja2l0LWNpOnNlY3JldA==".into())).await, refused, "not Negotiate");
                assert!(fas.logins().is_empty());

                // The right ticket gets in, once: a replay of it is refused.
                let token = client.negotiate_token("localhost").expect("a ticket for FASJSON");
                let (status, _, body) = get(Some(format!("Negotiate {token}"))).await;
                assert_eq!(status, StatusCode::OK, "{body}");
                assert_eq!(body["result"][0]["groupname"], "packager");
                assert_eq!(get(Some(format!("Negotiate {token}"))).await, refused, "replayed ticket");
                assert_eq!(fas.logins(), [realm.client_principal()]);
                let token = client.negotiate_token("localhost").expect("a ticket for FASJSON");
                let unknown = http
                    .get(format!("{base}/v1/users/nobody/groups/"))
                    .header("Authorization", format!("Negotiate {token}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
                assert_eq!(
                    unknown.json::<Value>().await.unwrap(),
                    json!({ "message": "User does not exist", "name": "nobody" })
                );

                // The product's client: groups with the keytab; without one, or when
                // FASJSON holds other keys, the 401 is an error, never "no groups".
                let product = |kerberos| FasJsonClient::new(http.clone(), base.parse().unwrap(), kerberos);
                let with_keytab = product(Some(keytab(realm.client_keytab(), None)));
                assert_eq!(with_keytab.user_groups("apackager").await.unwrap(), ["packager"]);
                assert!(matches!(product(None).user_groups("apackager").await, Err(FasJsonError::Http(401))));
                fas.accept_tickets_for(realm.elsewhere_keytab());
                assert!(matches!(with_keytab.user_groups("apackager").await, Err(FasJsonError::Http(401))));

                // No keytab at all (a harness outside a realm): nobody gets in.
                let closed = FasJsonSandbox::start(None).await;
                closed.set_groups("apackager", &["packager"]);
                let closed = FasJsonClient::new(
                    http.clone(),
                    closed.url.replace("127.0.0.1", "localhost").parse().unwrap(),
                    Some(keytab(realm.client_keytab(), None)),
                );
                assert!(matches!(closed.user_groups("apackager").await, Err(FasJsonError::Http(401))));
            });
        },
    );
}
