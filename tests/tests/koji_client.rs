//! The Koji client against the sandbox hub, over real HTTP and real XML-RPC.

use std::sync::Arc;

use fedora_ci::clients::koji::client::{AUTH_ERROR_PREFIX, fault};
use fedora_ci::clients::koji::{Auth, BuildTarget, Fault, KojiClient, KojiError, Value};
use fedora_ci::messages::KojiTaskState;
use fedora_ci_tests::sandbox::koji::{KojiHub, accept_token};
use url::Url;

const TOKEN: &str = "c3BuZWdvLXRva2Vu";
const PRINCIPAL: &str = "packit@FEDORAPROJECT.ORG";
const SRC: &str = "git+https://src.fedoraproject.org/forks/alice/rpms/hello.git#0123456789abcdef";

fn client(hub: &KojiHub, auth: Auth) -> KojiClient {
    KojiClient::new(
        KojiClient::default_http().unwrap(),
        Url::parse(&hub.url()).unwrap(),
        Url::parse(&hub.web_url()).unwrap(),
        auth,
        Some("ci".to_owned()),
    )
}

async fn hub_and_client() -> (KojiHub, KojiClient) {
    let hub = KojiHub::start_with_verifier(accept_token(TOKEN, PRINCIPAL)).await;
    hub.add_channel("ci");
    let c = client(&hub, Auth::StaticToken(TOKEN.to_owned()));
    (hub, c)
}

/// `kojihub.make_task`: the requested channel must exist, be enabled and be one
/// the channel policy grants the user; the hub never makes a channel up.
#[tokio::test]
async fn a_channel_the_hub_refuses_is_its_fault_not_a_new_channel() {
    let hub = KojiHub::start_with_verifier(accept_token(TOKEN, PRINCIPAL)).await;
    let c = client(&hub, Auth::StaticToken(TOKEN.to_owned()));
    let refused = |r: Result<i64, KojiError>| match r {
        Err(KojiError::Fault { code, message }) => (code, message),
        other => panic!("expected a fault, got {other:?}"),
    };
    assert_eq!(refused(c.build(SRC, "rawhide", true, None).await), (fault::GENERIC, "No such channel: ci".into()));
    hub.add_channel("ci");
    hub.set_channel_enabled("ci", false);
    assert_eq!(refused(c.build(SRC, "rawhide", true, None).await), (fault::GENERIC, "Channel ci is disabled.".into()));
    hub.set_channel_enabled("ci", true);
    hub.restrict_channel("ci", &["kojira"]);
    assert_eq!(refused(c.build(SRC, "rawhide", true, None).await), (fault::GENERIC, "invalid channel policy".into()));
    assert!(hub.builds().is_empty(), "nothing was built");
    hub.restrict_channel("ci", &["packit"]);
    c.build(SRC, "rawhide", true, None).await.unwrap();
    assert_eq!(hub.builds()[0].channel.as_deref(), Some("ci"));
}

fn fault_code(r: Result<impl std::fmt::Debug, KojiError>) -> i64 {
    match r {
        Err(KojiError::Fault { code, .. }) => code,
        other => panic!("expected a fault, got {other:?}"),
    }
}

#[tokio::test]
async fn build_targets_are_read_anonymously() {
    let hub = KojiHub::start().await;
    let c = client(&hub, Auth::None);
    assert_eq!(
        c.get_build_target("f43-candidate").await.unwrap(),
        Some(BuildTarget {
            name: "f43-candidate".into(),
            build_tag_name: "f43-build".into(),
            dest_tag_name: "f43-updates-candidate".into(),
        })
    );
    assert_eq!(c.get_build_target("f7-candidate").await.unwrap(), None);
    let names: Vec<String> = c.get_build_targets().await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["rawhide", "eln", "f43-candidate", "epel10-candidate"]);
    assert_eq!(c.get_logged_in_user().await.unwrap(), None);
    let calls = hub.calls();
    assert_eq!(calls.len(), 4);
    assert!(calls.iter().all(|c| c.user.is_none() && c.session_id.is_none() && c.callnum.is_none()));
    assert_eq!(hub.challenges(), 0, "anonymous reads never attempt a login");
}

#[tokio::test]
async fn task_url_points_at_the_web_ui() {
    let hub = KojiHub::start().await;
    let c = client(&hub, Auth::None);
    assert_eq!(c.task_url(42), format!("{}/taskinfo?taskID=42", hub.web_url()));
    assert!(hub.calls().is_empty());
}

