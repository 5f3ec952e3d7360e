//! The bridge as Fedora's RabbitMQ runs it: a user with exactly the permissions
//! fedora-infra/ansible's `rabbit/user` role grants (no configure permission; read
//! and write on `amq.topic` and on names starting with the user), and queues made
//! beforehand by an admin the way the playbook's `rabbit/queue` roles make them.
//! Messages flow, a body that is not JSON reaches the dead-letter queue, nothing
//! is refused and nothing is lost.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{Bridge, Broker, Names, Sink, bridge_env};
use fedmsg_bridge::config::DEFAULT_TOPIC_SUFFIXES;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};

const WAIT: Duration = Duration::from_secs(60);

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("rabbitmqctl (the RabbitMQ server's own tool, run as root): {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A RabbitMQ user made for one test run with `rabbitmqctl`, deleted at the end.
struct FedoraUser {
    name: String,
    password: String,
}

impl FedoraUser {
    /// fedora-infra/ansible roles/rabbit/user (with `user_publish_only: false`,
    /// as roles/rabbit/queue includes it): `configure_priv: "^$"`, read and write
    /// `^(amq\.topic)|(<user>.*)$`, topic permissions `.*` on `amq.topic`.
    fn create(vhost: &str) -> FedoraUser {
        let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        // Shaped like the staging user `fedora-ci.stg`.
        let user = FedoraUser { name: format!("fedora-ci-t{tag}.stg"), password: format!("pw-{tag}") };
        rabbitmqctl(&["add_user", &user.name, &user.password]);
        let own = format!("^(amq\\.topic)|({}.*)$", user.name);
        rabbitmqctl(&["set_permissions", "-p", vhost, &user.name, "^$", &own, &own]);
        rabbitmqctl(&["set_topic_permissions", "-p", vhost, &user.name, "amq.topic", ".*", ".*"]);
        user
    }

    fn url(&self, admin_url: &str) -> String {
        let mut u = url::Url::parse(admin_url).unwrap();
        u.set_username(&self.name).unwrap();
        u.set_password(Some(&self.password)).unwrap();
        u.to_string()
    }
}

impl Drop for FedoraUser {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl").args(["delete_user", &self.name]).output();
    }
}

/// What roles/rabbit/queue does as `admin`: a durable, not auto-deleted queue
/// without arguments (`queue_message_ttl` and `queue_max_priority` unset), bound
/// to `amq.topic` with each of `queue_routing_keys`.
async fn role_creates_queue(admin: &Connection, queue: &str, routing_keys: &[String]) {
    let ch = admin.create_channel().await.unwrap();
    let durable = QueueDeclareOptions { durable: true, auto_delete: false, ..Default::default() };
    ch.queue_declare(queue.into(), durable, FieldTable::default()).await.unwrap();
    for key in routing_keys {
        ch.queue_bind(
            queue.into(),
            "amq.topic".into(),
            key.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    let _ = ch.close(200, "done".into()).await;
}

fn vhost_of(url: &str) -> String {
    let path = url::Url::parse(url).unwrap().path().trim_start_matches('/').to_owned();
    if path.is_empty() { "/".to_owned() } else { urlencoding_decode(&path) }
}

fn urlencoding_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("v={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap()
}

#[tokio::test]
async fn on_fedora_permissions_messages_flow_and_dead_letters_land_with_nothing_refused() {
    let tag = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
    let admin_url = fedora_ci::dev::amqp::amqp_url().await.unwrap_or_else(|e| panic!("{e}"));
    let user = FedoraUser::create(&vhost_of(&admin_url));
    // The playbook's names: the queue is the user's name, the dead-letter queue
    // and its routing key start with it.
    let names = Names {
        prefix: format!("org.fedoraproject.t{tag}."),
        queue: user.name.clone(),
        dlq: format!("{}.dlq", user.name),
    };
    let broker = Broker::connect(&names).await;
    let admin = Connection::connect(&admin_url, ConnectionProperties::default()).await.unwrap();
    let topics: Vec<String> = DEFAULT_TOPIC_SUFFIXES.iter().map(|s| format!("{}{s}", names.prefix)).collect();
    role_creates_queue(&admin, &names.queue, &topics).await;
    role_creates_queue(&admin, &names.dlq, std::slice::from_ref(&names.dlq)).await;

    // The user really has Fedora's permissions: creating a queue and publishing
    // through the default exchange are refused (what the bridge used to do).
    let as_user = Connection::connect(&user.url(&admin_url), ConnectionProperties::default()).await.unwrap();
    let ch = as_user.create_channel().await.unwrap();
    let err = ch
        .queue_declare(
            format!("{}.new", user.name).as_str().into(),
            QueueDeclareOptions { durable: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("ACCESS_REFUSED"), "{err}");
    let ch = as_user.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default()).await.unwrap();
    let refused = async {
        ch.basic_publish(
            "".into(),
            names.dlq.as_str().into(),
            BasicPublishOptions::default(),
            b"x",
            BasicProperties::default(),
        )
        .await?
        .await
    };
    let err = refused.await.unwrap_err();
    assert!(err.to_string().contains("ACCESS_REFUSED"), "{err}");
    let _ = as_user.close(200, "done".into()).await;

    // The bridge as that user, with the cluster's default (passive) declaring.
    let sink = Sink::start().await;
    let mut env: Vec<(&'static str, String)> = bridge_env(&names, &user.url(&admin_url), &sink.url)
        .into_iter()
        .filter(|(k, _)| *k != "FEDMSG_BRIDGE_DECLARE")
        .collect();
    env.push(("FEDMSG_BRIDGE_DLQ", names.dlq.clone()));
    let bridge = Bridge::start(&env).await;

    let good: Vec<(String, String)> = (0..20)
        .map(|i| {
            let topic = if i % 2 == 0 { &topics[0] } else { &topics[4] };
            (topic.clone(), format!("good-{i}"))
        })
        .collect();
    for (i, (topic, id)) in good.iter().enumerate() {
        if i == 7 {
            broker.publish_raw(&topics[1], b"\x00not json", "bad-1").await;
        }
        broker.publish_raw(topic, br#"{"owner": "packit", "method": "build"}"#, id).await;
    }

    let received =
        sink.wait_for("every good message", WAIT, |r| good.iter().all(|(_, id)| r.iter().any(|e| e.id() == id))).await;
    assert_eq!(received.len(), good.len(), "each once, none refused or retried");
    assert!(received.iter().all(|r| r.accepted()));
    let dead = broker.take_within(&names.dlq, WAIT).await;
    assert_eq!(dead.delivery.data, b"\x00not json");
    assert_eq!(dead.delivery.properties.message_id().as_ref().map(|s| s.as_str()), Some("bad-1"));
    assert_eq!(dead.delivery.exchange.as_str(), "amq.topic", "through amq.topic, which the user may write");
    assert_eq!(dead.delivery.routing_key.as_str(), names.dlq, "under the user's own prefix");

    // Still connected (a refused operation closes the channel or connection and
    // the bridge would be reconnecting), and nothing left behind on the broker.
    let health = reqwest::get(bridge.url("/readyz")).await.unwrap();
    assert_eq!(health.status(), 200);
    bridge.stop().await;
    assert_eq!(broker.ready(&names.queue).await, 0, "every message acked");
    assert_eq!(broker.ready(&names.dlq).await, 0, "only the one dead letter");
    let _ = admin.close(200, "done".into()).await;
}
