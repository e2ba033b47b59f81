#!/bin/sh
# The node's configuration, from the environment: the first user of an empty node
# (RabbitMQ creates it only when its database is new, so a restart keeps the old one), and
# that user may connect from other containers. Then run the server in the foreground,
# logging to stdout (RABBITMQ_LOGS=-) and stopping cleanly on SIGTERM.
set -eu
: "${RABBITMQ_DEFAULT_USER:?RABBITMQ_DEFAULT_USER is not set}" "${RABBITMQ_DEFAULT_PASS:?RABBITMQ_DEFAULT_PASS is not set}"
umask 077
cat > "$RABBITMQ_CONFIG_FILE" <<CONF
default_user = $RABBITMQ_DEFAULT_USER
default_pass = $RABBITMQ_DEFAULT_PASS
loopback_users = none
CONF
# The server script itself, not Debian's /usr/sbin wrapper: that one sends the log to a file
# and, as process 1, ignores the SIGTERM of `docker stop` (then killed: unflushed messages lost).
exec /usr/lib/rabbitmq/bin/rabbitmq-server "$@"