#[tokio::test]
async fn build_logs_in_lazily_with_negotiate_and_records_the_request() {
    let (hub, c) = hub_and_client().await;
    let first = c.build(SRC, "rawhide", true, None).await.unwrap();
    let second = c.build(SRC, "eln", false, Some(5)).await.unwrap();
    assert!(second > first);
    assert_eq!(hub.challenges(), 1, "one 401 challenge, then the token");
    assert_eq!(c.logged_in_as().as_deref(), Some("packit"));

    let builds = hub.builds();
    assert_eq!(builds.len(), 2);
    assert_eq!(builds[0].task_id, first);
    assert_eq!(
        builds[0].request,
        vec![Value::from(SRC), "rawhide".into(), Value::structure([("scratch", Value::Bool(true))])]
    );
    assert!(builds[0].scratch() && !builds[1].scratch());
    assert_eq!((builds[0].owner.as_str(), builds[0].channel.as_deref()), ("packit", Some("ci")));
    assert_eq!((builds[1].target(), builds[1].priority), ("eln", Some(5)));

    let calls = hub.calls();
    let methods: Vec<(&str, Option<&str>)> = calls.iter().map(|c| (c.method.as_str(), c.user.as_deref())).collect();
    assert_eq!(
        methods,
        [("sslLogin", None), ("getLoggedInUser", Some("packit")), ("build", Some("packit")), ("build", Some("packit"))]
    );
}

#[tokio::test]
async fn session_callnum_increases_per_call() {
    let (hub, c) = hub_and_client().await;
    assert_eq!(c.login().await.unwrap(), "packit");
    assert_eq!(c.get_logged_in_user().await.unwrap().as_deref(), Some("packit"));
    c.get_build_targets().await.unwrap();
    let callnums: Vec<Option<i64>> = hub.calls().iter().map(|c| c.callnum).collect();
    assert_eq!(callnums, [None, Some(0), Some(1), Some(2)], "sslLogin is sessionless, then 0, 1, 2");

    // Concurrent calls each get their own number; any that overtake one another are
    // refused by the hub as out of sequence and resent, so all succeed.
    let c = Arc::new(c);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.get_build_target("rawhide").await })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_some());
    }
    let nums: Vec<i64> = hub.calls().iter().filter_map(|c| c.callnum).collect();
    assert!(nums.windows(2).all(|w| w[0] < w[1]), "the hub saw strictly increasing call numbers: {nums:?}");
    assert_eq!(nums.len(), 11);
}

#[tokio::test]
async fn out_of_sequence_call_is_resent_once_with_a_new_number() {
    let (hub, c) = hub_and_client().await;
    c.login().await.unwrap();
    let sequence = || Fault { code: fault::SEQUENCE_ERROR, message: "5 > 1 (session 1)".into() };
    hub.fault_next(sequence());
    assert!(c.get_build_target("eln").await.unwrap().is_some());
    let nums: Vec<Option<i64>> = hub.calls().iter().map(|c| c.callnum).collect();
    assert_eq!(nums, [None, Some(0), Some(2)], "number 1 was refused, the resend got 2");

    // Anonymous calls have no sequence to repair: the fault is the answer.
    let anon = client(&hub, Auth::None);
    hub.fault_next(sequence());
    assert_eq!(fault_code(anon.get_build_targets().await), fault::SEQUENCE_ERROR);
    hub.fault_next(Fault { code: fault::SERVER_OFFLINE, message: "server is offline".into() });
    assert!(anon.get_build_targets().await.unwrap_err().is_transient());
}

