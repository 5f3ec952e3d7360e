"""Publishes messages with the real fedora-messaging library, so the bridge tests
see exactly the properties and headers the Fedora network carries.

Reads a JSON object on stdin:
    {"amqp_url": "...", "messages": [{"topic": "...", "body": {...}, "headers": {...}}, ...]}
(`headers` is optional: extra headers, like the fedora_messaging_user_* ones a
schema class would add). Prints one JSON line per published message,
{"id": <message id>, "topic": <topic>}, in order. Runs in the virtualenv that
scripts/fedora-messaging-venv.sh creates.
"""

import json
import os
import sys
import tempfile


def config_toml(amqp_url):
    # fedora-messaging logs to stdout by default; stdout carries our answer.
    return f"""
amqp_url = {json.dumps(amqp_url)}
publish_exchange = "amq.topic"
topic_prefix = ""

[client_properties]
app = "fedmsg-bridge tests"

[log_config]
version = 1
disable_existing_loggers = false

[log_config.handlers.stderr]
class = "logging.StreamHandler"
stream = "ext://sys.stderr"

[log_config.root]
level = "WARNING"
handlers = ["stderr"]
"""


def main():
    spec = json.load(sys.stdin)
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as conf:
        conf.write(config_toml(spec["amqp_url"]))
    os.environ["FEDORA_MESSAGING_CONF"] = conf.name
    try:
        from fedora_messaging import api, message

        for item in spec["messages"]:
            msg = message.Message(topic=item["topic"], body=item["body"], headers=item.get("headers"))
            api.publish(msg)
            print(json.dumps({"id": msg.id, "topic": msg.topic}), flush=True)
    finally:
        os.unlink(conf.name)


if __name__ == "__main__":
    main()
