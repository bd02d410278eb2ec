#!/usr/bin/env bash
# Start the shared MLflow tracking server: PostgreSQL backend store, artifacts in S3,
# served through the tracking server (clients need no S3 credentials: mlflow-artifacts:/).
#
# Settings come from the environment, never from the command line (argv is visible to
# every user of the machine in `ps`):
#   MLFLOW_BACKEND_STORE_URI      required, e.g. postgresql+psycopg2://mlflow:PASSWORD@db:5432/mlflow
#                                 (MLflow 3.17 maps plain postgresql:// to psycopg 3)
#   MLFLOW_ARTIFACTS_DESTINATION  required, e.g. s3://my-bucket/mlflow
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (or an instance/pod role); MLFLOW_S3_ENDPOINT_URL
#                                 or AWS_ENDPOINT_URL for an S3 API other than AWS
#   MLFLOW_HOST   address to bind (default 127.0.0.1; 0.0.0.0 only behind a proxy/Service)
#   MLFLOW_PORT   default 5000;  MLFLOW_WORKERS  default 2;  MLFLOW  the mlflow executable
# Users (MLflow's basic-auth app: every request names a user, each experiment has per-user
# permissions, the user who creates an experiment gets MANAGE on it):
#   MLFLOW_AUTH                   basic (default) or none (a single-user server)
#   MLFLOW_AUTH_DATABASE_URI      required with basic: the users/permissions database, e.g.
#                                 postgresql+psycopg2://mlflow:PASSWORD@db:5432/mlflow_auth
#   MLFLOW_AUTH_ADMIN_USERNAME    default admin
#   MLFLOW_AUTH_ADMIN_PASSWORD    required on the first start (creates the admin); ignored after
#   MLFLOW_AUTH_DEFAULT_PERMISSION  what a user may do on another's experiment without a grant:
#                                 NO_PERMISSIONS (default), READ, USE, EDIT or MANAGE
#   MLFLOW_AUTH_CONFIG_DIR        where the generated auth config (mode 600) goes (default $TMPDIR)
#   MLFLOW_AUTH_CACHE_TTL_S       seconds a checked password is cached per worker (default 0:
#                                 every request hashes it, PBKDF2, tens of ms of server CPU)
#   MLFLOW_FLASK_SERVER_SECRET_KEY  signs the UI's CSRF tokens; random per start if unset (set
#                                 it, from a secret, when several servers share the users)
# Example (one machine):
#   export MLFLOW_BACKEND_STORE_URI=postgresql+psycopg2://mlflow:…@127.0.0.1:5432/mlflow
#   export MLFLOW_ARTIFACTS_DESTINATION=s3://ncsweep/mlflow
#   export MLFLOW_AUTH_DATABASE_URI=postgresql+psycopg2://mlflow:…@127.0.0.1:5432/mlflow_auth
#   export MLFLOW_AUTH_ADMIN_PASSWORD=…     # first start only
#   cluster/mlflow/serve.sh      # then: ncsweep sweep --tracking-uri http://127.0.0.1:5000
#   (each user: export MLFLOW_TRACKING_USERNAME=alice MLFLOW_TRACKING_PASSWORD=…)
set -euo pipefail

: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI (postgresql+psycopg2://user:password@host:port/db)}"
: "${MLFLOW_ARTIFACTS_DESTINATION:?set MLFLOW_ARTIFACTS_DESTINATION (s3://bucket/prefix)}"
case "$MLFLOW_ARTIFACTS_DESTINATION" in
  s3://*) ;;
  *) echo "MLFLOW_ARTIFACTS_DESTINATION must be s3://bucket/prefix, got: $MLFLOW_ARTIFACTS_DESTINATION" >&2; exit 2 ;;
esac
export MLFLOW_BACKEND_STORE_URI MLFLOW_ARTIFACTS_DESTINATION

app=()
case "${MLFLOW_AUTH:-basic}" in
  none) ;;
  basic)
    : "${MLFLOW_AUTH_DATABASE_URI:?set MLFLOW_AUTH_DATABASE_URI (the users and permissions database), or MLFLOW_AUTH=none for a server without users}"
    permission="${MLFLOW_AUTH_DEFAULT_PERMISSION:-NO_PERMISSIONS}"
    case "$permission" in
      NO_PERMISSIONS|READ|USE|EDIT|MANAGE) ;;
      *) echo "MLFLOW_AUTH_DEFAULT_PERMISSION must be NO_PERMISSIONS, READ, USE, EDIT or MANAGE, got: $permission" >&2; exit 2 ;;
    esac
    # MLflow reads the auth database only from its config file (no environment variable):
    # write one that only this user can read. '%' is configparser's interpolation sign.
    conf_dir="${MLFLOW_AUTH_CONFIG_DIR:-${TMPDIR:-/tmp}}"
    conf="$(umask 077 && mktemp "$conf_dir/mlflow-auth.XXXXXX")"
    cat >"$conf" <<INI
[mlflow]
default_permission = $permission
database_uri = ${MLFLOW_AUTH_DATABASE_URI//%/%%}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = ${MLFLOW_AUTH_CACHE_TTL_S:-0}
INI
    export MLFLOW_AUTH_CONFIG_PATH="$conf"
    if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
      MLFLOW_FLASK_SERVER_SECRET_KEY="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
      export MLFLOW_FLASK_SERVER_SECRET_KEY
    fi
    app=(--app-name basic-auth)
    ;;
  *) echo "MLFLOW_AUTH must be basic or none, got: $MLFLOW_AUTH" >&2; exit 2 ;;
esac

# Nothing calls home; the background job runner (extra processes) is not needed for tracking.
export MLFLOW_DISABLE_TELEMETRY="${MLFLOW_DISABLE_TELEMETRY:-true}"
export DO_NOT_TRACK="${DO_NOT_TRACK:-1}"
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
# Database connections per worker: SQLAlchemy's default (5 + 10 overflow) answered 64 trials
# starting at once with "QueuePool limit ... reached" as HTTP 400, which clients do not retry
# (tests/bench/bench_mlflow_load.py lost 14 of 64 trials). 2 workers x 40 stay under
# PostgreSQL's default max_connections (100).
export MLFLOW_SQLALCHEMYSTORE_POOL_SIZE="${MLFLOW_SQLALCHEMYSTORE_POOL_SIZE:-20}"
export MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW="${MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW:-20}"

exec "${MLFLOW:-mlflow}" server \
  "${app[@]}" \
  --serve-artifacts \
  --host "${MLFLOW_HOST:-127.0.0.1}" \
  --port "${MLFLOW_PORT:-5000}" \
  --workers "${MLFLOW_WORKERS:-2}"