#[tokio::test]
async fn task_info_for_many_tasks_is_one_multicall() {
    let (hub, c) = hub_and_client().await;
    let a = c.build(SRC, "rawhide", true, None).await.unwrap();
    let b = c.build(SRC, "eln", true, None).await.unwrap();
    hub.set_task_state(b, KojiTaskState::Open);
    let before = hub.calls().len();

    let anon = client(&hub, Auth::None);
    let infos = anon.get_task_info(&[a, 999, b]).await.unwrap();
    assert_eq!(infos.len(), 3);
    let (ia, ib) = (infos[0].as_ref().unwrap(), infos[2].as_ref().unwrap());
    assert!(infos[1].is_none(), "unknown task id is None");
    assert_eq!((ia.id, ia.state, ia.method.as_str(), ia.parent), (a, KojiTaskState::Free, "build", None));
    assert_eq!((ib.state, ib.start_time.is_some(), ib.completion_time), (KojiTaskState::Open, true, None));
    assert!(ia.create_time.unwrap() > 1.7e9);
    assert_eq!(ia.owner, 4641, "owner is the user id");

    let calls = &hub.calls()[before..];
    assert_eq!(calls.iter().filter(|c| !c.in_multicall).count(), 1);
    assert_eq!(calls[0].method, "multiCall");
    assert_eq!(calls.iter().filter(|c| c.in_multicall && c.method == "getTaskInfo").count(), 3);
    assert!(anon.get_task_info(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn task_children_appear_when_the_build_finishes() {
    let (hub, c) = hub_and_client().await;
    let ok = c.build(SRC, "rawhide", true, None).await.unwrap();
    let bad = c.build(SRC, "rawhide", true, None).await.unwrap();
    assert!(c.get_task_children(ok).await.unwrap().is_empty());
    hub.set_task_state(ok, KojiTaskState::Closed);
    hub.set_task_state(bad, KojiTaskState::Failed);

    let children = c.get_task_children(ok).await.unwrap();
    let arches: Vec<(&str, Option<&str>, KojiTaskState)> =
        children.iter().map(|t| (t.method.as_str(), t.arch.as_deref(), t.state)).collect();
    assert_eq!(
        arches,
        [
            ("buildSRPMFromSCM", Some("noarch"), KojiTaskState::Closed),
            ("buildArch", Some("x86_64"), KojiTaskState::Closed),
            ("buildArch", Some("aarch64"), KojiTaskState::Closed),
        ]
    );
    assert!(children.iter().all(|t| t.parent == Some(ok) && t.completion_time.is_some()));
    let failed: Vec<KojiTaskState> = c.get_task_children(bad).await.unwrap().iter().map(|t| t.state).collect();
    assert_eq!(failed, [KojiTaskState::Closed, KojiTaskState::Failed, KojiTaskState::Canceled]);
    let info = c.get_task_info(&[bad]).await.unwrap().remove(0).unwrap();
    assert_eq!(info.state, KojiTaskState::Failed);
}

#[tokio::test]
async fn cancel_task_needs_the_owners_session() {
    let (hub, c) = hub_and_client().await;
    let id = c.build(SRC, "rawhide", true, None).await.unwrap();
    let anon = client(&hub, Auth::None);
    assert_eq!(fault_code(anon.cancel_task(id).await), fault::ACTION_NOT_ALLOWED);
    assert_eq!(hub.task_state(id), Some(KojiTaskState::Free));
    c.cancel_task(id).await.unwrap();
    assert_eq!(hub.task_state(id), Some(KojiTaskState::Canceled));
}

#[tokio::test]
async fn build_without_login_is_a_fault() {
    let hub = KojiHub::start().await;
    let c = client(&hub, Auth::None);
    let err = c.build(SRC, "rawhide", true, None).await.unwrap_err();
    assert!(!err.is_transient());
    assert!(matches!(&err, KojiError::Fault { code, message }
        if *code == fault::ACTION_NOT_ALLOWED && message.contains("logged in")));
    assert!(hub.builds().is_empty());
    assert_eq!(hub.challenges(), 0);
}

#[tokio::test]
async fn rejected_or_missing_credentials_are_auth_errors_without_secrets() {
    let secret = "dG9wLXNlY3JldC10b2tlbg==";
    let hub = KojiHub::start_with_verifier(accept_token(TOKEN, PRINCIPAL)).await;
    let err = client(&hub, Auth::StaticToken(secret.to_owned())).login().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, KojiError::Auth(_)), "{err:?}");
    assert!(text.starts_with(AUTH_ERROR_PREFIX) && !text.contains(secret), "{text}");

    let err = client(&hub, Auth::None).login().await.unwrap_err();
    assert!(err.to_string().starts_with(AUTH_ERROR_PREFIX));

    // The default sandbox refuses every token; a build then fails before any call.
    let strict = KojiHub::start().await;
    let err = client(&strict, Auth::StaticToken(TOKEN.to_owned())).build(SRC, "rawhide", true, None).await;
    assert!(matches!(err, Err(KojiError::Auth(_))));
    assert!(strict.calls().is_empty() && strict.builds().is_empty());
    assert_eq!(strict.challenges(), 1);
}

#[tokio::test]
async fn expired_session_is_renewed_once_and_the_call_succeeds() {
    let (hub, c) = hub_and_client().await;
    c.login().await.unwrap();
    hub.expire_sessions();
    let id = c.build(SRC, "rawhide", true, None).await.unwrap();
    assert_eq!(hub.builds().len(), 1, "the refused call did not run; the resent one ran once");
    assert_eq!(hub.builds()[0].task_id, id);

    let calls = hub.calls();
    let methods: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(methods, ["sslLogin", "getLoggedInUser", "sslLogin", "getLoggedInUser", "build"]);
    let renew = &calls[2];
    assert_eq!(renew.params, vec![Value::kwargs([("renew", Value::Bool(true))])]);
    assert_eq!(renew.session_id, calls[1].session_id, "the same session is renewed");
    let nums: Vec<i64> = calls.iter().filter_map(|c| c.callnum).collect();
    assert!(nums.windows(2).all(|w| w[0] < w[1]), "call numbers keep increasing: {nums:?}");
    assert_eq!(hub.challenges(), 2);

    // Expiry on a read, too, and only one renewal per call.
    hub.expire_sessions();
    assert_eq!(c.get_logged_in_user().await.unwrap().as_deref(), Some("packit"));
}

#[tokio::test]
async fn faults_are_decoded() {
    let hub = KojiHub::start().await;
    let c = client(&hub, Auth::None);
    match c.call("noSuchMethod", &[]).await {
        Err(KojiError::Fault { code, message }) => {
            assert_eq!(code, fault::GENERIC);
            assert_eq!(message, "Invalid method: noSuchMethod");
        }
        other => panic!("{other:?}"),
    }
    let strict = c.call("getTaskInfo", &[Value::Int(1), Value::kwargs([("strict", Value::Bool(true))])]).await;
    assert_eq!(fault_code(strict), fault::GENERIC);
    let bad_kwarg = c.call("getBuildTargets", &[Value::kwargs([("bogus", Value::Nil)])]).await;
    assert_eq!(fault_code(bad_kwarg), fault::PARAMETER_ERROR);
}

#[tokio::test]
async fn nil_and_i8_cross_the_wire() {
    let (hub, c) = hub_and_client().await;
    hub.set_next_task_id(5_000_000_000);
    let id = c.build(SRC, "rawhide", true, None).await.unwrap();
    assert_eq!(id, 5_000_000_000);
    let info = c.get_task_info(&[id]).await.unwrap().remove(0).unwrap();
    assert_eq!((info.id, info.parent, info.host_id, info.start_time), (id, None, None, None));

    let raw = reqwest::Client::new()
        .post(hub.url())
        .header("Content-Type", "text/xml")
        .body(fedora_ci::clients::koji::xmlrpc::encode_call("getTaskInfo", &[Value::Int(id)]))
        .send()
        .await
        .unwrap();
    assert!(raw.headers().contains_key("Koji-Version"));
    let body = raw.text().await.unwrap();
    assert!(body.contains("<i8>5000000000</i8>") && body.contains("<nil/>"), "{body}");
}

#[tokio::test]
async fn hub_down_or_failing_is_transient() {
    let hub = KojiHub::start().await;
    let c = client(&hub, Auth::None);
    hub.set_down(true);
    let err = c.get_build_targets().await.unwrap_err();
    assert!(matches!(err, KojiError::Unreachable(_)) && err.is_transient(), "{err:?}");
    hub.set_down(false);
    hub.fail_next(1);
    assert!(c.get_task_info(&[1]).await.unwrap_err().is_transient());
    assert_eq!(c.get_task_info(&[1]).await.unwrap(), vec![None]);

    let free_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = KojiClient::new(
        KojiClient::default_http().unwrap(),
        Url::parse(&format!("http://127.0.0.1:{free_port}/kojihub")).unwrap(),
        Url::parse("http://127.0.0.1/koji").unwrap(),
        Auth::None,
        None,
    );
    let err = nowhere.get_build_targets().await.unwrap_err();
    assert!(matches!(err, KojiError::Unreachable(_)) && err.is_transient(), "{err:?}");
}
